/**
 * Anthropic error responses → `FiberError` subclasses. The only file that knows Anthropic's error types.
 *
 * Class by `error.type` (https://docs.anthropic.com/en/api/errors), falling back to the HTTP status for bodies
 * without a known type (a proxy's HTML page, an empty 502):
 *
 * | error.type | status | class | notes |
 * | --- | --- | --- | --- |
 * | `invalid_request_error` | 400 (and other 4xx) | `BadRequestError` | message `prompt is too long…` (or `…exceed context limit…`) → `ContextLengthError`: the message is the only thing that tells them apart (fixture anthropic/error-400-context-length) |
 * | `authentication_error` | 401 | `AuthError` | |
 * | `billing_error` | 402 | `AuthError` | the account cannot be charged: like a bad key, only a human fixes it; not retryable |
 * | `permission_error` | 403 | `AuthError` | |
 * | `not_found_error` | 404 | `NotFoundError` | |
 * | `request_too_large` | 413 | `BadRequestError` | the body exceeds the endpoint's byte limit; re-sending cannot help |
 * | `rate_limit_error` | 429 | `RateLimitError` | `retryAfterMs` from `retry-after-ms` / `retry-after` |
 * | `api_error` | 500 | `ServerError` | |
 * | `timeout_error` | 504 (also 408) | `TimeoutError`, phase `'headers'` | as the OpenAI adapter does for 408/504: the server gave up before producing an answer, which from here is a wait for response headers |
 * | `overloaded_error` | 529 (also 503) | `OverloadedError` | |
 *
 * `retryable` follows the official SDK's predicate (Stainless `shouldRetry`): 408, 409, 429 and ≥ 500, then an
 * `x-should-retry: true|false` header overrides it. `code` is `error.type` verbatim. `requestId` is the
 * `request-id` header, else the body's `request_id`.
 *
 * An `event: error` inside a 200 stream, or a 200 JSON body that holds an error (`anthropicStreamError`), gets the
 * status the Errors reference lists for its type (`overloaded_error` → 529) and is retryable by that status alone:
 * the transient types (`overloaded_error`, `api_error`, `rate_limit_error`, `timeout_error`, unknown types → 500)
 * are, the caller's own (`invalid_request_error`, `authentication_error`, `permission_error`, `billing_error`,
 * `not_found_error`, `request_too_large`) are not.
 */
import {
  AuthError,
  BadRequestError,
  ContextLengthError,
  errorMessage,
  FiberError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  TimeoutError,
} from '../../src/errors.js';
import { parseRetryAfter } from '../../src/parse-retry-after.js';
import type { ResponseInfo } from '../../src/types.js';
import { bodyMessage, errorFields, failureText, parseErrorBody, sdkShouldRetry, statusRetryable } from '../shared/error-response.js';
import type { AnthropicErrorObject } from './wire.js';

/** The HTTP status Anthropic's Errors reference lists for each error type (for errors inside a 200 stream). */
const TYPE_STATUS: ReadonlyMap<string, number> = new Map(Object.entries({
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
}));

/**
 * The documented wordings of a prompt that does not fit: `prompt is too long: 208714 tokens > 200000 maximum` and
 * `input length and max_tokens exceed context limit: …`. Anthropic has no dedicated type or code for it.
 */
const CONTEXT_LENGTH = /^prompt is too long|exceed context limit/i;

interface ErrorFacts {
  status: number;
  /** `error.type`, when the body names one. */
  type: string | undefined;
  /** The provider's own message, when it gave one. */
  message: string | undefined;
  raw: unknown;
  requestId: string | undefined;
  /** Set by the caller; `undefined` means "use the status predicate and `x-should-retry`". */
  retryable: boolean | undefined;
  retryAfterMs: number | undefined;
}

/**
 * Map an Anthropic error response to a `FiberError`.
 *
 * @param res - the response status, headers and request id
 * @param body - the response body as text (normally `{"type":"error","error":{type,message},"request_id":…}`;
 *   may be HTML or empty when a proxy answered)
 * @example
 * throw anthropicError(res, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
 */
export function anthropicError(res: ResponseInfo, body: string): FiberError {
  // Not JSON (a gateway's HTML page, a plain-text 502): reported by status with a bounded snippet.
  const raw = parseErrorBody(body);
  const err = errorObject(raw);
  const message = bodyMessage(err?.message, raw, body);
  return build(res, {
    status: res.status,
    type: err?.type,
    message,
    raw,
    requestId: res.requestId ?? res.header('request-id') ?? bodyRequestId(raw),
    retryable: undefined,
    retryAfterMs: parseRetryAfter(res.header),
  });
}

/**
 * The error for an `event: error` of a 200 stream (`data: {"type":"error","error":{type,message}}`), or for a 200
 * JSON body that holds one. Its status comes from the documented type → status table (unknown types → 500); it is
 * retryable when that status is (`statusRetryable`: 408, 409, 429, ≥ 500), and the 200 response's retry headers
 * do not apply to it.
 *
 * @example
 * throw anthropicStreamError(res, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
 */
export function anthropicStreamError(res: ResponseInfo, event: { error?: unknown }): FiberError {
  const err = errorObject(event);
  const type = err?.type;
  const status = (type !== undefined ? TYPE_STATUS.get(type) : undefined) ?? 500;
  return build(res, {
    status,
    type,
    message: err?.message,
    raw: event,
    requestId: res.requestId ?? bodyRequestId(event),
    retryable: statusRetryable(status),
    retryAfterMs: undefined,
  });
}

function build(res: ResponseInfo, facts: ErrorFacts): FiberError {
  const { status, type, raw, requestId, retryAfterMs } = facts;
  const message = errorMessage(res.provider, res.model, failureText(facts.message), status, requestId);

  const retryable = facts.retryable ?? sdkShouldRetry(status, res);
  const init = { provider: res.provider, model: res.model, status, code: type, retryable, requestId, raw };

  switch (type) {
    case 'invalid_request_error':
      return facts.message !== undefined && CONTEXT_LENGTH.test(facts.message) ? new ContextLengthError(message, init) : new BadRequestError(message, init);
    case 'authentication_error':
    case 'permission_error':
    case 'billing_error':
      return new AuthError(message, init);
    case 'not_found_error':
      return new NotFoundError(message, init);
    case 'request_too_large':
      return new BadRequestError(message, init);
    case 'rate_limit_error':
      return new RateLimitError(message, { ...init, retryAfterMs });
    case 'overloaded_error':
      return new OverloadedError(message, { ...init, retryAfterMs });
    case 'api_error':
      return new ServerError(message, { ...init, retryAfterMs });
    case 'timeout_error':
      return new TimeoutError(message, { ...init, phase: 'headers' });
  }

  // No (known) type: by status.
  if (status === 401 || status === 402 || status === 403) return new AuthError(message, init);
  if (status === 404) return new NotFoundError(message, init);
  if (status === 408 || status === 504) return new TimeoutError(message, { ...init, code: type ?? 'timeout_headers', phase: 'headers' });
  if (status === 429) return new RateLimitError(message, { ...init, retryAfterMs });
  if (status === 503 || status === 529) return new OverloadedError(message, { ...init, retryAfterMs });
  // 409 is a lock/concurrency conflict on the provider's side (the SDK retries it), not the caller's fault.
  if (status === 409 || status >= 500 || status < 400) return new ServerError(message, { ...init, retryAfterMs });
  return new BadRequestError(message, init);
}

/** The `error` object of a body, tolerating `{"error": "text"}` and bare `{message}` bodies of proxies. */
function errorObject(raw: unknown): AnthropicErrorObject | undefined {
  const o = errorFields(raw);
  if (o === undefined) return undefined;
  return {
    type: typeof o.type === 'string' && o.type !== '' ? o.type : undefined,
    message: typeof o.message === 'string' ? o.message : undefined,
  };
}

function bodyRequestId(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const id = (raw as { request_id?: unknown }).request_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
