/**
 * OpenAI Chat Completions wire format (`POST /v1/chat/completions`), framed like the recordings in
 * `shared/fixtures/openai/`: `data: <json>\n\n` events, tool-call fragments merged by `index` (id, type and name
 * only on the first fragment), an optional usage chunk with `choices: []`, then `data: [DONE]`.
 */
import { CREATED, type Reply } from './reply.js';
import { dataEvent, defaultErrorMessage, type ErrorSpec, type WireEvent, type WireFormat } from './wire.js';

const EOL2 = '\n\n';

function toolCallId(reply: Reply, index: number, id: string | undefined): string {
  return id ?? `call_emu${reply.n}_${index}`;
}

function finishReason(reply: Reply): string {
  return reply.finishReason ?? (reply.toolCalls.length > 0 ? 'tool_calls' : 'stop');
}

/**
 * The usage object. The `*_details` objects are sent only when the reply has cached or reasoning tokens to report
 * (the real API always sends them; leaving them out keeps the plain replies minimal).
 */
function usageOf(reply: Reply): Record<string, unknown> {
  const { prompt, completion, cachedPrompt, reasoning } = reply.usage;
  const usage: Record<string, unknown> = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cachedPrompt !== undefined || reasoning !== undefined) {
    usage.prompt_tokens_details = { cached_tokens: cachedPrompt ?? 0, audio_tokens: 0 };
    usage.completion_tokens_details = { reasoning_tokens: reasoning ?? 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 };
  }
  return usage;
}

/** `type` and `code` the real API sends for a status (see the `error-*` fixtures). */
function errorKind(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 403) return { type: 'request_forbidden', code: null };
  if (status === 404) return { type: 'invalid_request_error', code: 'model_not_found' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

function errorObject(spec: ErrorSpec): { error: { message: string; type: string; param: null; code: string | null } } {
  const kind = errorKind(spec.status);
  return {
    error: {
      message: spec.message ?? defaultErrorMessage(spec.status),
      type: kind.type,
      param: null,
      code: spec.code ?? kind.code,
    },
  };
}

/** The OpenAI Chat Completions format. */
export const openaiFormat: WireFormat = {
  provider: 'openai',
  requestIdHeader: 'x-request-id',
  jsonHeaders: { 'content-type': 'application/json' },
  sseHeaders: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
  defaultStreamErrorStatus: 500,

  json(reply) {
    const message: Record<string, unknown> = {
      role: 'assistant',
      // The API sends null content for a tool-call-only answer (fixture openai/tool-call).
      content: reply.text.length === 0 && reply.toolCalls.length > 0 ? null : reply.text,
    };
    if (reply.reasoning.length > 0) message.reasoning_content = reply.reasoning.join('');
    if (reply.toolCalls.length > 0) {
      message.tool_calls = reply.toolCalls.map((call, i) => ({
        id: toolCallId(reply, i, call.id),
        type: 'function',
        function: { name: call.name, arguments: call.fragments.join('') },
      }));
    }
    message.refusal = null;
    message.annotations = [];
    return JSON.stringify(
      {
        id: `chatcmpl-emu${reply.n}`,
        object: 'chat.completion',
        created: CREATED,
        model: reply.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(reply) }],
        usage: usageOf(reply),
        service_tier: 'default',
        system_fingerprint: 'fp_emu',
      },
      null,
      2,
    );
  },

  events(reply, { includeUsage, omitEndMarker }) {
    const chunk = (choices: unknown[], usage?: unknown): string => {
      const body: Record<string, unknown> = {
        id: `chatcmpl-emu${reply.n}`,
        object: 'chat.completion.chunk',
        created: CREATED,
        model: reply.model,
        system_fingerprint: 'fp_emu',
        choices,
      };
      // With include_usage every chunk carries `"usage":null` until the last one (fixture openai/stream-usage).
      if (includeUsage) body.usage = usage ?? null;
      return JSON.stringify(body);
    };
    const choice = (delta: unknown, finish: string | null = null) => [
      { index: 0, delta, logprobs: null, finish_reason: finish },
    ];

    const out: WireEvent[] = [];
    out.push(dataEvent(chunk(choice({ role: 'assistant', content: '', refusal: null })), EOL2));
    for (const d of reply.reasoning) out.push(dataEvent(chunk(choice({ reasoning_content: d })), EOL2, true));
    for (const d of reply.deltas) out.push(dataEvent(chunk(choice({ content: d })), EOL2, true));
    reply.toolCalls.forEach((call, index) => {
      const head = { index, id: toolCallId(reply, index, call.id), type: 'function', function: { name: call.name, arguments: '' } };
      out.push(dataEvent(chunk(choice({ tool_calls: [head] })), EOL2, true));
      for (const fragment of call.fragments) {
        out.push(dataEvent(chunk(choice({ tool_calls: [{ index, function: { arguments: fragment } }] })), EOL2, true));
      }
    });
    out.push(dataEvent(chunk(choice({}, finishReason(reply))), EOL2));
    if (includeUsage) out.push(dataEvent(chunk([], usageOf(reply)), EOL2, true));
    if (!omitEndMarker) out.push(dataEvent('[DONE]', EOL2));
    return out;
  },

  keepAlive() {
    return { head: ': ping', data: '', tail: EOL2, keepAlive: true };
  },

  errorBody(spec) {
    return JSON.stringify(errorObject(spec), null, 2);
  },

  streamError(spec) {
    // fixture openai/stream-error-event: `data: {"error":{...}}` with no event name
    return dataEvent(JSON.stringify(errorObject(spec)), EOL2);
  },
};
