/**
 * `NormalizedRequest` → the Gemini `generateContent` / `streamGenerateContent?alt=sse` HTTP request. Runs once per
 * attempt, so the body is built directly into its wire shape and serialised once.
 *
 * Mapping (https://ai.google.dev/api/generate-content):
 * - system messages → `systemInstruction.parts` (text only, one part per message, in order);
 * - user → a `user` turn; assistant → a `model` turn (text, then one `functionCall` part per tool call); tool
 *   messages → `functionResponse` parts of a `user` turn. Consecutive turns of the same role are merged into one
 *   `Content`, as Gemini expects strictly alternating roles (several tool results answer one model turn together).
 * - An assistant turn carrying `providerData.gemini.parts` (written by `parse.ts` / `stream.ts` when the model sent
 *   thought signatures) is sent as those parts, verbatim: Gemini validates each signature against the exact part it
 *   came with, so a rebuilt turn would lose them (edits to that message's `content` are then not sent).
 * - The API key travels only in the `x-goog-api-key` header, never in the URL (the `?key=` form would put it in
 *   every proxy log and URL-bearing error).
 * - `file` parts (PDF, or text) and `audio` parts: base64 data → `inlineData`, a URL → `fileData` (Files API URIs,
 *   `gs://` and public or signed https URLs), see `mapUserParts` for the media types and size limits.
 * - `promptCache` sends nothing: Gemini 2.5+ caches repeated prompt prefixes implicitly (no request field turns it
 *   on or off, and explicit `cachedContents` are a separate resource: pass `providerOptions: { cachedContent }`).
 *   Hits are reported as `usageMetadata.cachedContentTokenCount` → `usage.cachedPrompt` (part of `prompt`); Gemini
 *   charges nothing to write an implicit cache, so there is no `cacheWrite`.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ReasoningOptions, ToolCall, ToolSpec, WireRequest } from '../../src/types.js';
import { decodedLength, mb } from '../shared/inline-size.js';
import { isForbiddenKey } from '../shared/provider-options.js';
import { shown, unsupportedOption, unsupportedPart } from '../shared/request-errors.js';
import type {
  GeminiContent,
  GeminiGenerateContentBody,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiThinkingConfig,
  GeminiTool,
  GeminiToolConfig,
} from './wire.js';

/** Gemini API versions this adapter speaks. */
export type GeminiApiVersion = 'v1beta' | 'v1';

/** Ids we mint for calls Gemini sent without one (`call_<n>`, see parse.ts); never sent back as wire ids. */
const SYNTHETIC_ID = /^call_\d+$/;

/**
 * Image types Gemini accepts, by file extension, for URL images without a `mediaType` (`fileData` requires a
 * `mimeType`). Anything else defaults to `image/jpeg`; pass `mediaType` when the URL does not say.
 */
const IMAGE_TYPES: ReadonlyMap<string, string> = new Map([
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
  ['webp', 'image/webp'],
  ['gif', 'image/gif'],
  ['heic', 'image/heic'],
  ['heif', 'image/heif'],
]);
const DEFAULT_IMAGE_TYPE = 'image/jpeg';

/**
 * Audio media types Gemini documents (Audio understanding guide: WAV, MP3, AIFF, AAC, OGG Vorbis, FLAC), plus the
 * registered names of the same formats (`audio/mpeg` for MP3, `audio/x-wav`).
 */
const AUDIO_TYPES: ReadonlySet<string> = new Set([
  'audio/wav', 'audio/x-wav', 'audio/wave', 'audio/mp3', 'audio/mpeg', 'audio/aiff', 'audio/x-aiff', 'audio/aac', 'audio/ogg', 'audio/flac', 'audio/x-flac',
]);

/**
 * Inline data limits (https://ai.google.dev/gemini-api/docs/file-input-methods, input method comparison; raised
 * from 20 MB in January 2026): the inline payload of one request may be up to 100 MB of base64, and a PDF sent
 * inline at most 50 MB. MB read as MiB, so the checks never refuse what the API takes. Larger files go through
 * the Files API or a URL (`fileData`), which these checks do not touch.
 */
export const GEMINI_MAX_INLINE_BYTES = 100 * 1024 * 1024;
export const GEMINI_MAX_INLINE_PDF_BYTES = 50 * 1024 * 1024;

/**
 * Budgets (`thinkingBudget`) for a `reasoning.effort` on Gemini 2.5 models, which take a token budget rather
 * than a level: 512 is Flash-Lite's smallest budget, 24576 the largest of Flash and Flash-Lite (Pro goes to 32768).
 */
const GEMINI_THINKING_BUDGET: Readonly<Record<string, number>> = Object.freeze({ minimal: 512, low: 2048, medium: 8192, high: 24576 });

/** Gemini 1.x and 2.0 models do not think: no thinkingConfig. */
const NO_THINKING = /^(?:models\/)?gemini-(?:1\.|2\.0)/;
/** Gemini 2.5 models take `thinkingBudget`; 2.5 Pro cannot turn thinking off. */
const BUDGET_THINKING = /^(?:models\/)?gemini-2\.5/;
const ALWAYS_THINKS = /^(?:models\/)?gemini-2\.5-pro/;

/**
 * Build the Gemini request for a normalized request.
 *
 * URL: `{baseUrl}/{apiVersion}/models/{model}:generateContent`, or `:streamGenerateContent?alt=sse` when
 * `req.stream`; a leading `models/` on the model name is dropped and the rest URI-encoded. Headers:
 * `content-type`, `x-goog-api-key` (only when a key is set), then the provider's headers, then the call's headers.
 *
 * `req.providerOptions` are merged into the body last: a plain-object value is merged one level deep into the
 * mapped object of the same key (so `{ generationConfig: { topK: 3 } }` keeps `temperature`), anything else
 * replaces it; `__proto__`, `constructor` and `prototype` keys are skipped.
 *
 * `req.reasoning` → `generationConfig.thinkingConfig`, see `thinkingConfig` for the rules by model generation.
 *
 * @param name - provider name used in error messages
 * @param apiVersion - the API version path segment
 * @default name 'gemini'
 * @default apiVersion 'v1beta'
 * @example
 * const wire = prepareGenerateContent({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }], stream: false },
 *   { apiKey: process.env.GEMINI_API_KEY, baseUrl: 'https://generativelanguage.googleapis.com', headers: {} });
 */
export function prepareGenerateContent(req: NormalizedRequest, env: ProviderEnv, name = 'gemini', apiVersion: GeminiApiVersion = 'v1beta'): WireRequest {
  const body: GeminiGenerateContentBody = { contents: [] };
  const system = mapMessages(req.messages, body.contents, req.model, name);
  if (system !== null) body.systemInstruction = { parts: system };

  let config: GeminiGenerationConfig | undefined;
  if (req.temperature !== undefined) (config ??= {}).temperature = req.temperature;
  if (req.maxTokens !== undefined) (config ??= {}).maxOutputTokens = req.maxTokens;
  if (req.seed !== undefined) (config ??= {}).seed = req.seed;
  if (req.stop !== undefined) (config ??= {}).stopSequences = req.stop;
  if (req.reasoning !== undefined) {
    const thinking = thinkingConfig(req.reasoning, req.model, name);
    if (thinking !== undefined) (config ??= {}).thinkingConfig = thinking;
  }
  if (config !== undefined) body.generationConfig = config;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.toolConfig = mapToolChoice(req.toolChoice);

  const extra = req.providerOptions;
  if (extra !== undefined) {
    for (const key in extra) {
      if (!Object.prototype.hasOwnProperty.call(extra, key) || isForbiddenKey(key)) continue;
      const value = extra[key];
      const current = body[key];
      body[key] = isPlainObject(value) && isPlainObject(current) ? mergeShallow(current, value) : value;
    }
  }

  const headers: Record<string, string> =
    env.apiKey ? { 'content-type': 'application/json', 'x-goog-api-key': env.apiKey } : { 'content-type': 'application/json' };
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  const model = encodeURIComponent(req.model.startsWith('models/') ? req.model.slice(7) : req.model);
  const url = req.stream
    ? `${env.baseUrl}/${apiVersion}/models/${model}:streamGenerateContent?alt=sse`
    : `${env.baseUrl}/${apiVersion}/models/${model}:generateContent`;
  return { method: 'POST', url, headers, body: JSON.stringify(body) };
}

/**
 * `reasoning` → `thinkingConfig`, or undefined when nothing is to be set. Each generation takes its own knob:
 *
 * - Gemini 3 and later (any name not below): `thinkingLevel` = `effort` (`minimal` | `low` | `medium` | `high`; the
 *   API checks which levels a model has, e.g. 3 Pro only `low` / `high`). `budgetTokens` alone → `thinkingBudget`
 *   (still accepted for compatibility); with an `effort` the level wins (the API rejects both together).
 *   `effort: 'none'` → `BadRequestError`: Gemini 3 models always think (use `'minimal'`).
 * - Gemini 2.5 (`BUDGET_THINKING`): `thinkingBudget` = `budgetTokens`, else the `effort` through
 *   `GEMINI_THINKING_BUDGET`; `effort: 'none'` → `thinkingBudget: 0` (off), except on 2.5 Pro, which cannot turn
 *   thinking off → `BadRequestError`.
 * - Gemini 1.x / 2.0 (`NO_THINKING`): no thinking at all; a `budgetTokens` or an `effort` other than `'none'` →
 *   `BadRequestError` (`effort: 'none'` and `summary` alone send nothing).
 *
 * `summary: true` → `includeThoughts: true` (thought summaries come back as `thought: true` parts → `reasoning`).
 */
export function thinkingConfig(r: ReasoningOptions, model: string, name: string): GeminiThinkingConfig | undefined {
  const { effort, budgetTokens } = r;
  const summary = r.summary === true;
  if (effort === undefined && budgetTokens === undefined && !summary) return undefined;
  if (NO_THINKING.test(model)) {
    // Nothing to turn off and no thoughts to show: `effort: 'none'` and `summary` alone are no-ops here.
    if (budgetTokens === undefined && (effort === undefined || effort === 'none')) return undefined;
    const option = budgetTokens !== undefined ? 'reasoning.budgetTokens' : `reasoning.effort '${effort}'`;
    throw unsupportedOption(name, model, option, 'Gemini 1.x and 2.0 models do not think (Gemini 2.5 and later do)');
  }
  const thinking: GeminiThinkingConfig = {};
  if (BUDGET_THINKING.test(model)) {
    if (effort === 'none') {
      if (ALWAYS_THINKS.test(model)) throw unsupportedOption(name, model, "reasoning.effort 'none'", 'Gemini 2.5 Pro cannot turn thinking off (its smallest budget is 128 tokens)');
      thinking.thinkingBudget = 0;
    } else if (budgetTokens !== undefined) {
      thinking.thinkingBudget = budgetTokens;
    } else if (effort !== undefined) {
      thinking.thinkingBudget = GEMINI_THINKING_BUDGET[effort]!;
    }
  } else if (effort === 'none') {
    throw unsupportedOption(name, model, "reasoning.effort 'none'", "Gemini 3 models always think; use effort 'minimal' or 'low'");
  } else if (effort !== undefined) {
    thinking.thinkingLevel = effort;
  } else if (budgetTokens !== undefined) {
    thinking.thinkingBudget = budgetTokens;
  }
  // No thought text is asked for when thinking is off.
  if (summary && thinking.thinkingBudget !== 0) thinking.includeThoughts = true;
  return thinking;
}

/**
 * Append the conversation turns to `contents` and return the system parts (or null). Keeps the call-id → function
 * name map of the assistant turns seen so far: a `functionResponse` must name its function, and a tool message
 * only carries the call id.
 */
function mapMessages(messages: readonly ChatMessage[], contents: GeminiContent[], model: string, name: string): Array<{ text: string }> | null {
  let system: Array<{ text: string }> | null = null;
  let last: GeminiContent | null = null;
  let callNames: Map<string, string> | null = null;
  const inline: InlineBudget = { bytes: 0 };

  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const role = m.role;
    if (role === 'system') {
      (system ??= []).push({ text: systemText(m.content, model, name) });
      continue;
    }
    const wireRole = role === 'assistant' ? 'model' : 'user';
    // Merge into the previous turn when the role repeats (tool results after tool results, a user turn after them).
    let parts: GeminiPart[];
    if (last !== null && last.role === wireRole) {
      parts = last.parts;
    } else {
      parts = [];
    }
    const before = parts.length;

    if (role === 'user') {
      const content = m.content;
      if (typeof content === 'string') parts.push({ text: content });
      else mapUserParts(content, parts, model, name, i, inline);
    } else if (role === 'assistant') {
      const calls = m.toolCalls;
      if (calls !== undefined && calls.length > 0) {
        callNames ??= new Map();
        // Later turns overwrite earlier ones: synthesized ids (`call_0`) restart in every response.
        for (let j = 0; j < calls.length; j++) callNames.set(calls[j]!.id, calls[j]!.name);
      }
      const saved = savedParts(m);
      if (saved !== null) {
        for (let j = 0; j < saved.length; j++) parts.push(saved[j] as GeminiPart);
      } else {
        const text = typeof m.content === 'string' ? m.content : assistantText(m.content, model, name);
        if (text !== '') parts.push({ text });
        if (calls !== undefined) mapToolCalls(calls, parts);
      }
    } else {
      parts.push(functionResponse(m, callNames, model, name));
    }

    // An assistant turn with neither text nor calls has nothing to send (Gemini rejects a Content without parts).
    if (parts.length === before) continue;
    if (last === null || parts !== last.parts) {
      last = { role: wireRole, parts };
      contents.push(last);
    }
  }
  return system;
}

/** `providerData.gemini.parts` of an assistant turn (the model's own parts, with their thought signatures). */
function savedParts(m: ChatMessage): readonly unknown[] | null {
  const data = m.providerData;
  if (data === undefined) return null;
  const gemini = data.gemini;
  if (gemini === null || typeof gemini !== 'object') return null;
  const parts = (gemini as { parts?: unknown }).parts;
  return Array.isArray(parts) && parts.length > 0 ? parts : null;
}

/** Base64 characters sent inline so far in one request. */
interface InlineBudget {
  bytes: number;
}

/**
 * A user turn's parts. Images as before; `file` and `audio` parts:
 *
 * - `file`: base64 `data` (or a `data:` URL) → `inlineData`, any other URL → `fileData` (`mimeType` from the part,
 *   else `application/pdf`). Media types: `application/pdf` or `text/*` (Gemini's document formats); others →
 *   `BadRequestError`.
 * - `audio`: base64 `data` → `inlineData`, media type in `AUDIO_TYPES`, else `BadRequestError`.
 * - Inline data counts against `GEMINI_MAX_INLINE_BYTES` (base64, whole request, images included) and an inline
 *   PDF against `GEMINI_MAX_INLINE_PDF_BYTES` (decoded): past them → `BadRequestError` (code `content_too_large`).
 */
function mapUserParts(content: readonly ContentPart[], out: GeminiPart[], model: string, name: string, message: number, inline: InlineBudget): void {
  for (let i = 0; i < content.length; i++) {
    const p = content[i]!;
    const where = `messages[${message}].content[${i}]`;
    if (p.type === 'text') {
      out.push({ text: p.text });
    } else if (p.type === 'image') {
      const part = 'data' in p ? { inlineData: { mimeType: p.mediaType, data: p.data } } : imageUrlPart(p.url, p.mediaType, model, name);
      if (part.inlineData !== undefined) countInline(inline, part.inlineData.data, 'image', where, model, name);
      out.push(part);
    } else if (p.type === 'file') {
      out.push(filePart(p, where, inline, model, name));
    } else {
      const mediaType = p.mediaType.toLowerCase();
      if (!AUDIO_TYPES.has(mediaType)) {
        throw partError('audio', where, `has media type '${shown(p.mediaType)}'; Gemini takes WAV, MP3, AIFF, AAC, OGG and FLAC audio`, model, name);
      }
      if (p.data.startsWith('data:')) throw partError('audio', where, 'has a data: URL in `data`; pass the base64 payload alone', model, name);
      countInline(inline, p.data, 'audio', where, model, name);
      out.push({ inlineData: { mimeType: mediaType, data: p.data } });
    }
  }
}

function filePart(p: Extract<ContentPart, { type: 'file' }>, where: string, inline: InlineBudget, model: string, name: string): GeminiPart {
  let mediaType: string;
  let data: string;
  if ('data' in p) {
    mediaType = p.mediaType.toLowerCase();
    data = p.data;
    if (data.startsWith('data:')) throw partError('file', where, 'has a data: URL in `data`; pass the base64 payload alone, or the data URL as `url`', model, name);
  } else if (p.url.startsWith('data:')) {
    const url = p.url;
    const comma = url.indexOf(',');
    const meta = comma === -1 ? '' : url.slice(5, comma);
    if (!meta.endsWith(';base64')) throw partError('file', where, 'is a data URL that is not base64-encoded', model, name);
    mediaType = (p.mediaType ?? meta.slice(0, -7)).toLowerCase();
    data = url.slice(comma + 1);
  } else {
    const type = (p.mediaType ?? 'application/pdf').toLowerCase();
    checkDocumentType(type, where, model, name);
    return { fileData: { mimeType: type, fileUri: p.url } };
  }
  checkDocumentType(mediaType, where, model, name);
  if (mediaType === 'application/pdf' && decodedLength(data) > GEMINI_MAX_INLINE_PDF_BYTES) {
    throw partError('file', where, `is a PDF of ${mb(decodedLength(data))}, over Gemini's ${mb(GEMINI_MAX_INLINE_PDF_BYTES)} for inline PDFs; upload it with the Files API and pass its URI as \`url\``, model, name, 'content_too_large');
  }
  countInline(inline, data, 'file', where, model, name);
  return { inlineData: { mimeType: mediaType, data } };
}

function checkDocumentType(mediaType: string, where: string, model: string, name: string): void {
  if (mediaType === 'application/pdf' || mediaType.startsWith('text/')) return;
  throw partError('file', where, `has media type '${shown(mediaType)}'; Gemini documents are PDF (application/pdf) or text (text/*)`, model, name);
}

function countInline(inline: InlineBudget, data: string, type: string, where: string, model: string, name: string): void {
  inline.bytes += data.length;
  if (inline.bytes > GEMINI_MAX_INLINE_BYTES) {
    throw partError(type, where, `brings the request's inline data to ${mb(inline.bytes)} of base64, over Gemini's ${mb(GEMINI_MAX_INLINE_BYTES)}; upload large files with the Files API`, model, name, 'content_too_large');
  }
}

/** `BadRequestError` naming the model and the part. */
function partError(type: string, where: string, why: string, model: string, name: string, code = 'unsupported_content_part'): BadRequestError {
  return new BadRequestError(errorMessage(name, model, `content part type '${type}' (${where}) ${why}`), {
    provider: name,
    model,
    code,
    retryable: false,
  });
}

/** A URL image: `data:` URLs become `inlineData`, anything else `fileData` (Files API URIs, public URLs). */
function imageUrlPart(url: string, mediaType: string | undefined, model: string, name: string): GeminiPart {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const meta = comma === -1 ? '' : url.slice(5, comma);
    if (!meta.endsWith(';base64')) {
      throw new BadRequestError(errorMessage(name, model, 'an image data URL must be base64-encoded'), {
        provider: name,
        model,
        code: 'unsupported_content_part',
        retryable: false,
      });
    }
    return { inlineData: { mimeType: mediaType ?? (meta.slice(0, -7) || DEFAULT_IMAGE_TYPE), data: url.slice(comma + 1) } };
  }
  return { fileData: { mimeType: mediaType ?? imageTypeOf(url), fileUri: url } };
}

function imageTypeOf(url: string): string {
  let end = url.length;
  const q = url.indexOf('?');
  if (q !== -1) end = q;
  const h = url.indexOf('#');
  if (h !== -1 && h < end) end = h;
  const dot = url.lastIndexOf('.', end);
  const slash = url.lastIndexOf('/', end);
  if (dot === -1 || dot < slash) return DEFAULT_IMAGE_TYPE;
  return IMAGE_TYPES.get(url.slice(dot + 1, end).toLowerCase()) ?? DEFAULT_IMAGE_TYPE;
}

function systemText(content: string | ContentPart[], model: string, name: string): string {
  return typeof content === 'string' ? content : textOnly(content, 'system', model, name);
}

function assistantText(content: ContentPart[], model: string, name: string): string {
  return textOnly(content, 'assistant', model, name);
}

function textOnly(content: readonly ContentPart[], role: string, model: string, name: string): string {
  let text = '';
  for (let i = 0; i < content.length; i++) {
    const p = content[i]!;
    if (p.type !== 'text') throw unsupportedPart(p.type, `in a ${role} message`, model, name);
    text += p.text;
  }
  return text;
}

function mapToolCalls(calls: readonly ToolCall[], out: GeminiPart[]): void {
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    const args = c.arguments ?? {};
    // Ids Gemini sent (or another provider minted) go back; our own `call_<n>` never existed on Gemini's side.
    out.push({ functionCall: SYNTHETIC_ID.test(c.id) ? { name: c.name, args } : { id: c.id, name: c.name, args } });
  }
}

/**
 * A tool message → a `functionResponse` part. Gemini's `response` must be an object; the tool's output goes under
 * `result`, as in Google's function-calling guide (`response: {"result": ...}`), as the string it is.
 */
function functionResponse(m: ChatMessage, callNames: Map<string, string> | null, model: string, name: string): GeminiPart {
  const id = m.toolCallId ?? '';
  const fn = callNames?.get(id) ?? m.name;
  if (fn === undefined || fn === '') {
    const shown = id.length > 100 ? id.slice(0, 100) + '…' : id;
    throw new BadRequestError(errorMessage(name, model, `tool message answers call '${shown}', which no earlier assistant turn made (Gemini needs the function name)`), {
      provider: name,
      model,
      code: 'unknown_tool_call',
      retryable: false,
    });
  }
  const result = typeof m.content === 'string' ? m.content : textOnly(m.content, 'tool', model, name);
  const response = { result };
  return { functionResponse: id === '' || SYNTHETIC_ID.test(id) ? { name: fn, response } : { id, name: fn, response } };
}

function mapTools(tools: readonly ToolSpec[]): GeminiTool[] {
  const declarations: GeminiTool['functionDeclarations'] = new Array(tools.length);
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]!;
    const fn: GeminiTool['functionDeclarations'][number] = { name: t.name };
    if (t.description !== undefined) fn.description = t.description;
    if (t.parameters !== undefined) fn.parameters = t.parameters;
    declarations[i] = fn;
  }
  return [{ functionDeclarations: declarations }];
}

function mapToolChoice(choice: NonNullable<NormalizedRequest['toolChoice']>): GeminiToolConfig {
  switch (choice) {
    case 'auto':
      return { functionCallingConfig: { mode: 'AUTO' } };
    case 'none':
      return { functionCallingConfig: { mode: 'NONE' } };
    case 'required':
      return { functionCallingConfig: { mode: 'ANY' } };
    default:
      return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.name] } };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** `{...base, ...over}` without copying prototype-polluting keys of `over`. */
function mergeShallow(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const key in over) {
    if (!Object.prototype.hasOwnProperty.call(over, key) || isForbiddenKey(key)) continue;
    out[key] = over[key];
  }
  return out;
}
