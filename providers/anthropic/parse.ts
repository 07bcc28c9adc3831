/**
 * A non-streaming Messages API body → `ParsedResult`, plus the pieces the stream decoder shares (stop reasons,
 * usage, tool inputs). Normalization rules: shared/fixtures/README.md.
 */
import type { FinishReason, ParsedResult, ResponseInfo, ToolCall, Usage } from '../../src/types.js';
import { invalidResponse, noAnswer } from '../shared/response-errors.js';
import { anthropicStreamError } from './errors.js';
import type { AnthropicContentBlock, AnthropicMessage, AnthropicUsageWire } from './wire.js';

/** Nesting depth beyond which tool input is not walked for `__proto__` keys (the API's JSON is far shallower). */
const MAX_INPUT_DEPTH = 64;

/**
 * Parse a `message` object. Text is every `text` block, concatenated; `thinking` blocks are not text: their text
 * is `reasoning`, and they (with `redacted_thinking` blocks) are kept verbatim, signature included, in
 * `providerData.anthropic.blocks` so the next turn can send them back. Tool calls come from `tool_use` blocks
 * (`arguments` is the block's `input`). Usage counts cache reads and writes in `prompt`.
 *
 * A 200 body that is no message throws instead of passing as an empty answer: an error body
 * (`{"type":"error","error":{type,message}}`, as a proxy may send with status 200) throws the typed error of its
 * type (`anthropicStreamError`, the in-stream table); a body without a `content` array (`{}`) throws `ServerError`
 * `invalid_response`, retryable. A message whose `content` is empty (a `refusal`, an `end_turn` with nothing to
 * add) is a normal result.
 *
 * @param body - the parsed JSON body of a 200 response
 * @param res - the response, for error messages
 * @example
 * const result = parseMessage(JSON.parse(text), res);
 */
export function parseMessage(body: unknown, res: ResponseInfo): ParsedResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidResponse(res, 'response body is not a message object');
  }
  const b = body as AnthropicMessage;
  if (b.type === 'error' || (b.error !== undefined && b.error !== null)) throw anthropicStreamError(res, b);
  if (!Array.isArray(b.content)) throw noAnswer(res, 'response has no content');
  let text = '';
  let reasoning: string | null = null;
  let thinkingBlocks: AnthropicContentBlock[] | null = null;
  const toolCalls: ToolCall[] = [];

  const content = b.content;
  for (let i = 0; i < content.length; i++) {
    const block = content[i];
    if (block === null || typeof block !== 'object') continue;
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') text += block.text;
        break;
      case 'tool_use':
        toolCalls.push({
          id: typeof block.id === 'string' && block.id !== '' ? block.id : `call_${toolCalls.length}`,
          name: typeof block.name === 'string' ? block.name : '',
          arguments: toolInput(block.input),
        });
        break;
      case 'thinking':
        if (typeof block.thinking === 'string') reasoning = (reasoning ?? '') + block.thinking;
        (thinkingBlocks ??= []).push(block);
        break;
      case 'redacted_thinking':
        (thinkingBlocks ??= []).push(block);
        break;
      // Server tool blocks (server_tool_use, web_search_tool_result, …) are in `raw`.
    }
  }

  const result: ParsedResult = {
    text,
    reasoning,
    toolCalls,
    finishReason: mapStopReason(b.stop_reason),
    usage: b.usage != null && typeof b.usage === 'object' ? mapUsage(b.usage) : null,
    model: typeof b.model === 'string' && b.model !== '' ? b.model : null,
    id: typeof b.id === 'string' && b.id !== '' ? b.id : null,
    raw: body,
  };
  if (thinkingBlocks !== null) result.providerData = { anthropic: { blocks: thinkingBlocks } };
  return result;
}

/** Anthropic `stop_reason` → the normalized finish reason (fixtures README, "Finish reasons"). */
export function mapStopReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // pause_turn, model_context_window_exceeded, and whatever the API adds later.
      return 'other';
  }
}

/**
 * Anthropic usage → `Usage`. `input_tokens` counts only the uncached part of the prompt, so the prompt the model
 * saw is input + cache writes + cache reads (fixtures README, "Usage"); missing fields count as 0. `cachedPrompt`
 * (cache reads) and `cacheWrite` (cache creation) are set when the provider reports them, even when 0.
 * `reasoning` is `output_tokens_details.thinking_tokens` where the API reports it (part of `output_tokens`); older
 * responses do not split thinking from the answer, and then `reasoning` is absent.
 *
 * Pricing note (for the pricing module): the three prompt parts are billed differently. Cache reads
 * (`cachedPrompt`) at the model's cache-read rate (0.1x base input), cache writes (`cacheWrite`) at the write rate
 * (1.25x base input for 5-minute writes, 2x for 1-hour ones: `raw.usage.cache_creation` splits them by TTL), and
 * the rest (`prompt - cachedPrompt - cacheWrite`) at the base input rate.
 */
export function mapUsage(u: AnthropicUsageWire): Usage {
  const cacheWrite = u.cache_creation_input_tokens;
  const cacheRead = u.cache_read_input_tokens;
  const prompt = num(u.input_tokens) + num(cacheWrite) + num(cacheRead);
  const completion = num(u.output_tokens);
  const usage: Usage = { prompt, completion, total: prompt + completion, costEstimate: null };
  if (typeof cacheRead === 'number') usage.cachedPrompt = cacheRead;
  if (typeof cacheWrite === 'number') usage.cacheWrite = cacheWrite;
  const thinking = thinkingTokens(u);
  if (thinking !== undefined) usage.reasoning = thinking;
  return usage;
}

/** `output_tokens_details.thinking_tokens`, when reported. */
export function thinkingTokens(u: AnthropicUsageWire): number | undefined {
  const details = u.output_tokens_details;
  if (details === undefined || details === null || typeof details !== 'object') return undefined;
  const n = details.thinking_tokens;
  return typeof n === 'number' ? n : undefined;
}

/**
 * A `tool_use` block's `input` as tool-call arguments. The API always sends an object; anything else becomes `{}`.
 * Own `__proto__` keys (which `JSON.parse` creates as plain properties) are removed in place, at every depth, so
 * model output cannot reach a prototype when callers `Object.assign` or spread the arguments.
 */
export function toolInput(input: unknown): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return {};
  dropProtoKeys(input, 0);
  return input as Record<string, unknown>;
}

function dropProtoKeys(value: object, depth: number): void {
  if (depth > MAX_INPUT_DEPTH) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v !== null && typeof v === 'object') dropProtoKeys(v, depth + 1);
    }
    return;
  }
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) delete (value as Record<string, unknown>)['__proto__'];
  for (const key in value) {
    const v: unknown = (value as Record<string, unknown>)[key];
    if (v !== null && typeof v === 'object') dropProtoKeys(v, depth + 1);
  }
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
