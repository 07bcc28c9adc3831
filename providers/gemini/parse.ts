/**
 * A non-streaming `GenerateContentResponse` → `ParsedResult`, plus the pieces the stream decoder shares (finish
 * reasons, usage, function-call arguments). Normalization rules: shared/fixtures/README.md.
 *
 * Safety blocks are a normal result, not a thrown `ContentFilterError`: a candidate finishing with `SAFETY` (and
 * the rest of the safety family) or a prompt blocked with `promptFeedback.blockReason` returns
 * `finishReason: 'content_filter'` with whatever text, usage, model and id came with it, as the fixtures expect
 * (`gemini/safety-finish`, `gemini/prompt-blocked`) and as OpenAI's `content_filter` finish reason is reported.
 * The caller decides whether that is an error; a blocked prompt is not retryable anyway.
 */
import type { FinishReason, ParsedResult, ResponseInfo, ToolCall, Usage } from '../../src/types.js';
import { invalidResponse, invalidToolArguments, noAnswer } from '../shared/response-errors.js';
import { geminiStreamError } from './errors.js';
import type { GeminiFunctionCall, GeminiGenerateContentResponse, GeminiPart, GeminiUsageMetadata } from './wire.js';

/**
 * Parse a `GenerateContentResponse`. Text is every `text` part of the first candidate except thought parts
 * (`thought: true`, which are `reasoning`); tool calls are its `functionCall` parts in order, with
 * `functionCall.id` or else `call_<n>` (`n` = 0-based position among the response's calls). When any part carries
 * a `thoughtSignature`, the parts are kept as `providerData.gemini.parts` so the next turn can send them back.
 *
 * A 200 body that is no answer throws instead of passing as an empty one: a body holding a `google.rpc.Status`
 * (`{"error": {code, message, status}}`) throws the typed error of its code (`geminiStreamError`, the in-band
 * rule); a body with no candidate and no `promptFeedback.blockReason` (`{}`) throws `ServerError`
 * `invalid_response`, retryable. A blocked prompt (no candidate, a block reason) and a candidate stopped by a
 * safety filter (no content) are normal `content_filter` results.
 *
 * @param body - the parsed JSON body of a 200 response
 * @param res - the response, for error messages
 * @example
 * const result = parseGenerateContent(JSON.parse(text), res);
 */
export function parseGenerateContent(body: unknown, res: ResponseInfo): ParsedResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidResponse(res, 'response body is not a GenerateContentResponse object');
  }
  const b = body as GeminiGenerateContentResponse;
  if (b.error !== undefined && b.error !== null) throw geminiStreamError(res, b);
  let candidate = Array.isArray(b.candidates) ? b.candidates[0] : undefined;
  if (candidate === null || typeof candidate !== 'object') candidate = undefined;
  if (candidate === undefined && !hasBlockReason(b)) throw noAnswer(res, 'response has no candidates');
  const parts = candidate?.content?.parts;

  let text = '';
  let reasoning: string | null = null;
  const toolCalls: ToolCall[] = [];
  let signed = false;
  if (Array.isArray(parts)) {
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p === null || typeof p !== 'object') continue;
      if (p.thoughtSignature !== undefined) signed = true;
      const t = p.text;
      if (typeof t === 'string') {
        if (p.thought === true) reasoning = reasoning === null ? t : reasoning + t;
        else text += t;
      }
      const call = p.functionCall;
      if (call !== undefined && call !== null && typeof call === 'object') toolCalls.push(toToolCall(call, toolCalls.length, res));
    }
  }

  const result: ParsedResult = {
    text,
    reasoning,
    toolCalls,
    finishReason: mapFinishReason(candidate?.finishReason, toolCalls.length > 0, candidate === undefined && hasBlockReason(b)),
    usage: b.usageMetadata != null && typeof b.usageMetadata === 'object' ? mapUsage(b.usageMetadata) : null,
    model: typeof b.modelVersion === 'string' && b.modelVersion !== '' ? b.modelVersion : null,
    id: typeof b.responseId === 'string' && b.responseId !== '' ? b.responseId : null,
    raw: body,
  };
  if (signed) result.providerData = { gemini: { parts: (parts as GeminiPart[]).slice() } };
  return result;
}

/** True when the prompt itself was blocked (`promptFeedback.blockReason` set). */
export function hasBlockReason(b: GeminiGenerateContentResponse): boolean {
  const feedback = b.promptFeedback;
  return feedback !== undefined && feedback !== null && typeof feedback.blockReason === 'string' && feedback.blockReason !== '';
}

/**
 * Gemini `finishReason` → the normalized finish reason (fixtures README table). Gemini has no tool-specific reason:
 * `STOP` with function calls is `tool_calls`. A blocked prompt (no candidate, `promptFeedback.blockReason`) is
 * `content_filter`.
 *
 * @param reason - the candidate's `finishReason`
 * @param hasToolCalls - whether the response had any `functionCall` part
 * @param isBlocked - whether the prompt was blocked without a candidate
 */
export function mapFinishReason(reason: string | null | undefined, hasToolCalls: boolean, isBlocked: boolean): FinishReason {
  switch (reason) {
    case 'STOP':
      return hasToolCalls ? 'tool_calls' : 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
      return 'content_filter';
    case undefined:
    case null:
      return isBlocked ? 'content_filter' : 'other';
    default:
      return 'other';
  }
}

/**
 * Gemini `usageMetadata` → `Usage`. Completion includes thinking tokens, which Gemini bills as output and counts in
 * `totalTokenCount` (fixtures README); missing counts are 0. `cachedPrompt` (`cachedContentTokenCount`: implicit
 * cache hits, or an explicit `cachedContent`) and `reasoning` (`thoughtsTokenCount`) only where reported. Gemini
 * reports no cache writes (implicit caching costs nothing to write), so there is no `cacheWrite`.
 *
 * Pricing note (for the pricing module): `cachedPrompt` tokens (part of `promptTokenCount`) are billed at the
 * model's cached-input rate, the rest of `prompt` at the input rate; thinking tokens at the output rate, already
 * inside `completion`. Explicit caches also bill storage per hour, which no response reports.
 */
export function mapUsage(u: GeminiUsageMetadata): Usage {
  const prompt = num(u.promptTokenCount);
  const thoughts = u.thoughtsTokenCount;
  const completion = num(u.candidatesTokenCount) + num(thoughts);
  const usage: Usage = {
    prompt,
    completion,
    total: typeof u.totalTokenCount === 'number' ? u.totalTokenCount : prompt + completion,
    costEstimate: null,
  };
  if (typeof u.cachedContentTokenCount === 'number') usage.cachedPrompt = u.cachedContentTokenCount;
  if (typeof thoughts === 'number') usage.reasoning = thoughts;
  return usage;
}

/**
 * A `functionCall` part → `ToolCall`. `args` is already an object on the wire (a protobuf `Struct`); anything else
 * throws `ServerError` `invalid_tool_arguments` naming the tool, never quoting the arguments.
 *
 * @param index - the call's 0-based position among the response's function calls (for `call_<n>`)
 */
export function toToolCall(call: GeminiFunctionCall, index: number, res: ResponseInfo): ToolCall {
  const name = typeof call.name === 'string' ? call.name : '';
  const args = call.args;
  let parsed: Record<string, unknown>;
  if (args === undefined || args === null) parsed = {};
  else if (typeof args === 'object' && !Array.isArray(args)) parsed = withoutProto(args, 0) as Record<string, unknown>;
  else throw invalidToolArguments(res, name);
  return { id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${index}`, name, arguments: parsed };
}

/**
 * The transport parses bodies with plain `JSON.parse`, which keeps a `"__proto__"` key as an own property; a caller
 * that `Object.assign`s the arguments would then set a prototype. Drop such keys at any depth, copying only the
 * objects that hold one (the usual clean case allocates nothing).
 */
function withoutProto(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const clean = withoutProto(v, depth + 1);
      if (clean !== v) (copy ??= value.slice())[i] = clean;
    }
    return copy ?? value;
  }
  const obj = value as Record<string, unknown>;
  let copy: Record<string, unknown> | null = null;
  for (const key of Object.keys(obj)) {
    if (key === '__proto__') {
      copy ??= copyObject(obj);
      continue;
    }
    const v = obj[key];
    const clean = withoutProto(v, depth + 1);
    if (clean !== v) (copy ??= copyObject(obj))[key] = clean;
  }
  return copy ?? obj;
}

/** An own-property copy of a JSON object, without `__proto__` keys (defined, not assigned). */
function copyObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    if (key === '__proto__') continue;
    Object.defineProperty(out, key, { value: obj[key], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
