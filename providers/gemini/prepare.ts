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
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolCall, ToolSpec, WireRequest } from '../../src/types.js';
import type { GeminiContent, GeminiGenerateContentBody, GeminiGenerationConfig, GeminiPart, GeminiTool, GeminiToolConfig } from './wire.js';

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

/** Keys of `providerOptions` that are never copied (prototype pollution). */
function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

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
 * `req.reasoning` → `generationConfig.thinkingConfig`: `budgetTokens` → `thinkingBudget`; otherwise `effort`
 * `'none'` → `thinkingBudget: 0` and any other effort → `thinkingLevel` (Gemini 3 models); `summary: true` →
 * `includeThoughts: true`.
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
  const reasoning = req.reasoning;
  if (reasoning !== undefined && (reasoning.budgetTokens !== undefined || reasoning.effort !== undefined || reasoning.summary === true)) {
    const thinking: NonNullable<GeminiGenerationConfig['thinkingConfig']> = {};
    if (reasoning.budgetTokens !== undefined) thinking.thinkingBudget = reasoning.budgetTokens;
    else if (reasoning.effort === 'none') thinking.thinkingBudget = 0;
    else if (reasoning.effort !== undefined) thinking.thinkingLevel = reasoning.effort;
    if (reasoning.summary === true) thinking.includeThoughts = true;
    (config ??= {}).thinkingConfig = thinking;
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
 * Append the conversation turns to `contents` and return the system parts (or null). Keeps the call-id → function
 * name map of the assistant turns seen so far: a `functionResponse` must name its function, and a tool message
 * only carries the call id.
 */
function mapMessages(messages: readonly ChatMessage[], contents: GeminiContent[], model: string, name: string): Array<{ text: string }> | null {
  let system: Array<{ text: string }> | null = null;
  let last: GeminiContent | null = null;
  let callNames: Map<string, string> | null = null;

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
      else mapUserParts(content, parts, model, name);
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

function mapUserParts(content: readonly ContentPart[], out: GeminiPart[], model: string, name: string): void {
  for (let i = 0; i < content.length; i++) {
    const p = content[i]!;
    if (p.type === 'text') {
      out.push({ text: p.text });
    } else if (p.type === 'image') {
      out.push('data' in p ? { inlineData: { mimeType: p.mediaType, data: p.data } } : imageUrlPart(p.url, p.mediaType, model, name));
    } else {
      // TODO(#4): Gemini takes PDFs and audio as inlineData/fileData; map them once ContentPart settles.
      throw unsupportedPart(p.type, 'in this adapter yet', model, name);
    }
  }
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

function unsupportedPart(type: string, where: string, model: string, name: string): BadRequestError {
  return new BadRequestError(errorMessage(name, model, `content part type '${type}' is not supported ${where}`), {
    provider: name,
    model,
    code: 'unsupported_content_part',
    retryable: false,
  });
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
