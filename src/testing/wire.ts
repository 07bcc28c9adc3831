/**
 * What a wire-format module of the emulator provides. A stream is a list of `WireEvent`s: the writer in
 * `faults.ts` adds pacing, pings and faults between them without knowing the format.
 */
import type { Reply } from './reply.js';
import type { EmulatorProvider } from './types.js';

/** One SSE event as `head + data + tail`, so a fault can cut `data` (the JSON) without breaking the framing. */
export interface WireEvent {
  /** `data: `, or `event: <name>\ndata: ` (Anthropic), or a whole comment line. */
  head: string;
  /** The JSON payload (or `[DONE]`); empty for comments. */
  data: string;
  /** The blank line ending the event: `\n\n`, or `\r\n\r\n` for Gemini. */
  tail: string;
  /** Keep-alives (comments, Anthropic `ping`) are never counted by `after`-style faults. */
  keepAlive?: boolean;
  /** Carries content (text, reasoning, tool arguments, usage): the event `malformedJson` cuts. */
  content?: boolean;
}

/** The error a rule asks for, resolved to one request. */
export interface ErrorSpec {
  status: number;
  code: string | undefined;
  message: string | undefined;
  /** `req_emu_<n>`; Anthropic echoes it in the body. */
  requestId: string;
  /** Gemini `RetryInfo.retryDelay`. */
  retryDelay: string | undefined;
}

/** One wire format: how to write replies, errors and keep-alives. */
export interface WireFormat {
  readonly provider: EmulatorProvider;
  /** Header carrying `req_emu_<n>`, or null when the real API sends none (Gemini). */
  readonly requestIdHeader: string | null;
  readonly jsonHeaders: Readonly<Record<string, string>>;
  readonly sseHeaders: Readonly<Record<string, string>>;
  /** Status of an in-stream error when the rule names none. */
  readonly defaultStreamErrorStatus: number;
  /** A non-streaming reply body. */
  json(reply: Reply): string;
  /** A streaming reply. `omitEndMarker` leaves out the format's end marker. */
  events(reply: Reply, options: { includeUsage: boolean; omitEndMarker: boolean }): WireEvent[];
  keepAlive(): WireEvent;
  /** An HTTP error body. */
  errorBody(spec: ErrorSpec): string;
  /** An error event inside a 200 stream. */
  streamError(spec: ErrorSpec): WireEvent;
}

/** A stable default message per status, close to what the providers say. */
export function defaultErrorMessage(status: number): string {
  switch (status) {
    case 400: return 'Invalid request.';
    case 401: return 'Invalid API key.';
    case 403: return 'Permission denied.';
    case 404: return 'The requested resource was not found.';
    case 408: return 'Request timed out.';
    case 409: return 'Conflict.';
    case 413: return 'Request too large.';
    case 422: return 'Unprocessable request.';
    case 429: return 'Rate limit exceeded.';
    case 500: return 'Internal server error.';
    case 502: return 'Bad gateway.';
    case 503: return 'The service is overloaded. Please try again later.';
    case 504: return 'Gateway timeout.';
    case 529: return 'Overloaded';
    default: return `Emulated error ${status}.`;
  }
}

/** A `data: <json>` event. */
export function dataEvent(data: string, tail: string, content = false): WireEvent {
  return content ? { head: 'data: ', data, tail, content } : { head: 'data: ', data, tail };
}

/** The bytes of an event; `cut` halves its JSON (the `malformedJson` fault). */
export function frame(event: WireEvent, cut = false): string {
  const data = cut ? event.data.slice(0, Math.ceil(event.data.length / 2)) : event.data;
  return event.head + data + event.tail;
}
