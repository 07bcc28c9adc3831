import type { CallContext } from './context.js';
import type { ChatMessage, ChatResult, ParsedResult, Usage } from './types.js';

const ZERO_USAGE: Usage = Object.freeze({ prompt: 0, completion: 0, total: 0, costEstimate: null }) as Usage;

/** Turn what an adapter parsed into the caller's `ChatResult`, adding routing, timing and attempts. */
export function buildResult(parsed: ParsedResult, ctx: CallContext, text: string = parsed.text): ChatResult {
  const message: ChatMessage = { role: 'assistant', content: text };
  if (parsed.toolCalls.length > 0) message.toolCalls = parsed.toolCalls;
  if (parsed.providerData !== undefined) message.providerData = parsed.providerData;
  return {
    text,
    reasoning: parsed.reasoning,
    toolCalls: parsed.toolCalls,
    message,
    finishReason: parsed.finishReason,
    usage: parsed.usage ?? { ...ZERO_USAGE },
    raw: parsed.raw,
    model: parsed.model || ctx.request.model,
    provider: ctx.provider,
    id: parsed.id,
    latencyMs: performance.now() - ctx.timing.startedAt,
    ttfbMs: ctx.timing.ttfbMs,
    attempts: ctx.attempt,
    cached: parsed.cached ?? false,
  };
}
