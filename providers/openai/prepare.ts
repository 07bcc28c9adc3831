/**
 * `NormalizedRequest` → the Chat Completions HTTP request. Runs once per attempt, so the body object is built
 * directly and serialised once; messages whose content is already a string and that carry nothing to rename are
 * passed to `JSON.stringify` as they are, without a copy.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolCall, ToolSpec, WireRequest } from '../../src/types.js';
import { decodedLength, mb } from '../shared/inline-size.js';
import { assignProviderOptions } from '../shared/provider-options.js';
import { shown, unsupportedOption } from '../shared/request-errors.js';
import type { OpenAIChatBody, OpenAIContentPart, OpenAIMessage, OpenAITool, OpenAIToolCallWire, OpenAIToolChoice } from './wire.js';

/**
 * Most file bytes (decoded) one request may carry: "up to 100 pages and 32MB of total content in a single request
 * to the API, across multiple file inputs" (OpenAI PDF files guide, "File size limitations",
 * https://platform.openai.com/docs/guides/pdf-files). Checked on OpenAI's own wire only; MB read as MiB, so the
 * check never refuses what the API takes (the API still enforces its own bound).
 */
export const OPENAI_MAX_FILE_BYTES = 32 * 1024 * 1024;

/** `input_audio.format` for each audio media type the Chat Completions API takes (it documents `wav` and `mp3`). */
const AUDIO_FORMATS: ReadonlyMap<string, 'wav' | 'mp3'> = new Map([
  ['audio/wav', 'wav'],
  ['audio/wave', 'wav'],
  ['audio/x-wav', 'wav'],
  ['audio/vnd.wave', 'wav'],
  ['audio/mpeg', 'mp3'],
  ['audio/mp3', 'mp3'],
  ['audio/mpeg3', 'mp3'],
  ['audio/x-mpeg-3', 'mp3'],
]);

/**
 * OpenAI's reasoning families, by model name (a fine-tune `ft:<base>:…` is judged by its base): the o-series
 * (`o1`, `o3`, `o4-mini`, …) takes `reasoning_effort` `low` | `medium` | `high`; the gpt-5 family (`gpt-5`,
 * `gpt-5-mini`, `gpt-5.1`, `gpt-5-codex`, …) also takes `minimal` and/or `none` depending on the version, which
 * the API itself checks. Every other name (`gpt-4o`, `gpt-4.1`, …) has no reasoning to configure.
 */
const O_SERIES = /^(?:ft:)?o\d/;
const GPT5_FAMILY = /^(?:ft:)?gpt-5/;

/**
 * Whether an OpenAI model name is a reasoning model (the o-series or the gpt-5 family, a fine-tune judged by its
 * base), i.e. one that takes `reasoning_effort` (Chat Completions) or `reasoning` (Responses).
 *
 * @example
 * isReasoningModel('o4-mini');  // true
 * isReasoningModel('gpt-4o');   // false
 */
export function isReasoningModel(model: string): boolean {
  return O_SERIES.test(model) || GPT5_FAMILY.test(model);
}

/** Audio input on Chat Completions: the audio models (`gpt-audio`, `gpt-audio-mini`, `gpt-4o-audio-preview`, …). */
const AUDIO_MODEL = /audio/;

/**
 * Build the `POST {baseUrl}/chat/completions` request for a normalized request.
 *
 * Headers: `content-type`, `authorization: Bearer <key>` (only when a key is set), then the provider's headers,
 * then the call's headers. `req.providerOptions` are merged into the body last (shallow), so they can set any
 * wire field this adapter does not know; `__proto__`, `constructor` and `prototype` keys are skipped.
 *
 * `reasoning` (see `reasoningEffort` for the rules and their errors) → `reasoning_effort`. `promptCache` sends
 * nothing: OpenAI caches prompts of 1024+ tokens automatically and reports the hits as
 * `usage.prompt_tokens_details.cached_tokens` (→ `usage.cachedPrompt`); it cannot be turned off or given a TTL
 * per request, so `'off'` and `{ ttl }` are accepted and have no effect on this wire.
 *
 * Content parts (user turns only): images → `image_url`; `file` (PDF as base64 `data` or a `data:` URL) →
 * `{ type: 'file', file: { filename, file_data: 'data:application/pdf;base64,…' } }`; `audio` →
 * `{ type: 'input_audio', input_audio: { data, format } }` with `format` from the media type (`audio/wav` → `wav`,
 * `audio/mpeg` → `mp3`). Anything else throws `BadRequestError` before sending, naming the model and the part:
 * a file URL (Chat Completions takes no file URLs: send the bytes, or use the Responses API), a non-PDF file,
 * another audio format, and on OpenAI's own wire audio for a model that is not an audio model and more than
 * `OPENAI_MAX_FILE_BYTES` of files.
 *
 * @param name - provider name used in error messages
 * @default name 'openai'
 * @example
 * const wire = prepareChat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: false },
 *   { apiKey: process.env.OPENAI_API_KEY, baseUrl: 'https://api.openai.com/v1', headers: {} });
 */
export function prepareChat(req: NormalizedRequest, env: ProviderEnv, name = 'openai', dialect: ChatDialect = OPENAI_DIALECT): WireRequest {
  const strict = dialect.openaiRules === true;
  const body: OpenAIChatBody = { model: req.model, messages: mapMessages(req.messages, new PartMapper(req.model, name, strict)) };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.maxTokens !== undefined) body[dialect.maxTokensField] = req.maxTokens;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.tool_choice = mapToolChoice(req.toolChoice);
  if (req.reasoning !== undefined) {
    const effort = reasoningEffort(req.reasoning, req.model, name, strict);
    if (effort !== undefined) body.reasoning_effort = effort;
  }
  if (req.stream) {
    body.stream = true;
    if (dialect.streamUsage) body.stream_options = { include_usage: true };
  }
  assignProviderOptions(body, req.providerOptions);

  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.apiKey) {
    if (dialect.auth === 'bearer') headers.authorization = 'Bearer ' + env.apiKey;
    else if (dialect.auth === 'api-key') headers['api-key'] = env.apiKey;
  }
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  const url = dialect.url === null ? env.baseUrl + '/chat/completions' : dialect.url(env.baseUrl, req.model);
  return { method: 'POST', url, headers, body: JSON.stringify(body) };
}

/**
 * How an OpenAI-compatible server differs from OpenAI's own Chat Completions wire (`openaiCompatible` quirks).
 * Differences are options of one adapter, not forks of it.
 */
export interface ChatDialect {
  /** Body field that carries `maxTokens`. */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Send `stream_options.include_usage` on streams. */
  streamUsage: boolean;
  /** How the key travels: `Authorization: Bearer`, Azure's `api-key` header, or not at all. */
  auth: 'bearer' | 'api-key' | 'none';
  /** Full URL for a call, or null for `${baseUrl}/chat/completions`. */
  url: ((baseUrl: string, model: string) => string) | null;
  /**
   * Check OpenAI's own model rules before sending (reasoning families, audio models, the file size limit). Off
   * for OpenAI-compatible servers, whose model names and limits are their own: there `reasoning.effort` is sent
   * as it is and the server decides.
   * @default false
   */
  openaiRules?: boolean;
}

/** OpenAI's own Chat Completions wire. */
export const OPENAI_DIALECT: ChatDialect = Object.freeze({ maxTokensField: 'max_completion_tokens', streamUsage: true, auth: 'bearer', url: null, openaiRules: true });

/**
 * The `reasoning_effort` to send for `reasoning`, or undefined. OpenAI's reasoning knob is the effort level, so:
 *
 * - `effort` is sent as it is, on OpenAI's own wire only to reasoning models (`O_SERIES`, `GPT5_FAMILY`): another
 *   model with an effort other than `'none'` → `BadRequestError`; `'none'` there is dropped (nothing to turn
 *   off). The o-series takes `low` | `medium` | `high` only, so `'minimal'` / `'none'` on it → `BadRequestError`.
 * - `budgetTokens` has no OpenAI equivalent: alone → `BadRequestError`; beside an `effort` it is ignored here (so
 *   one setting such as `{ effort: 'medium', budgetTokens: 8000 }` works on every provider: budgets where the
 *   provider counts tokens, effort where it takes a level).
 * - `summary` asks for reasoning text where the provider can give it. OpenAI's Chat Completions never returns
 *   reasoning text (only `usage.completion_tokens_details.reasoning_tokens`), so it has no effect on this wire
 *   (no error: a fallback from another provider must not fail on it); summaries need the Responses API.
 *   OpenAI-compatible servers that stream `reasoning_content` (DeepSeek, vLLM) send it regardless.
 *
 * On OpenAI-compatible dialects (`strict` false) `effort` is passed through and nothing is checked.
 */
export function reasoningEffort(reasoning: NonNullable<NormalizedRequest['reasoning']>, model: string, name: string, strict: boolean): string | undefined {
  const effort = reasoning.effort;
  if (!strict) return effort;
  if (effort === undefined) {
    if (reasoning.budgetTokens !== undefined) {
      throw unsupportedOption(name, model, 'reasoning.budgetTokens', "OpenAI takes no thinking budget; set reasoning.effort ('low', 'medium' or 'high') instead");
    }
    return undefined;
  }
  const oSeries = O_SERIES.test(model);
  if (!oSeries && !GPT5_FAMILY.test(model)) {
    if (effort === 'none') return undefined;
    throw unsupportedOption(name, model, 'reasoning.effort', 'only reasoning models (the o-series and the gpt-5 family) take a reasoning effort');
  }
  if (oSeries && (effort === 'none' || effort === 'minimal')) {
    throw unsupportedOption(name, model, `reasoning.effort '${effort}'`, "o-series models take 'low', 'medium' or 'high'");
  }
  return effort;
}

function mapMessages(messages: readonly ChatMessage[], parts: PartMapper): OpenAIMessage[] {
  const out: OpenAIMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    // Fast path: a plain system/user/assistant turn with string content has the wire shape already.
    if (typeof m.content === 'string' && m.role !== 'tool' && m.toolCalls === undefined && m.providerData === undefined && m.toolCallId === undefined) {
      out[i] = m as OpenAIMessage;
      continue;
    }
    out[i] = mapMessage(m, i, parts);
  }
  return out;
}

function mapMessage(m: ChatMessage, index: number, parts: PartMapper): OpenAIMessage {
  const content = typeof m.content === 'string' ? m.content : parts.map(m.content, m.role, index);
  switch (m.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId ?? '', content };
    case 'assistant': {
      const msg: OpenAIMessage = { role: 'assistant', content };
      if (m.name !== undefined) msg.name = m.name;
      if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
        // The API takes `content: null` beside tool calls; an empty string there is what ChatMessage.assistant('') holds.
        if (content === '') msg.content = null;
        msg.tool_calls = mapToolCalls(m.toolCalls);
      }
      return msg;
    }
    default: {
      const msg: OpenAIMessage = { role: m.role, content };
      if (m.name !== undefined) msg.name = m.name;
      return msg;
    }
  }
}

/** Maps content parts to wire parts, counting file bytes across the whole request. */
class PartMapper {
  private fileBytes = 0;
  private files = 0;

  constructor(
    private readonly model: string,
    private readonly name: string,
    /** OpenAI's own wire: check audio models and the file size limit. */
    private readonly strict: boolean,
  ) {}

  map(parts: readonly ContentPart[], role: ChatMessage['role'], message: number): OpenAIContentPart[] {
    const out: OpenAIContentPart[] = new Array(parts.length);
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.type === 'text') {
        out[i] = { type: 'text', text: p.text };
        continue;
      }
      const where = `messages[${message}].content[${i}]`;
      if (role !== 'user') throw this.unsupported(p.type, where, `is not supported in ${role === 'assistant' ? 'an' : 'a'} ${role} message`);
      if (p.type === 'image') out[i] = { type: 'image_url', image_url: { url: 'data' in p ? `data:${p.mediaType};base64,${p.data}` : p.url } };
      else if (p.type === 'file') out[i] = this.file(p, where);
      else out[i] = this.audio(p, where);
    }
    return out;
  }

  private file(p: Extract<ContentPart, { type: 'file' }>, where: string): OpenAIContentPart {
    let mediaType: string;
    let data: string;
    if ('data' in p) {
      mediaType = p.mediaType;
      data = p.data;
      if (data.startsWith('data:')) throw this.unsupported('file', where, 'has a data: URL in `data`; pass the base64 payload alone, or the data URL as `url`');
    } else {
      const inline = parseDataUrl(p.url);
      if (inline === null) {
        throw this.unsupported('file', where, "is a URL, which Chat Completions does not fetch; pass the PDF as base64 `data`, or use openai({ api: 'responses' })");
      }
      if (!inline.base64) throw this.unsupported('file', where, 'is a data URL that is not base64-encoded');
      mediaType = p.mediaType ?? inline.mediaType;
      data = inline.data;
    }
    if (mediaType.toLowerCase() !== 'application/pdf') {
      throw this.unsupported('file', where, `has media type '${shown(mediaType)}'; Chat Completions takes PDF files (application/pdf) only`);
    }
    const bytes = decodedLength(data);
    this.fileBytes += bytes;
    if (this.strict && this.fileBytes > OPENAI_MAX_FILE_BYTES) {
      throw this.unsupported('file', where, `brings the request's files to ${mb(this.fileBytes)}, over OpenAI's ${mb(OPENAI_MAX_FILE_BYTES)} per request`, 'content_too_large');
    }
    this.files += 1;
    return { type: 'file', file: { filename: `document-${this.files}.pdf`, file_data: `data:application/pdf;base64,${data}` } };
  }

  private audio(p: Extract<ContentPart, { type: 'audio' }>, where: string): OpenAIContentPart {
    if (this.strict && !AUDIO_MODEL.test(this.model)) {
      throw this.unsupported('audio', where, 'needs an audio model on Chat Completions (gpt-audio, gpt-4o-audio-preview, …)');
    }
    const format = AUDIO_FORMATS.get(p.mediaType.toLowerCase());
    if (format === undefined) {
      throw this.unsupported('audio', where, `has media type '${shown(p.mediaType)}'; Chat Completions takes wav (audio/wav) and mp3 (audio/mpeg) only`);
    }
    if (p.data.startsWith('data:')) throw this.unsupported('audio', where, 'has a data: URL in `data`; input_audio takes the base64 payload alone');
    return { type: 'input_audio', input_audio: { data: p.data, format } };
  }

  private unsupported(type: string, where: string, why: string, code = 'unsupported_content_part'): BadRequestError {
    return new BadRequestError(errorMessage(this.name, this.model, `content part '${type}' (${where}) ${why}`), {
      provider: this.name,
      model: this.model,
      code,
      retryable: false,
    });
  }
}

/** `data:<type>[;base64],<data>` → its parts, or null for any other URL. */
function parseDataUrl(url: string): { mediaType: string; base64: boolean; data: string } | null {
  if (!url.startsWith('data:')) return null;
  const comma = url.indexOf(',');
  if (comma === -1) return { mediaType: '', base64: false, data: '' };
  const meta = url.slice(5, comma);
  const base64 = meta.endsWith(';base64');
  return { mediaType: base64 ? meta.slice(0, -7) : meta, base64, data: url.slice(comma + 1) };
}

function mapToolCalls(calls: readonly ToolCall[]): OpenAIToolCallWire[] {
  const out: OpenAIToolCallWire[] = new Array(calls.length);
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    out[i] = { id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments ?? {}) } };
  }
  return out;
}

function mapTools(tools: readonly ToolSpec[]): OpenAITool[] {
  const out: OpenAITool[] = new Array(tools.length);
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]!;
    const fn: OpenAITool['function'] = { name: t.name };
    if (t.description !== undefined) fn.description = t.description;
    if (t.parameters !== undefined) fn.parameters = t.parameters;
    out[i] = { type: 'function', function: fn };
  }
  return out;
}

function mapToolChoice(choice: NonNullable<NormalizedRequest['toolChoice']>): OpenAIToolChoice {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}
