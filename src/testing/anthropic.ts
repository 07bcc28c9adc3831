/**
 * Anthropic Messages wire format (`POST /v1/messages`), framed like `shared/fixtures/anthropic/`: named events
 * (`event: <name>\ndata: <json>\n\n`) message_start, content_block_start, ping, content_block_delta,
 * content_block_stop, message_delta (stop_reason and cumulative usage), message_stop.
 */
import type { Reply } from './reply.js';
import { defaultErrorMessage, type ErrorSpec, type WireEvent, type WireFormat } from './wire.js';

const EOL2 = '\n\n';

function named(name: string, data: unknown, content = false): WireEvent {
  const event: WireEvent = { head: `event: ${name}\ndata: `, data: JSON.stringify(data), tail: EOL2 };
  if (content) event.content = true;
  return event;
}

function stopReason(reply: Reply): string {
  return reply.finishReason ?? (reply.toolCalls.length > 0 ? 'tool_use' : 'end_turn');
}

function toolUseId(reply: Reply, index: number, id: string | undefined): string {
  return id ?? `toolu_emu${reply.n}_${index}`;
}

/** Whether the reply has a text block: when it has text, or nothing else at all (an empty answer is one empty block). */
function hasTextBlock(reply: Reply): boolean {
  return reply.deltas.length > 0 || (reply.toolCalls.length === 0 && reply.reasoning.length === 0 && reply.redactedThinking === undefined);
}

/**
 * The usage object. `input_tokens` is the uncached part of the prompt (as on the real API), so the prompt the
 * client computes (input + cache writes + cache reads) is the reply's prompt count. Thinking tokens
 * (`output_tokens_details.thinking_tokens`) only when the rule scripted `reasoningTokens`.
 */
function usageOf(reply: Reply, outputTokens: number, final: boolean): Record<string, unknown> {
  const { prompt, cachedPrompt = 0, cacheWrite = 0, reasoning } = reply.usage;
  const usage: Record<string, unknown> = {
    input_tokens: Math.max(0, prompt - cachedPrompt - cacheWrite),
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cachedPrompt,
    output_tokens: outputTokens,
  };
  if (final && reply.reasoningTokensScripted && reasoning !== undefined) usage.output_tokens_details = { thinking_tokens: reasoning };
  return usage;
}

/** The signature of the reply's thinking block: opaque, and different per reply (like the real ones). */
function signatureOf(reply: Reply): string {
  return `emu_sig_${reply.n}`;
}

/** `error.type` for a status, from Anthropic's error reference. */
function errorType(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 500: return 'api_error';
    case 504: return 'timeout_error';
    case 529: return 'overloaded_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function errorInner(spec: ErrorSpec): { type: string; message: string } {
  return { type: spec.code ?? errorType(spec.status), message: spec.message ?? defaultErrorMessage(spec.status) };
}

/** The Anthropic Messages format. */
export const anthropicFormat: WireFormat = {
  provider: 'anthropic',
  requestIdHeader: 'request-id',
  jsonHeaders: { 'content-type': 'application/json' },
  sseHeaders: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  defaultStreamErrorStatus: 529,

  json(reply) {
    const content: unknown[] = [];
    if (reply.reasoning.length > 0) {
      content.push({ type: 'thinking', thinking: reply.reasoning.join(''), signature: signatureOf(reply) });
    }
    if (reply.redactedThinking !== undefined) content.push({ type: 'redacted_thinking', data: reply.redactedThinking });
    if (hasTextBlock(reply)) content.push({ type: 'text', text: reply.text });
    reply.toolCalls.forEach((call, i) => {
      content.push({ type: 'tool_use', id: toolUseId(reply, i, call.id), name: call.name, input: call.arguments });
    });
    return JSON.stringify({
      id: `msg_emu${reply.n}`,
      type: 'message',
      role: 'assistant',
      model: reply.model,
      content,
      stop_reason: stopReason(reply),
      stop_sequence: null,
      usage: usageOf(reply, reply.usage.completion, true),
    });
  },

  events(reply, { omitEndMarker }) {
    const out: WireEvent[] = [];
    out.push(named('message_start', {
      type: 'message_start',
      message: {
        id: `msg_emu${reply.n}`,
        type: 'message',
        role: 'assistant',
        model: reply.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // The API reports 1 output token at the start; message_delta carries the final count.
        usage: usageOf(reply, 1, false),
      },
    }));
    let index = 0;
    let pinged = false;
    const start = (block: unknown) => {
      out.push(named('content_block_start', { type: 'content_block_start', index, content_block: block }));
      // The API sends one ping right after the first content_block_start (every fixture does).
      if (!pinged) {
        out.push({ head: 'event: ping\ndata: ', data: '{"type": "ping"}', tail: EOL2, keepAlive: true });
        pinged = true;
      }
    };
    const delta = (d: unknown) => out.push(named('content_block_delta', { type: 'content_block_delta', index, delta: d }, true));
    const stop = () => {
      out.push(named('content_block_stop', { type: 'content_block_stop', index }));
      index += 1;
    };

    if (reply.reasoning.length > 0) {
      start({ type: 'thinking', thinking: '', signature: '' });
      for (const d of reply.reasoning) delta({ type: 'thinking_delta', thinking: d });
      delta({ type: 'signature_delta', signature: signatureOf(reply) });
      stop();
    }
    if (reply.redactedThinking !== undefined) {
      // Redacted thinking arrives whole in its content_block_start, with no deltas.
      start({ type: 'redacted_thinking', data: reply.redactedThinking });
      stop();
    }
    if (hasTextBlock(reply)) {
      start({ type: 'text', text: '' });
      for (const d of reply.deltas) delta({ type: 'text_delta', text: d });
      stop();
    }
    reply.toolCalls.forEach((call, i) => {
      start({ type: 'tool_use', id: toolUseId(reply, i, call.id), name: call.name, input: {} });
      // The API opens every tool_use with an empty partial_json (fixture anthropic/tool-use-stream).
      delta({ type: 'input_json_delta', partial_json: '' });
      for (const fragment of call.fragments) delta({ type: 'input_json_delta', partial_json: fragment });
      stop();
    });
    out.push(named('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason(reply), stop_sequence: null },
      usage: usageOf(reply, reply.usage.completion, true),
    }, true));
    if (!omitEndMarker) out.push(named('message_stop', { type: 'message_stop' }));
    return out;
  },

  keepAlive() {
    return { head: 'event: ping\ndata: ', data: '{"type": "ping"}', tail: EOL2, keepAlive: true };
  },

  errorBody(spec) {
    return JSON.stringify({ type: 'error', error: errorInner(spec), request_id: spec.requestId });
  },

  streamError(spec) {
    // fixture anthropic/stream-ping-overloaded-error: `event: error` without a request_id
    return named('error', { type: 'error', error: errorInner(spec) });
  },
};
