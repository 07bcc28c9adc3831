/**
 * OpenAI error responses → `FiberError` subclasses. The only file that knows OpenAI's error codes.
 *
 * Class by HTTP status (fixtures README "Errors", https://platform.openai.com/docs/guides/error-codes):
 *
 * | status | class | notes |
 * | --- | --- | --- |
 * | 400, 422, other 4xx | `BadRequestError` | `context_length_exceeded` → `ContextLengthError`; Azure's `content_filter` → `ContentFilterError` |
 * | 401, 403 | `AuthError` | |
 * | 404 | `NotFoundError` | |
 * | 408, 504 | `TimeoutError`, phase `'headers'` | the fixtures' kind `timeout`: a deadline passed on the server's side before it produced an answer, which from here is a wait for response headers; retryable |
 * | 409 | `ServerError` | a lock/concurrency conflict on OpenAI's side (the SDK retries it); not the caller's fault, so not `BadRequestError` |
 * | 429 | `RateLimitError` | `insufficient_quota` is not retryable (re-sending cannot succeed; SOURCES.md records the SDK as wrong) |
 * | 503 | `OverloadedError` | |
 * | other 5xx | `ServerError` | |
 *
 * `retryable` follows the official SDK's predicate (Stainless `shouldRetry`): 408, 409, 429 and ≥ 500, then an
 * `x-should-retry: true|false` header overrides it. `code` is the provider's `error.code`, else `error.type`.
 */
import {
  AuthError,
  BadRequestError,
  ContentFilterError,
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
import { bodyMessage, errorFields, failureText, parseErrorBody, sdkShouldRetry } from '../shared/error-response.js';
import type { OpenAIErrorObject } from './wire.js';

/**
 * HTTP status for an error type or code reported inside a 200 stream, per OpenAI's error reference. Anything
 * unknown is a 500: the request was accepted, so the failure is on the server's side.
 */
const STREAM_ERROR_STATUS: ReadonlyMap<string, number> = new Map(Object.entries({
  invalid_request_error: 400,
  context_length_exceeded: 400,
  authentication_error: 401,
  invalid_api_key: 401,
  permission_error: 403,
  not_found_error: 404,
  model_not_found: 404,
  rate_limit_exceeded: 429,
  rate_limit_error: 429,
  insufficient_quota: 429,
  tokens: 429,
  requests: 429,
  server_error: 500,
  api_error: 500,
  overloaded: 503,
  overloaded_error: 503,
  engine_overloaded: 503,
  service_unavailable: 503,
  timeout: 504,
}));

interface ErrorFacts {
  status: number;
  /** The provider's own message, when it gave one. */
  message: string | undefined;
  code: string | undefined;
  raw: unknown;
  /** Set by the caller; `undefined` means "use the status predicate". */
  retryable: boolean | undefined;
}

/**
 * Map an OpenAI (or OpenAI-shaped) error response to a `FiberError`.
 *
 * @param res - the response status, headers and request id
 * @param body - the response body as text (may be JSON, HTML, or empty)
 * @example
 * throw openaiError(res, '{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}');
 */
export function openaiError(res: ResponseInfo, body: string): FiberError {
  // Not JSON (a gateway's HTML page, a plain-text 502): reported by status with a bounded snippet.
  const raw = parseErrorBody(body);
  const err = errorObject(raw);
  const message = bodyMessage(err?.message, raw, body);
  return build(res, { status: res.status, message, code: codeOf(err), raw, retryable: undefined }, true);
}

/**
 * The error for an in-band `data: {"error": …}` event of a 200 stream. Its status comes from the documented
 * type → status table (`server_error` → 500); it is retryable because the request itself was accepted (fixtures
 * README: in-stream provider errors are transient).
 */
export function openaiStreamError(res: ResponseInfo, chunk: { error?: unknown }): FiberError {
  const err = errorObject(chunk);
  const code = codeOf(err);
  const type = typeof err?.type === 'string' ? err.type : undefined;
  const status = (code !== undefined ? STREAM_ERROR_STATUS.get(code) : undefined) ?? (type !== undefined ? STREAM_ERROR_STATUS.get(type) : undefined) ?? 500;
  return build(res, { status, message: err?.message, code, raw: chunk, retryable: true }, false);
}

function build(res: ResponseInfo, facts: ErrorFacts, useHeaders: boolean): FiberError {
  const { status, code, raw } = facts;
  const requestId = res.requestId ?? res.header('x-request-id');
  const message = errorMessage(res.provider, res.model, failureText(facts.message), status, requestId);
  const isQuota = code === 'insufficient_quota' || errorObject(raw)?.type === 'insufficient_quota';
  const retryable = facts.retryable ?? sdkShouldRetry(status, res, isQuota);
  const retryAfterMs = useHeaders ? parseRetryAfter(res.header) : undefined;
  const init = { provider: res.provider, model: res.model, status, code, retryable, requestId, raw };

  if (status === 401 || status === 403) return new AuthError(message, init);
  if (status === 404) return new NotFoundError(message, init);
  if (status === 408 || status === 504) return new TimeoutError(message, { ...init, code: code ?? 'timeout_headers', phase: 'headers' });
  if (status === 429) return new RateLimitError(message, { ...init, retryAfterMs });
  if (status === 503) return new OverloadedError(message, { ...init, retryAfterMs });
  if (status === 409 || status >= 500 || status < 400) return new ServerError(message, { ...init, retryAfterMs });
  // Remaining 4xx: the request itself is at fault.
  if (code === 'context_length_exceeded') return new ContextLengthError(message, init);
  if (code === 'content_filter') return new ContentFilterError(message, init);
  return new BadRequestError(message, init);
}

/** The `error` object of a body, tolerating `{"error": "text"}` and bare `{message}` bodies of compatible servers. */
function errorObject(raw: unknown): OpenAIErrorObject | undefined {
  const o = errorFields(raw);
  if (o === undefined) return undefined;
  return {
    message: typeof o.message === 'string' ? o.message : undefined,
    type: typeof o.type === 'string' ? o.type : undefined,
    code: typeof o.code === 'string' || typeof o.code === 'number' ? o.code : undefined,
  };
}

function codeOf(err: OpenAIErrorObject | undefined): string | undefined {
  if (err === undefined) return undefined;
  if (err.code !== undefined && err.code !== null && err.code !== '') return String(err.code);
  return typeof err.type === 'string' && err.type !== '' ? err.type : undefined;
}
