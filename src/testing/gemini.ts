/**
 * Gemini `generateContent` / `streamGenerateContent?alt=sse` wire format, framed like `shared/fixtures/gemini/`:
 * `data: <json>\r\n\r\n` events, each a whole `GenerateContentResponse` with cumulative `usageMetadata`; the
 * last candidate carries `finishReason` (the end marker). Errors are `google.rpc.Status` objects.
 */
import type { Reply } from './reply.js';
import { dataEvent, defaultErrorMessage, type ErrorSpec, type WireEvent, type WireFormat } from './wire.js';

const EOL2 = '\r\n\r\n';

/** `google.rpc.Code` name for an HTTP status (https://cloud.google.com/apis/design/errors#handling_errors). */
function rpcStatus(status: number): string {
  switch (status) {
    case 400: return 'INVALID_ARGUMENT';
    case 401: return 'UNAUTHENTICATED';
    case 403: return 'PERMISSION_DENIED';
    case 404: return 'NOT_FOUND';
    case 408: return 'DEADLINE_EXCEEDED';
    case 409: return 'ABORTED';
    case 429: return 'RESOURCE_EXHAUSTED';
    case 499: return 'CANCELLED';
    case 500: return 'INTERNAL';
    case 501: return 'UNIMPLEMENTED';
    case 503: return 'UNAVAILABLE';
    case 504: return 'DEADLINE_EXCEEDED';
    default: return status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION';
  }
}

function errorObject(spec: ErrorSpec): { error: Record<string, unknown> } {
  const error: Record<string, unknown> = {
    code: spec.status,
    message: spec.message ?? defaultErrorMessage(spec.status),
    status: spec.code ?? rpcStatus(spec.status),
  };
  if (spec.retryDelay !== undefined) {
    error.details = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: spec.retryDelay }];
  }
  return { error };
}

function functionCallPart(call: Reply['toolCalls'][number]): unknown {
  // Gemini sends no call id unless the caller scripted one.
  return { functionCall: call.id === undefined ? { name: call.name, args: call.arguments } : { id: call.id, name: call.name, args: call.arguments } };
}

/**
 * Cumulative `usageMetadata` after `completion` output tokens. Thinking tokens (`thoughtsTokenCount`) are part of
 * the reply's completion count, reported apart from `candidatesTokenCount` as Gemini does; `cachedContentTokenCount`
 * is part of `promptTokenCount`. Both only when the reply has them.
 */
function usageMetadata(reply: Reply, completion: number): Record<string, number> {
  const { prompt, cachedPrompt, reasoning } = reply.usage;
  const thoughts = reasoning === undefined ? undefined : Math.min(reasoning, completion);
  const meta: Record<string, number> = {
    promptTokenCount: prompt,
    candidatesTokenCount: completion - (thoughts ?? 0),
    totalTokenCount: prompt + completion,
  };
  if (cachedPrompt !== undefined) meta.cachedContentTokenCount = cachedPrompt;
  if (thoughts !== undefined) meta.thoughtsTokenCount = thoughts;
  return meta;
}

function response(reply: Reply, parts: unknown[], finishReason: string | undefined, candidates: number): Record<string, unknown> {
  const candidate: Record<string, unknown> = { content: { parts, role: 'model' } };
  if (finishReason !== undefined) candidate.finishReason = finishReason;
  candidate.index = 0;
  return {
    candidates: [candidate],
    usageMetadata: usageMetadata(reply, candidates),
    modelVersion: reply.model,
    responseId: `emu${reply.n}`,
  };
}

/** The Gemini format. */
export const geminiFormat: WireFormat = {
  provider: 'gemini',
  // The Gemini API sends no request-id header.
  requestIdHeader: null,
  jsonHeaders: { 'content-type': 'application/json; charset=UTF-8' },
  sseHeaders: { 'content-type': 'text/event-stream', 'content-disposition': 'attachment' },
  defaultStreamErrorStatus: 503,

  json(reply) {
    const parts: unknown[] = [];
    if (reply.reasoning.length > 0) parts.push({ text: reply.reasoning.join(''), thought: true });
    if (reply.text.length > 0 || reply.toolCalls.length === 0) parts.push({ text: reply.text });
    for (const call of reply.toolCalls) parts.push(functionCallPart(call));
    return JSON.stringify(response(reply, parts, reply.finishReason ?? 'STOP', reply.usage.completion), null, 2);
  },

  events(reply, { omitEndMarker }) {
    const partsPerChunk: unknown[][] = [];
    for (const d of reply.reasoning) partsPerChunk.push([{ text: d, thought: true }]);
    for (const d of reply.deltas) partsPerChunk.push([{ text: d }]);
    for (const call of reply.toolCalls) partsPerChunk.push([functionCallPart(call)]);
    if (partsPerChunk.length === 0) partsPerChunk.push([{ text: '' }]);

    const last = partsPerChunk.length - 1;
    const { completion } = reply.usage;
    return partsPerChunk.map((parts, i): WireEvent => {
      const finish = i === last && !omitEndMarker ? reply.finishReason ?? 'STOP' : undefined;
      // Cumulative candidate tokens, reaching the reported total on the last chunk.
      const candidates = i === last ? completion : Math.min(i + 1, completion);
      return dataEvent(JSON.stringify(response(reply, parts, finish, candidates)), EOL2, true);
    });
  },

  keepAlive() {
    return { head: ': ping', data: '', tail: EOL2, keepAlive: true };
  },

  errorBody(spec) {
    return JSON.stringify(errorObject(spec), null, 2);
  },

  streamError(spec) {
    // fixture gemini/stream-error-event: a google.rpc.Status object as a data event
    return dataEvent(JSON.stringify(errorObject(spec)), EOL2);
  },
};
