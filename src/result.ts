import type { CallContext } from './context.js';
import type { ChatMessage, ChatResult, ParsedResult, StreamFinal, Usage } from './types.js';

const ZERO_USAGE: Usage = Object.freeze({ prompt: 0, completion: 0, total: 0, costEstimate: null }) as Usage;

/**
 * Turn what an adapter parsed into the caller's `ChatResult`, adding routing, timing and attempts. A stream passes
 * its decoder's final facts with the text it delivered: `StreamFinal.text` is never read (decoders leave it unset).
 */
export function buildResult(parsed: ParsedResult, ctx: CallContext): ChatResult;
export function buildResult(final: StreamFinal, ctx: CallContext, text: string): ChatResult;
export function buildResult(parsed: ParsedResult | StreamFinal, ctx: CallContext, delivered?: string): ChatResult {
  // The overloads make `delivered` present exactly for a StreamFinal, whose own `text` is ignored.
  const text = delivered !== undefined ? delivered : (parsed as ParsedResult).text;
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
