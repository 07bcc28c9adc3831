/**
 * A non-streaming Responses API body (`object: 'response'`) → `ParsedResult`, plus the pieces the stream decoder
 * shares (finish reason, usage, reasoning text, the items kept for the next turn). Normalization follows the Chat
 * Completions rules of shared/fixtures/README.md, so the same conversation gives the same result on both wires.
 */
import type { FiberError } from '../../../src/errors.js';
import type { FinishReason, ParsedResult, ResponseInfo, ToolCall, Usage } from '../../../src/types.js';
import { parseToolArguments } from '../../shared/parse-tool-arguments.js';
import { invalidResponse, noAnswer } from '../../shared/response-errors.js';
import { openaiStreamError } from '../errors.js';
import type { ResponsesKeptItem, ResponsesOutputItem, ResponsesProviderData, ResponsesReasoningItem, ResponsesResponse, ResponsesUsageWire } from './wire.js';

/** Separates reasoning summary parts (and reasoning items) in `result.reasoning`, on both the JSON and stream paths. */
export const REASONING_PART_SEPARATOR = '\n\n';

/**
 * Parse a `response` object.
 *
 * - text: every `output_text` part of every `message` item, concatenated (a `refusal` part is not text);
 * - reasoning: the `summary_text` parts of `reasoning` items (or their `reasoning_text` content, which
 *   open-weight servers send instead), joined with a blank line; null when there is none;
 * - toolCalls: `function_call` items in output order, id = `call_id`, arguments parsed (`""` → `{}`);
 * - finishReason: `completed` → `stop`, or `tool_calls` when a function call exists; `incomplete` with reason
 *   `max_output_tokens` → `length`, `content_filter` → `content_filter`; anything else → `other`;
 * - `status: 'failed'` (or any `error` object) throws the typed error of `response.error` (as a `response.failed`
 *   stream event does); a body that is only an error (`{"error": {…}}`) is parsed by the Chat wire, which throws
 *   the same typed error;
 * - a body without an `output` array throws `ServerError` `invalid_response`, retryable (an empty `output` with
 *   a status, such as a content-filtered `incomplete` response, is a normal result);
 * - providerData: `{ openaiResponses: { items } }` when the output has reasoning items (see `keptItems`).
 *
 * @param body - the parsed JSON body of a 200 response
 * @param res - the response, for error messages
 * @example
 * const result = parseResponses(JSON.parse(text), res);
 */
export function parseResponses(body: unknown, res: ResponseInfo): ParsedResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidResponse(res, 'response body is not a response object');
  }
  const b = body as ResponsesResponse;
  if (b.status === 'failed' || (b.error !== undefined && b.error !== null)) throw responsesFailure(res, b);
  if (!Array.isArray(b.output)) throw noAnswer(res, 'response has no output');
  const output = b.output;
  const toolCalls = outputToolCalls(output, res);
  const parsed: ParsedResult = {
    text: outputText(output),
    reasoning: reasoningText(output),
    toolCalls,
    finishReason: mapResponsesFinish(b.status, b.incomplete_details?.reason, toolCalls.length > 0),
    usage: b.usage != null && typeof b.usage === 'object' ? mapResponsesUsage(b.usage) : null,
    model: typeof b.model === 'string' && b.model !== '' ? b.model : null,
    id: typeof b.id === 'string' && b.id !== '' ? b.id : null,
    raw: body,
  };
  const providerData = responsesProviderData(output, b.store);
  if (providerData !== undefined) parsed.providerData = providerData;
  return parsed;
}

/** Responses `status` (+ `incomplete_details.reason`) → the normalized finish reason. */
export function mapResponsesFinish(status: string | null | undefined, incompleteReason: string | null | undefined, hasToolCalls: boolean): FinishReason {
  if (status === 'completed') return hasToolCalls ? 'tool_calls' : 'stop';
  if (status === 'incomplete') {
    if (incompleteReason === 'max_output_tokens') return 'length';
    if (incompleteReason === 'content_filter') return 'content_filter';
  }
  return 'other';
}

/**
 * Responses usage → `Usage`: `input_tokens` (cached tokens included) and `output_tokens` (reasoning tokens
 * included). Details (`cachedPrompt`, `reasoning`) only where the provider reports them.
 */
export function mapResponsesUsage(u: ResponsesUsageWire): Usage {
  const prompt = typeof u.input_tokens === 'number' ? u.input_tokens : 0;
  const completion = typeof u.output_tokens === 'number' ? u.output_tokens : 0;
  const usage: Usage = {
    prompt,
    completion,
    total: typeof u.total_tokens === 'number' ? u.total_tokens : prompt + completion,
    costEstimate: null,
  };
  const cached = u.input_tokens_details?.cached_tokens;
  if (typeof cached === 'number') usage.cachedPrompt = cached;
  const reasoning = u.output_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') usage.reasoning = reasoning;
  return usage;
}

/**
 * The typed error for a `failed` response (`response.error: { code, message }`), by the in-stream error table:
 * its status from the code (`server_error` → 500, `insufficient_quota` → 429, `invalid_prompt` → 400), retryable
 * by that status (not for the caller's errors, nor for `insufficient_quota`).
 */
export function responsesFailure(res: ResponseInfo, response: ResponsesResponse): FiberError {
  return openaiStreamError(res, response);
}

/** Concatenated `output_text` of every message item. */
export function outputText(output: readonly ResponsesOutputItem[]): string {
  let text = '';
  for (let i = 0; i < output.length; i++) {
    const item = output[i];
    if (item == null || item.type !== 'message' || !Array.isArray(item.content)) continue;
    for (const part of item.content) {
      if (part != null && part.type === 'output_text' && typeof part.text === 'string') text += part.text;
    }
  }
  return text;
}

/** Reasoning summary parts (or `reasoning_text` content) of every reasoning item, joined with a blank line. */
export function reasoningText(output: readonly ResponsesOutputItem[]): string | null {
  let text: string | null = null;
  for (let i = 0; i < output.length; i++) {
    const item = output[i];
    if (item == null || item.type !== 'reasoning') continue;
    let parts = textParts(item.summary, 'summary_text');
    if (parts.length === 0) parts = textParts(item.content, 'reasoning_text');
    for (const part of parts) text = text === null ? part : text + REASONING_PART_SEPARATOR + part;
  }
  return text;
}

function textParts(parts: ResponsesOutputItem['summary'], type: string): string[] {
  const out: string[] = [];
  if (!Array.isArray(parts)) return out;
  for (const p of parts) if (p != null && p.type === type && typeof p.text === 'string' && p.text !== '') out.push(p.text);
  return out;
}

/** `function_call` items → tool calls, in output order. */
export function outputToolCalls(output: readonly ResponsesOutputItem[], res: ResponseInfo): ToolCall[] {
  const calls: ToolCall[] = [];
  for (let i = 0; i < output.length; i++) {
    const item = output[i];
    if (item == null || item.type !== 'function_call') continue;
    const name = typeof item.name === 'string' ? item.name : '';
    calls.push({ id: callIdOf(item, calls.length), name, arguments: parseToolArguments(item.arguments, name, res) });
  }
  return calls;
}

/** The id a tool call gets: `call_id` (what `function_call_output` answers), else the item id, else `call_<n>`. */
export function callIdOf(item: { call_id?: unknown; id?: unknown }, n: number): string {
  if (typeof item.call_id === 'string' && item.call_id !== '') return item.call_id;
  if (typeof item.id === 'string' && item.id !== '') return item.id;
  return `call_${n}`;
}

/**
 * What an assistant turn keeps for the next request, in output order, or `undefined` when the output has no
 * reasoning item worth sending back (then nothing is kept, and the turn looks exactly like a Chat Completions one).
 *
 * - reasoning items: `summary` and `encrypted_content` (present when the request asked for
 *   `include: ['reasoning.encrypted_content']`), plus the item `id` when the response was stored;
 * - for a stored response (`store` not false), the ids of the message and function-call items, so the replayed
 *   reasoning item is followed by the very items it produced (the API rejects a reasoning item "without its
 *   required following item" otherwise).
 *
 * A response with `store: false` persisted nothing, so ids would be dangling references: they are dropped, and a
 * reasoning item without `encrypted_content` cannot be replayed at all and is dropped too.
 */
export function keptItems(output: readonly ResponsesOutputItem[], store: boolean | null | undefined): ResponsesKeptItem[] {
  const stored = store !== false;
  const kept: ResponsesKeptItem[] = [];
  let reasoning = false;
  for (let i = 0; i < output.length; i++) {
    const item = output[i];
    if (item == null) continue;
    const id = typeof item.id === 'string' && item.id !== '' ? item.id : undefined;
    if (item.type === 'reasoning') {
      const encrypted = typeof item.encrypted_content === 'string' && item.encrypted_content !== '' ? item.encrypted_content : undefined;
      if (encrypted === undefined && (!stored || id === undefined)) continue;
      const r: ResponsesReasoningItem = { type: 'reasoning', summary: summaryOf(item) };
      if (stored && id !== undefined) r.id = id;
      if (encrypted !== undefined) r.encrypted_content = encrypted;
      kept.push(r);
      reasoning = true;
    } else if (stored && id !== undefined) {
      if (item.type === 'message') kept.push({ type: 'message', id });
      else if (item.type === 'function_call' && typeof item.call_id === 'string') kept.push({ type: 'function_call', id, call_id: item.call_id });
    }
  }
  return reasoning ? kept : [];
}

/** `providerData` for an output, or undefined when nothing is kept. */
export function responsesProviderData(output: readonly ResponsesOutputItem[], store: boolean | null | undefined): { openaiResponses: ResponsesProviderData } | undefined {
  const items = keptItems(output, store);
  return items.length > 0 ? { openaiResponses: { items } } : undefined;
}

function summaryOf(item: ResponsesOutputItem): ResponsesReasoningItem['summary'] {
  const out: ResponsesReasoningItem['summary'] = [];
  if (!Array.isArray(item.summary)) return out;
  for (const p of item.summary) if (p != null && typeof p.text === 'string') out.push({ type: 'summary_text', text: p.text });
  return out;
}
