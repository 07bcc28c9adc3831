/**
 * `NormalizedRequest` → the Messages API HTTP request. Runs once per attempt, so the body is built directly in one
 * pass over the messages and serialised once; a plain user or assistant turn with string content becomes
 * `{ role, content }` without any block array.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolSpec, WireRequest } from '../../src/types.js';
import type {
  AnthropicBlockParam,
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
 * - `reasoning`: `budgetTokens` (or an `effort` other than `'none'`, through a fixed budget table) turns on
 *   extended thinking (`thinking: { type: 'enabled', budget_tokens }`).
 * - `seed` is not sent: the Messages API has no seed. `promptCache` is not mapped yet: no `cache_control` marks are
 *   placed on blocks.
 * - `req.providerOptions` are merged into the body last (shallow), so they can set any wire field this adapter
 *   does not know (`top_k`, `metadata`, `thinking`, …); `__proto__`, `constructor` and `prototype` keys are skipped.
 *
 * Throws `BadRequestError` (code `unsupported_content_part`) for a part the adapter cannot send: file and audio
 * parts, and images outside user turns and tool results.
 *
 * @param config - name, `anthropic-version` and default `max_tokens`, fixed per adapter
 * @default config { name: 'anthropic', version: '2023-06-01', defaultMaxTokens: 4096 }
 * @example
 * const wire = prepareMessages({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }], stream: false },
 *   { apiKey: process.env.ANTHROPIC_API_KEY, baseUrl: 'https://api.anthropic.com', headers: {} });
 */
export function prepareMessages(req: NormalizedRequest, env: ProviderEnv, config: AnthropicPrepareConfig = DEFAULT_CONFIG): WireRequest {
  const mapper = new MessageMapper(req.model, config.name);
  const messages = mapper.map(req.messages);

  let budget: number | undefined;
  const reasoning = req.reasoning;
  if (reasoning !== undefined && reasoning.effort !== 'none') {
    budget = reasoning.budgetTokens ?? (reasoning.effort !== undefined ? THINKING_BUDGET[reasoning.effort] : undefined);
  }

  const body: AnthropicMessagesBody = {
    model: req.model,
    max_tokens: req.maxTokens ?? config.defaultMaxTokens + (budget ?? 0),
    messages,
  };
  if (mapper.system !== undefined) body.system = mapper.system;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.stop !== undefined && req.stop.length > 0) body.stop_sequences = req.stop;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.tool_choice = mapToolChoice(req.toolChoice);
  if (budget !== undefined) body.thinking = { type: 'enabled', budget_tokens: budget };
  if (req.stream) body.stream = true;
  const extra = req.providerOptions;
  if (extra !== undefined) {
    for (const key in extra) {
      if (!Object.prototype.hasOwnProperty.call(extra, key)) continue;
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
      body[key] = extra[key];
    }
  }

  const headers: Record<string, string> = env.apiKey
    ? { 'content-type': 'application/json', 'x-api-key': env.apiKey, 'anthropic-version': config.version }
    : { 'content-type': 'application/json', 'anthropic-version': config.version };
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  return { method: 'POST', url: env.baseUrl + '/v1/messages', headers, body: JSON.stringify(body) };
}

/** One pass over the messages: hoists system text, maps the rest, merges consecutive same-role turns. */
class MessageMapper {
  system: string | AnthropicTextBlockParam[] | undefined = undefined;

  constructor(
    private readonly model: string,
    private readonly name: string,
  ) {}

  map(messages: readonly ChatMessage[]): AnthropicMessageParam[] {
    const out: AnthropicMessageParam[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
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
      if (p.type !== 'text') throw this.unsupported(p.type, 'in a system message');
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
      return [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: typeof content === 'string' ? content : this.parts(content, 'in a tool result', true) }];
    }
    if (m.role !== 'assistant') return typeof content === 'string' ? textBlocks(content) : this.parts(content, 'in a user message', true);

    const blocks: AnthropicBlockParam[] = [];
    // Thinking blocks (with their signature) must come back unchanged and first (Messages API, extended thinking).
    const saved = anthropicBlocks(m.providerData);
    if (saved !== undefined) for (let i = 0; i < saved.length; i++) blocks.push(saved[i] as AnthropicBlockParam);
    if (typeof content === 'string') {
      if (content !== '') blocks.push({ type: 'text', text: content });
    } else {
      const parts = this.parts(content, 'in an assistant message', false);
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

  private parts(parts: readonly ContentPart[], where: string, imagesAllowed: boolean): Array<AnthropicTextBlockParam | AnthropicImageBlockParam> {
    const out: Array<AnthropicTextBlockParam | AnthropicImageBlockParam> = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.type === 'text') {
        // The API rejects empty text blocks.
        if (p.text !== '') out.push({ type: 'text', text: p.text });
      } else if (p.type === 'image' && imagesAllowed) {
        out.push(this.image(p));
      } else {
        throw this.unsupported(p.type, p.type === 'image' ? where : 'by this adapter yet');
      }
    }
    return out;
  }

  private image(p: Extract<ContentPart, { type: 'image' }>): AnthropicImageBlockParam {
    if ('data' in p) return { type: 'image', source: { type: 'base64', media_type: p.mediaType, data: p.data } };
    const url = p.url;
    // A data URL is inline data: the API's url source only fetches http(s), so send it as base64.
    if (url.startsWith('data:')) {
      const comma = url.indexOf(',');
      const meta = comma === -1 ? '' : url.slice(5, comma);
      if (!meta.endsWith(';base64')) throw this.unsupported('image', 'as a data URL that is not base64');
      return { type: 'image', source: { type: 'base64', media_type: p.mediaType ?? meta.slice(0, -7), data: url.slice(comma + 1) } };
    }
    return { type: 'image', source: { type: 'url', url } };
  }

  private unsupported(type: string, where: string): BadRequestError {
    return new BadRequestError(errorMessage(this.name, this.model, `content part type '${type}' is not supported ${where}`), {
      provider: this.name,
      model: this.model,
      code: 'unsupported_content_part',
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
