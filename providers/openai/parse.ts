/**
 * A non-streaming Chat Completions body → `ParsedResult`, plus the pieces the stream decoder shares (finish
 * reasons, usage, reasoning text); tool-call arguments are parsed by `../shared/parse-tool-arguments.ts`. Normalization rules: shared/fixtures/README.md.
 */
import type { FinishReason, ParsedResult, ResponseInfo, ToolCall, Usage } from '../../src/types.js';
import { parseToolArguments } from '../shared/parse-tool-arguments.js';
import { invalidResponse, noAnswer } from '../shared/response-errors.js';
import { openaiStreamError } from './errors.js';
import type { OpenAIChatCompletion, OpenAIUsageWire } from './wire.js';

/**
 * Parse a `chat.completion` object. Text is `message.content` (a `refusal` is not text); tool-call arguments are
 * parsed (`""` → `{}`); usage is null when the body has none. `reasoning` is the message's `reasoning_content`
 * (else `reasoning`), which OpenAI-compatible servers such as DeepSeek and vLLM send; OpenAI itself sends none on
 * this wire, so it is null there. It is never part of `text`.
 *
 * A 200 body that is no answer throws instead of passing as an empty one: a body holding an error object
 * (`{"error": {…}}`, as proxies and OpenAI-compatible servers send) throws the typed error its code or type names
 * (`openaiStreamError`, the in-stream table); a body with no choice at all (`{}`, `choices: []`) throws
 * `ServerError` `invalid_response`, retryable. A choice with `content: null` (a content filter, a refusal, a
 * tool-call-only answer) is a normal result.
 *
 * @param body - the parsed JSON body of a 200 response
 * @param res - the response, for error messages
 * @example
 * const result = parseChat(JSON.parse(text), res);
 */
export function parseChat(body: unknown, res: ResponseInfo): ParsedResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidResponse(res, 'response body is not a chat completion object');
  }
  const b = body as OpenAIChatCompletion;
  if (b.error !== undefined && b.error !== null) throw openaiStreamError(res, b);
  const choice = Array.isArray(b.choices) ? b.choices[0] : undefined;
  if (choice === undefined || choice === null || typeof choice !== 'object') throw noAnswer(res, 'response has no choices');
  const message = choice.message;
  const content = message?.content;

  const toolCalls: ToolCall[] = [];
  const wireCalls = message?.tool_calls;
  if (Array.isArray(wireCalls)) {
    for (let i = 0; i < wireCalls.length; i++) {
      const c = wireCalls[i]!;
      // Custom (free-form) tools have no `function`; they are not part of this adapter's tool model.
      if (c.function === undefined || c.function === null) continue;
      const name = typeof c.function.name === 'string' ? c.function.name : '';
      toolCalls.push({
        id: typeof c.id === 'string' && c.id !== '' ? c.id : `call_${i}`,
        name,
        arguments: parseToolArguments(c.function.arguments, name, res),
      });
    }
  }

  return {
    text: typeof content === 'string' ? content : '',
    reasoning: reasoningText(message?.reasoning_content, message?.reasoning),
    toolCalls,
    finishReason: mapFinishReason(choice.finish_reason),
    usage: b.usage != null && typeof b.usage === 'object' ? mapUsage(b.usage) : null,
    model: typeof b.model === 'string' && b.model !== '' ? b.model : null,
    id: typeof b.id === 'string' && b.id !== '' ? b.id : null,
    raw: body,
  };
}

/**
 * The reasoning text of a message or delta: `reasoning_content` (DeepSeek, vLLM, llama.cpp) else `reasoning`
 * (Groq, OpenRouter, newer vLLM); null when neither is a non-empty string.
 */
export function reasoningText(reasoningContent: unknown, reasoning: unknown): string | null {
  if (typeof reasoningContent === 'string' && reasoningContent !== '') return reasoningContent;
  if (typeof reasoning === 'string' && reasoning !== '') return reasoning;
  return null;
}

/** OpenAI `finish_reason` → the normalized finish reason. */
export function mapFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
      return 'content_filter';
    default:
      return 'other';
  }
}

/**
 * OpenAI usage → `Usage`. Details only where the provider reports them: `prompt_tokens_details.cached_tokens` →
 * `cachedPrompt` (automatic prompt caching; part of `prompt`), `completion_tokens_details.reasoning_tokens` →
 * `reasoning` (part of `completion`). OpenAI charges nothing extra to write its cache, so there is no `cacheWrite`.
 *
 * Pricing note (for the pricing module): `cachedPrompt` tokens are billed at the model's cached-input rate (the
 * pricing table's `cachedInputPerMTok`), the rest of `prompt` at the input rate; `reasoning` tokens are output
 * tokens, already inside `completion`, billed at the output rate (never add them twice).
 */
export function mapUsage(u: OpenAIUsageWire): Usage {
  const prompt = num(u.prompt_tokens);
  const completion = num(u.completion_tokens);
  const usage: Usage = {
    prompt,
    completion,
    total: typeof u.total_tokens === 'number' ? u.total_tokens : prompt + completion,
    costEstimate: null,
  };
  const cached = u.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') usage.cachedPrompt = cached;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  if (typeof reasoning === 'number') usage.reasoning = reasoning;
  return usage;
}


function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
