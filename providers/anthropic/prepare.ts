/**
 * `NormalizedRequest` → the Messages API HTTP request. Runs once per attempt, so the body is built directly in one
 * pass over the messages and serialised once; a plain user or assistant turn with string content becomes
 * `{ role, content }` without any block array.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolSpec, WireRequest } from '../../src/types.js';
import { assignProviderOptions } from '../shared/provider-options.js';
import { shown, unsupportedOption } from '../shared/request-errors.js';
import type {
  AnthropicBlockParam,
  AnthropicCacheControl,
  AnthropicDocumentBlockParam,
  AnthropicImageBlockParam,
  AnthropicMessageParam,
  AnthropicMessagesBody,
  AnthropicTextBlockParam,
  AnthropicTool,
  AnthropicToolChoice,
} from './wire.js';

/** The `anthropic-version` header this adapter speaks (the only stable Messages API version). */
export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * `max_tokens` sent when the request sets no `maxTokens`. The Messages API requires the field (there is no
 * server-side default), so the adapter must pick one: 4096 is the largest output every Claude model still served
 * accepts (the Claude 3 Haiku cap), so the default never turns a valid request into a 400, and it is the value
 * the official SDKs' examples and the Vercel AI SDK use. Raise it per call with `maxTokens`, or per adapter with
 * `anthropic({ defaultMaxTokens })`.
 */
export const DEFAULT_MAX_TOKENS = 4096;

/**
 * Thinking budgets (`thinking.budget_tokens`) for `reasoning.effort` when no `reasoning.budgetTokens` is given.
 * 1024 is the API's minimum budget; the others double up to a budget that fits every thinking model's output cap.
 */
const THINKING_BUDGET: Readonly<Record<string, number>> = Object.freeze({ minimal: 1024, low: 2048, medium: 8192, high: 16384 });

/** The API's smallest `thinking.budget_tokens` (Extended thinking: "minimum budget is 1,024 tokens"). */
export const MIN_THINKING_BUDGET = 1024;

/**
 * Models without extended thinking (it arrived with Claude 3.7 Sonnet): Claude 3 / 3.5 and older. Names that do
 * not start with `claude-` (cloud-platform ids, aliases of a proxy) are not judged.
 */
const NO_THINKING = /^claude-(?:instant|2|3-(?:haiku|sonnet|opus|5))/;

/**
 * Most base64 bytes of documents (and images) one request may carry: the Messages API caps the whole request at
 * 32 MB ("Maximum request size: 32 MB", https://docs.anthropic.com/en/docs/build-with-claude/pdf-support, which
 * also says the limit covers everything sent alongside the PDFs). Base64 is what travels, so its length is what
 * counts; MB read as MiB so the check never refuses what the API takes.
 */
export const ANTHROPIC_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** Per-adapter settings of `prepareMessages`, fixed when the adapter is created. */
export interface AnthropicPrepareConfig {
  /** Provider name used in error messages. */
  name: string;
  /** `anthropic-version` header value. */
  version: string;
  /** `max_tokens` when the request sets none. */
  defaultMaxTokens: number;
}

const DEFAULT_CONFIG: AnthropicPrepareConfig = Object.freeze({ name: 'anthropic', version: ANTHROPIC_VERSION, defaultMaxTokens: DEFAULT_MAX_TOKENS });
/** Tools without `parameters` take no arguments; the API requires an `input_schema` anyway. */
const EMPTY_SCHEMA: Record<string, unknown> = Object.freeze({ type: 'object', properties: Object.freeze({}) });
const CHOICE_AUTO: AnthropicToolChoice = Object.freeze({ type: 'auto' });
const CHOICE_ANY: AnthropicToolChoice = Object.freeze({ type: 'any' });
const CHOICE_NONE: AnthropicToolChoice = Object.freeze({ type: 'none' });

/**
 * Build the `POST {baseUrl}/v1/messages` request for a normalized request.
 *
 * - Headers: `content-type`, `x-api-key` (only when a key is set), `anthropic-version`, then the provider's
 *   headers, then the call's headers.
 * - `system` messages are hoisted to the top-level `system` (a string for one text, text blocks for several).
 * - Tool results become `tool_result` blocks in a user turn; assistant tool calls become `tool_use` blocks; an
 *   assistant turn's `providerData.anthropic.blocks` (thinking blocks with their signature) are sent back verbatim,
 *   before its text. Consecutive turns of the same wire role are merged, as the API requires alternation.
 * - `max_tokens` is `maxTokens`, else `config.defaultMaxTokens` (see `DEFAULT_MAX_TOKENS`) plus the thinking
 *   budget when thinking is on (the budget is part of `max_tokens`).
 * - `reasoning` → extended thinking (`thinking: { type: 'enabled', budget_tokens }`), see `thinkingBudget`. With
 *   thinking on, `temperature` is not sent: the API accepts no temperature change with extended thinking ("Thinking
 *   isn't compatible with temperature or top_k modifications", Extended thinking guide), so sending the caller's
 *   value would turn a valid call into a 400; the model runs at its default. `summary` has no effect: Claude always
 *   returns its thinking text (summarized on Claude 4 models).
 * - `promptCache` → `cache_control` breakpoints, see `placeCacheBreakpoints`.
 * - Files: a `file` part is a `document` block (PDF as base64, or a PDF URL the API fetches; `text/plain` data as
 *   a text source). Base64 payloads of documents and images may not pass `ANTHROPIC_MAX_REQUEST_BYTES` in total.
 *   Anthropic takes no audio input: an `audio` part throws.
 * - `seed` is not sent: the Messages API has no seed.
 * - `req.providerOptions` are merged into the body last (shallow), so they can set any wire field this adapter
 *   does not know (`top_k`, `metadata`, `thinking`, …); `__proto__`, `constructor` and `prototype` keys are skipped.
 *
 * Throws `BadRequestError` before sending, naming the model and the option or part: code
 * `unsupported_content_part` for a part the API cannot take (audio; images outside user turns and tool results;
 * documents outside user turns; a file that is not a PDF or plain text), `content_too_large` past the request
 * size limit, `unsupported_option` for a reasoning setting the API would reject (see `thinkingBudget`).
 *
 * @param config - name, `anthropic-version` and default `max_tokens`, fixed per adapter
 * @default config { name: 'anthropic', version: '2023-06-01', defaultMaxTokens: 4096 }
 * @example
 * const wire = prepareMessages({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }], stream: false },
 *   { apiKey: process.env.ANTHROPIC_API_KEY, baseUrl: 'https://api.anthropic.com', headers: {} });
 */
export function prepareMessages(req: NormalizedRequest, env: ProviderEnv, config: AnthropicPrepareConfig = DEFAULT_CONFIG): WireRequest {
  const budget = thinkingBudget(req, env, config.name);
  const mapper = new MessageMapper(req.model, config.name);
  const messages = mapper.map(req.messages);

  const body: AnthropicMessagesBody = {
    model: req.model,
    max_tokens: req.maxTokens ?? config.defaultMaxTokens + (budget ?? 0),
    messages,
  };
  if (mapper.system !== undefined) body.system = mapper.system;
  // With thinking on, temperature is left out: see the function comment.
  if (req.temperature !== undefined && budget === undefined) body.temperature = req.temperature;
  if (req.stop !== undefined && req.stop.length > 0) body.stop_sequences = req.stop;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.tool_choice = mapToolChoice(req.toolChoice);
  if (budget !== undefined) body.thinking = { type: 'enabled', budget_tokens: budget };
  const cache = cacheControl(req.promptCache);
  if (cache !== undefined) placeCacheBreakpoints(body, cache);
  if (req.stream) body.stream = true;
  assignProviderOptions(body, req.providerOptions);

  const headers: Record<string, string> = env.apiKey
    ? { 'content-type': 'application/json', 'x-api-key': env.apiKey, 'anthropic-version': config.version }
    : { 'content-type': 'application/json', 'anthropic-version': config.version };
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  return { method: 'POST', url: env.baseUrl + '/v1/messages', headers, body: JSON.stringify(body) };
}

/**
 * The extended-thinking budget for a request, or undefined when thinking stays off. Anthropic counts thinking in
 * tokens, so `budgetTokens` is used as it is and an `effort` becomes a budget through `THINKING_BUDGET`
 * (`minimal` 1024, `low` 2048, `medium` 8192, `high` 16384); `effort: 'none'` keeps thinking off whatever the
 * budget; `summary` alone does not turn it on.
 *
 * Throws `BadRequestError` (code `unsupported_option`) before sending, naming the model and the option, for what
 * the API would reject:
 * - a model without extended thinking (`NO_THINKING`: Claude 3.5 and older);
 * - a budget under 1024 (`MIN_THINKING_BUDGET`);
 * - a budget not below `maxTokens` (thinking tokens count against `max_tokens`), unless an `anthropic-beta` header
 *   turns on interleaved thinking, where the budget may exceed it. Without `maxTokens` the adapter sends
 *   `defaultMaxTokens + budget`, which always fits;
 * - `toolChoice` `'required'` or a named tool: "tool_choice: any / tool" cannot force tool use with thinking.
 */
export function thinkingBudget(req: NormalizedRequest, env: ProviderEnv, name: string): number | undefined {
  const r = req.reasoning;
  if (r === undefined || r.effort === 'none') return undefined;
  const budget = r.budgetTokens ?? (r.effort !== undefined ? THINKING_BUDGET[r.effort] : undefined);
  if (budget === undefined) return undefined;
  const option = r.budgetTokens !== undefined ? 'reasoning.budgetTokens' : `reasoning.effort '${r.effort}'`;
  const model = req.model;
  if (NO_THINKING.test(model)) {
    throw unsupportedOption(name, model, option, 'this model has no extended thinking (Claude 3.7 Sonnet and Claude 4 models have it)');
  }
  if (budget < MIN_THINKING_BUDGET) {
    throw unsupportedOption(name, model, option, `the thinking budget (${budget}) must be at least ${MIN_THINKING_BUDGET} tokens`);
  }
  if (req.maxTokens !== undefined && budget >= req.maxTokens && !interleaved(env, req)) {
    throw unsupportedOption(name, model, option, `the thinking budget (${budget}) must be below maxTokens (${req.maxTokens}): thinking tokens count against max_tokens`);
  }
  const choice = req.toolChoice;
  if (choice !== undefined && choice !== 'auto' && choice !== 'none') {
    const shown = choice === 'required' ? "toolChoice 'required'" : 'a named toolChoice';
    throw unsupportedOption(name, model, option, `extended thinking cannot be combined with ${shown}; Anthropic allows only 'auto' or 'none' with thinking`);
  }
  return budget;
}

/** True when an `anthropic-beta` header (adapter or call) turns on interleaved thinking. */
function interleaved(env: ProviderEnv, req: NormalizedRequest): boolean {
  return betaHas(env.headers, 'interleaved-thinking') || (req.headers !== undefined && betaHas(req.headers, 'interleaved-thinking'));
}

function betaHas(headers: Record<string, string>, feature: string): boolean {
  for (const key in headers) {
    if (key.toLowerCase() === 'anthropic-beta' && headers[key]!.includes(feature)) return true;
  }
  return false;
}

/** `promptCache` → the `cache_control` value of every breakpoint, or undefined for none (`'off'`, absent). */
function cacheControl(promptCache: NormalizedRequest['promptCache']): AnthropicCacheControl | undefined {
  if (promptCache === undefined || promptCache === 'off') return undefined;
  if (promptCache === 'auto') return { type: 'ephemeral' };
  return { type: 'ephemeral', ttl: promptCache.ttl };
}

/**
 * Place the prompt-cache breakpoints of `promptCache: 'auto'` (or `{ ttl }`, which sets their TTL). The API caches
 * the prompt prefix up to a block carrying `cache_control`, in the order tools → system → messages, allows at
 * most 4 breakpoints per request, and on later requests finds a cached prefix at a breakpoint or up to 20 blocks
 * before it (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching). The rule, at most 3 breakpoints:
 *
 * 1. the last tool definition (caches every tool);
 * 2. the last system block (caches tools + system; a string system prompt becomes one text block);
 * 3. the last content block of the second-to-last user turn (wire `user` turns, tool results included): the last
 *    stable turn. Everything up to it was already sent by the previous call of the conversation (which marked the
 *    turn before), so this call reads that prefix from the cache and writes the one turn appended since; a tool
 *    loop appends a few blocks per step, well inside the 20-block lookback.
 *
 * The last user turn itself is not marked: it is new in this call, and writing it to the cache costs 1.25x (5m) or
 * 2x (1h) its input price, which a one-shot call never earns back. A part that does not exist (no tools, no
 * system prompt, a single user turn) takes no breakpoint. Prefixes shorter than the model's minimum cacheable
 * length (1024-4096 tokens) are simply not cached by the API; nothing fails. Every breakpoint has the same TTL, so
 * the API's rule that longer TTLs come first always holds. Blocks are copied, never mutated in place.
 */
function placeCacheBreakpoints(body: AnthropicMessagesBody, cache: AnthropicCacheControl): void {
  const tools = body.tools;
  if (tools !== undefined && tools.length > 0) tools[tools.length - 1] = { ...tools[tools.length - 1]!, cache_control: cache };

  const system = body.system;
  if (typeof system === 'string') {
    if (system !== '') body.system = [{ type: 'text', text: system, cache_control: cache }];
  } else if (system !== undefined && system.length > 0) {
    system[system.length - 1] = { ...system[system.length - 1]!, cache_control: cache };
  }

  const messages = body.messages;
  let userTurns = 0;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user' || ++userTurns < 2) continue;
    const content = m.content;
    if (typeof content === 'string') {
      if (content !== '') m.content = [{ type: 'text', text: content, cache_control: cache }];
    } else if (content.length > 0) {
      content[content.length - 1] = { ...content[content.length - 1]!, cache_control: cache } as AnthropicBlockParam;
    }
    return;
  }
}

/** One pass over the messages: hoists system text, maps the rest, merges consecutive same-role turns. */
class MessageMapper {
  system: string | AnthropicTextBlockParam[] | undefined = undefined;
  /** Index of the message being mapped, for error messages. */
  private index = 0;
  /** Base64 characters of documents and images so far (they count against the request size limit). */
  private inlineBytes = 0;

  constructor(
    private readonly model: string,
    private readonly name: string,
  ) {}

  map(messages: readonly ChatMessage[]): AnthropicMessageParam[] {
    const out: AnthropicMessageParam[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      this.index = i;
      if (m.role === 'system') {
        this.addSystem(m.content);
        continue;
      }
      const role = m.role === 'assistant' ? 'assistant' : 'user';
      const last = out.length > 0 ? out[out.length - 1]! : undefined;
      if (last === undefined || last.role !== role) {
        // Fast path: a plain turn with string content is already in wire shape.
        if (typeof m.content === 'string' && m.role !== 'tool' && m.toolCalls === undefined && m.providerData === undefined) {
          out.push({ role, content: m.content });
        } else {
          out.push({ role, content: this.blocks(m) });
        }
        continue;
      }
      // Same wire role as the previous turn (user then tool results, two user turns, …): the API requires
      // alternation, so the blocks join the previous turn. The arrays are ours: the caller's objects are not touched.
      let content = last.content;
      if (typeof content === 'string') content = last.content = textBlocks(content);
      const blocks = this.blocks(m);
      for (let j = 0; j < blocks.length; j++) content.push(blocks[j]!);
    }
    return out;
  }

  private addSystem(content: string | ContentPart[]): void {
    if (typeof content === 'string') {
      if (content === '') return;
      if (this.system === undefined) {
        this.system = content;
        return;
      }
      this.systemBlocks().push({ type: 'text', text: content });
      return;
    }
    const blocks = this.systemBlocks();
    for (let i = 0; i < content.length; i++) {
      const p = content[i]!;
      if (p.type !== 'text') throw this.unsupported(p.type, i, 'is not supported in a system message');
      if (p.text !== '') blocks.push({ type: 'text', text: p.text });
    }
  }

  private systemBlocks(): AnthropicTextBlockParam[] {
    const s = this.system;
    if (Array.isArray(s)) return s;
    const blocks: AnthropicTextBlockParam[] = s === undefined ? [] : [{ type: 'text', text: s }];
    this.system = blocks;
    return blocks;
  }

  /** The content blocks of one non-system message. */
  private blocks(m: ChatMessage): AnthropicBlockParam[] {
    const content = m.content;
    if (m.role === 'tool') {
      const result = typeof content === 'string' ? content : (this.parts(content, 'tool') as Array<AnthropicTextBlockParam | AnthropicImageBlockParam>);
      return [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: result }];
    }
    if (m.role !== 'assistant') return typeof content === 'string' ? textBlocks(content) : this.parts(content, 'user');

    const blocks: AnthropicBlockParam[] = [];
    // Thinking blocks (with their signature) must come back unchanged and first (Messages API, extended thinking).
    const saved = anthropicBlocks(m.providerData);
    if (saved !== undefined) for (let i = 0; i < saved.length; i++) blocks.push(saved[i] as AnthropicBlockParam);
    if (typeof content === 'string') {
      if (content !== '') blocks.push({ type: 'text', text: content });
    } else {
      const parts = this.parts(content, 'assistant');
      for (let i = 0; i < parts.length; i++) blocks.push(parts[i]!);
    }
    const calls = m.toolCalls;
    if (calls !== undefined) {
      for (let i = 0; i < calls.length; i++) {
        const c = calls[i]!;
        blocks.push({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments ?? {} });
      }
    }
    return blocks;
  }

  /**
   * Content parts of a user turn, a tool result or an assistant turn. Images go in user turns and tool results,
   * documents in user turns only, audio nowhere (the Messages API has no audio input).
   */
  private parts(parts: readonly ContentPart[], turn: 'user' | 'tool' | 'assistant'): AnthropicBlockParam[] {
    const out: AnthropicBlockParam[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.type === 'text') {
        // The API rejects empty text blocks.
        if (p.text !== '') out.push({ type: 'text', text: p.text });
      } else if (p.type === 'audio') {
        throw this.unsupported('audio', i, "is not supported: Anthropic's Messages API takes no audio input");
      } else if (p.type === 'image' && turn !== 'assistant') {
        out.push(this.image(p, i));
      } else if (p.type === 'file' && turn === 'user') {
        out.push(this.document(p, i));
      } else {
        throw this.unsupported(p.type, i, `is not supported in ${turn === 'tool' ? 'a tool result' : turn === 'user' ? 'a user message' : 'an assistant message'}`);
      }
    }
    return out;
  }

  /** A `file` part → a `document` block: PDF as base64 or by URL, `text/plain` data as a text source. */
  private document(p: Extract<ContentPart, { type: 'file' }>, i: number): AnthropicDocumentBlockParam {
    let mediaType: string;
    let data: string;
    if ('data' in p) {
      mediaType = p.mediaType.toLowerCase();
      data = p.data;
      if (data.startsWith('data:')) throw this.unsupported('file', i, 'has a data: URL in `data`; pass the base64 payload alone, or the data URL as `url`');
    } else {
      const url = p.url;
      if (!url.startsWith('data:')) {
        if (p.mediaType !== undefined && p.mediaType.toLowerCase() !== 'application/pdf') {
          throw this.unsupported('file', i, `has media type '${shown(p.mediaType)}'; Anthropic fetches PDF documents (application/pdf) by URL only`);
        }
        return { type: 'document', source: { type: 'url', url } };
      }
      const comma = url.indexOf(',');
      const meta = comma === -1 ? '' : url.slice(5, comma);
      if (!meta.endsWith(';base64')) throw this.unsupported('file', i, 'is a data URL that is not base64-encoded');
      mediaType = (p.mediaType ?? meta.slice(0, -7)).toLowerCase();
      data = url.slice(comma + 1);
    }
    if (mediaType === 'application/pdf') {
      this.count(data.length, 'file', i);
      return { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data } };
    }
    if (mediaType === 'text/plain') {
      this.count(data.length, 'file', i);
      return { type: 'document', source: { type: 'text', media_type: 'text/plain', data: Buffer.from(data, 'base64').toString('utf8') } };
    }
    throw this.unsupported('file', i, `has media type '${shown(mediaType)}'; Anthropic documents are PDF (application/pdf) or plain text (text/plain)`);
  }

  /** Add inline base64 to the request's running total; past `ANTHROPIC_MAX_REQUEST_BYTES` → `BadRequestError`. */
  private count(chars: number, type: string, i: number): void {
    this.inlineBytes += chars;
    if (this.inlineBytes > ANTHROPIC_MAX_REQUEST_BYTES) {
      const mb = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
      throw this.unsupported(type, i, `brings the request's base64 data to ${mb(this.inlineBytes)}, over Anthropic's ${mb(ANTHROPIC_MAX_REQUEST_BYTES)} request limit; use the Files API for large documents`, 'content_too_large');
    }
  }

  private image(p: Extract<ContentPart, { type: 'image' }>, i: number): AnthropicImageBlockParam {
    if ('data' in p) {
      this.count(p.data.length, 'image', i);
      return { type: 'image', source: { type: 'base64', media_type: p.mediaType, data: p.data } };
    }
    const url = p.url;
    // A data URL is inline data: the API's url source only fetches http(s), so send it as base64.
    if (url.startsWith('data:')) {
      const comma = url.indexOf(',');
      const meta = comma === -1 ? '' : url.slice(5, comma);
      if (!meta.endsWith(';base64')) throw this.unsupported('image', i, 'is a data URL that is not base64-encoded');
      const data = url.slice(comma + 1);
      this.count(data.length, 'image', i);
      return { type: 'image', source: { type: 'base64', media_type: p.mediaType ?? meta.slice(0, -7), data } };
    }
    return { type: 'image', source: { type: 'url', url } };
  }

  /** `BadRequestError` naming the model and the part (`messages[i].content[j]`). */
  private unsupported(type: string, part: number, why: string, code = 'unsupported_content_part'): BadRequestError {
    return new BadRequestError(errorMessage(this.name, this.model, `content part type '${type}' (messages[${this.index}].content[${part}]) ${why}`), {
      provider: this.name,
      model: this.model,
      code,
      retryable: false,
    });
  }
}

/** `providerData.anthropic.blocks` of an assistant turn, when it is there (other providers' data is ignored). */
function anthropicBlocks(providerData: Record<string, unknown> | undefined): readonly unknown[] | undefined {
  if (providerData === undefined) return undefined;
  const own = providerData.anthropic;
  if (own === null || typeof own !== 'object') return undefined;
  const blocks = (own as { blocks?: unknown }).blocks;
  return Array.isArray(blocks) ? blocks : undefined;
}

/** A caller-supplied string, bounded for an error message. */
function textBlocks(text: string): AnthropicBlockParam[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

function mapTools(tools: readonly ToolSpec[]): AnthropicTool[] {
  const out: AnthropicTool[] = new Array(tools.length);
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]!;
    out[i] = t.description !== undefined
      ? { name: t.name, description: t.description, input_schema: t.parameters ?? EMPTY_SCHEMA }
      : { name: t.name, input_schema: t.parameters ?? EMPTY_SCHEMA };
  }
  return out;
}

function mapToolChoice(choice: NonNullable<NormalizedRequest['toolChoice']>): AnthropicToolChoice {
  switch (choice) {
    case 'auto':
      return CHOICE_AUTO;
    case 'required':
      return CHOICE_ANY;
    case 'none':
      return CHOICE_NONE;
    default:
      return { type: 'tool', name: choice.name };
  }
}
