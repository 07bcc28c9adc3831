/**
 * Gemini error responses (`google.rpc.Status` bodies) → `FiberError` subclasses. The only file that knows Gemini's
 * error codes.
 *
 * Class by HTTP status and `error.status` (fixtures README "Errors", https://ai.google.dev/gemini-api/docs/troubleshooting):
 *
 * | status | class | notes |
 * | --- | --- | --- |
 * | 400 `INVALID_ARGUMENT` / `FAILED_PRECONDITION`, other 4xx | `BadRequestError` | `ErrorInfo.reason` `API_KEY_INVALID` → `AuthError`; "The input token count (N) exceeds the maximum …" → `ContextLengthError` |
 * | 401, 403 | `AuthError` | |
 * | 404 `NOT_FOUND` | `NotFoundError` | |
 * | 408, 504 `DEADLINE_EXCEEDED` | `TimeoutError`, phase `'headers'` | as in the OpenAI adapter: the server's deadline passed before it answered |
 * | 429 `RESOURCE_EXHAUSTED` | `RateLimitError` | `retryAfterMs` from `retry-after(-ms)`, else `google.rpc.RetryInfo.retryDelay` |
 * | 503 `UNAVAILABLE` | `OverloadedError` | |
 * | other 5xx | `ServerError` | |
 *
 * `retryable` is `@google/genai`'s retry list: 408, 429, 500, 502, 503, 504. `code` is `error.status` verbatim
 * (`RESOURCE_EXHAUSTED`); `raw` is the parsed body. The body is parsed whatever its content-type: Gemini answers a
 * failed `streamGenerateContent` with `Content-Type: text/event-stream` and a JSON `google.rpc.Status` body
 * (fixture `gemini/error-404-model-not-found`). The key is never in the URL (see prepare.ts), so no message built
 * here can carry it; the transport still scrubs a key a body echoes.
 */
import {
  AuthError,
  BadRequestError,
  ContextLengthError,
  errorMessage,
  type FiberError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  TimeoutError,
} from '../../src/errors.js';
import { parseRetryAfter } from '../../src/parse-retry-after.js';
import type { ResponseInfo } from '../../src/types.js';
import { bodyMessage, failureText, statusRetryable } from '../shared/error-response.js';
import type { GeminiStatus } from './wire.js';

/**
 * HTTP status of each `google.rpc.Code` name (https://cloud.google.com/apis/design/errors#handling_errors), for an
 * in-band error that names its `status` but no numeric `code`.
 */
const RPC_STATUS: ReadonlyMap<string, number> = new Map(Object.entries({
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  UNKNOWN: 500,
  INTERNAL: 500,
  DATA_LOSS: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
}));

/** `@google/genai`'s retry list (SOURCES.md item 15). */
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
/**
 * The wording of Gemini's context-window error (fixture `gemini/error-400-context-length`). Gemini gives it no
 * code of its own (it is a plain `INVALID_ARGUMENT`), so the message is the only discriminator.
 */
const CONTEXT_LENGTH = /input token count.*exceeds the maximum/i;
/** A `google.protobuf.Duration` in JSON: decimal seconds with an `s` suffix (`"7s"`, `"34.4s"`). */
const DURATION = /^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$/;

interface ErrorFacts {
  status: number;
  err: GeminiStatus | undefined;
  /** The provider's own message, or our description of an unreadable body. */
  message: string | undefined;
  raw: unknown;
  retryable: boolean;
}

/**
 * Map a Gemini error response to a `FiberError`.
 *
 * @param res - the response status, headers and request id
 * @param body - the response body as text (JSON `google.rpc.Status`, possibly SSE-framed, HTML, or empty)
 * @example
 * throw geminiError(res, '{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}');
 */
export function geminiError(res: ResponseInfo, body: string): FiberError {
  const raw = parseBody(body);
  const err = statusObject(raw);
  const message = bodyMessage(err?.message, raw, body);
  return build(res, { status: res.status, err, message, raw, retryable: RETRYABLE_STATUS.has(res.status) }, parseRetryAfter(res.header));
}

/**
 * The error for an in-band `data: {"error": {...}}` chunk of a 200 stream, or for a 200 JSON body that holds a
 * `google.rpc.Status`. Its status is the error's `code` (as `@google/genai` reports it, SOURCES.md item 14), else
 * the HTTP status of its `status` name (`INVALID_ARGUMENT` → 400), else 500. It is retryable by that status alone
 * (`statusRetryable`: 408, 409, 429, ≥ 500): an in-band 400, 401, 403 or 404 is the caller's error and is not. The
 * 200 response's headers are not read.
 */
export function geminiStreamError(res: ResponseInfo, chunk: { error?: unknown }): FiberError {
  const err = statusObject(chunk);
  const code = err?.code;
  const status = typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599
    ? code
    : (typeof err?.status === 'string' ? RPC_STATUS.get(err.status) : undefined) ?? 500;
  return build(res, { status, err, message: err?.message, raw: chunk, retryable: statusRetryable(status) }, undefined);
}

/**
 * `google.rpc.RetryInfo.retryDelay` of an error's `details` in milliseconds (`"7s"` → 7000, `"34.4s"` → 34400), or
 * `undefined` when there is none. Also takes the `{ seconds, nanos }` object form.
 */
export function retryDelayMs(err: GeminiStatus | undefined): number | undefined {
  const details = err?.details;
  if (!Array.isArray(details)) return undefined;
  for (let i = 0; i < details.length; i++) {
    const d = details[i];
    if (d === null || typeof d !== 'object') continue;
    const type = d['@type'];
    if (typeof type !== 'string' || !type.endsWith('google.rpc.RetryInfo')) continue;
    const delay = d.retryDelay;
    if (typeof delay === 'string') {
      const m = DURATION.exec(delay);
      if (m !== null) return Math.round(Number(m[1]) * 1000);
    } else if (delay !== null && typeof delay === 'object') {
      const { seconds, nanos } = delay as { seconds?: unknown; nanos?: unknown };
      const s = typeof seconds === 'string' || typeof seconds === 'number' ? Number(seconds) : 0;
      const n = typeof nanos === 'number' ? nanos : 0;
      if (Number.isFinite(s) && s >= 0 && n >= 0) return Math.round(s * 1000 + n / 1e6);
    }
  }
  return undefined;
}

function build(res: ResponseInfo, facts: ErrorFacts, headerRetryAfterMs: number | undefined): FiberError {
  const { status, err, raw, retryable } = facts;
  const code = typeof err?.status === 'string' && err.status !== '' ? err.status : undefined;
  const requestId = res.requestId;
  const message = errorMessage(res.provider, res.model, failureText(facts.message), status, requestId);
  const init = { provider: res.provider, model: res.model, status, code, retryable, requestId, raw };

  if (status === 401 || status === 403 || hasReason(err, 'API_KEY_INVALID')) return new AuthError(message, init);
  if (status === 404) return new NotFoundError(message, init);
  if (status === 408 || status === 504) return new TimeoutError(message, { ...init, code: code ?? 'timeout_headers', phase: 'headers' });
  const retryAfterMs = headerRetryAfterMs ?? retryDelayMs(err);
  if (status === 429) return new RateLimitError(message, { ...init, retryAfterMs });
  if (status === 503) return new OverloadedError(message, { ...init, retryAfterMs });
  if (status >= 500 || status < 400) return new ServerError(message, { ...init, retryAfterMs });
  // Remaining 4xx (INVALID_ARGUMENT, FAILED_PRECONDITION, …): the request itself is at fault.
  if (facts.message !== undefined && CONTEXT_LENGTH.test(facts.message)) return new ContextLengthError(message, init);
  return new BadRequestError(message, init);
}

/**
 * The body as JSON: a `google.rpc.Status` wrapper, the one-element array the non-SSE stream endpoint sends, or an
 * SSE-framed `data: {...}` event. `undefined` when it is none of these.
 */
function parseBody(body: string): unknown {
  if (body.length === 0) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    raw = parseDataEvent(body);
  }
  if (Array.isArray(raw) && raw.length > 0 && statusObject(raw[0]) !== undefined) return raw[0];
  return raw;
}

function parseDataEvent(body: string): unknown {
  const start = body.trimStart();
  if (!start.startsWith('data:')) return undefined;
  const end = start.search(/\r?\n\r?\n|\r\r/);
  try {
    return JSON.parse(start.slice(5, end === -1 ? undefined : end));
  } catch {
    // Not JSON either: reported by status with a bounded snippet.
    return undefined;
  }
}

/** The `error` object of a body, tolerating `{"error": "text"}`. */
function statusObject(raw: unknown): GeminiStatus | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const e = (raw as { error?: unknown }).error;
  if (e !== null && typeof e === 'object' && !Array.isArray(e)) {
    const o = e as Record<string, unknown>;
    return {
      code: typeof o.code === 'number' ? o.code : undefined,
      message: typeof o.message === 'string' ? o.message : undefined,
      status: typeof o.status === 'string' ? o.status : undefined,
      details: Array.isArray(o.details) ? (o.details as GeminiStatus['details']) : undefined,
    };
  }
  if (typeof e === 'string') return { message: e };
  return undefined;
}

/** Whether `details` holds a `google.rpc.ErrorInfo` with this `reason`. */
function hasReason(err: GeminiStatus | undefined, reason: string): boolean {
  const details = err?.details;
  if (!Array.isArray(details)) return false;
  for (let i = 0; i < details.length; i++) {
    const d = details[i];
    if (d !== null && typeof d === 'object' && d.reason === reason) return true;
  }
  return false;
}
