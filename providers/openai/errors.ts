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
 * | 503, 529 | `OverloadedError` | 529 is not OpenAI's own, but OpenAI-compatible gateways (and Anthropic-backed proxies) answer it when overloaded |
 * | other 5xx | `ServerError` | |
 *
 * `retryable` follows the official SDK's predicate (Stainless `shouldRetry`): 408, 409, 429 and ≥ 500, then an
 * `x-should-retry: true|false` header overrides it. `code` is the provider's `error.code`, else `error.type`.
 *
 * An error reported inside a 200 response (`openaiStreamError`: a `data: {"error": …}` stream event, a Responses
 * `error` / `response.failed` event, or a 200 JSON body holding an error object) gets the status the error
 * reference lists for its code or type, and is retryable by that status alone (`statusRetryable`): a 400, 401,
 * 403, 404 or `insufficient_quota` inside a stream is as final as it is as an HTTP status.
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
import { bodyMessage, errorFields, failureText, parseErrorBody, sdkShouldRetry, statusRetryable } from '../shared/error-response.js';
import type { OpenAIErrorObject } from './wire.js';

/**
 * HTTP status for an error type or code reported inside a 200 response (a stream event, a Responses
 * `response.error`, a 200 JSON error body), per OpenAI's error reference. Anything unknown is a 500: the request
 * was accepted, so the failure is on the server's side.
 */
const STREAM_ERROR_STATUS: ReadonlyMap<string, number> = new Map(Object.entries({
  invalid_request_error: 400,
  context_length_exceeded: 400,
  content_filter: 400,
  // Responses API `ResponseError` codes (https://platform.openai.com/docs/api-reference/responses/object): a
  // prompt or image the request carried that the model cannot take. The caller's error, not a transient one.
  invalid_prompt: 400,
  invalid_image: 400,
  invalid_image_format: 400,
  invalid_base64_image: 400,
  invalid_image_url: 400,
  image_too_large: 400,
  image_too_small: 400,
  image_parse_error: 400,
  image_content_policy_violation: 400,
  invalid_image_mode: 400,
  image_file_too_large: 400,
  unsupported_image_media_type: 400,
  empty_image_file: 400,
  failed_to_download_image: 400,
  image_file_not_found: 400,
  authentication_error: 401,
  invalid_api_key: 401,
  permission_error: 403,
  not_found_error: 404,
  model_not_found: 404,
  request_forbidden: 403,
  unsupported_country_region_territory: 403,
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
  vector_store_timeout: 504,
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
 * The error reported inside a 200 response: an in-band `data: {"error": …}` event of a stream, a Responses
 * `error` / `response.failed` event (`response.error`), or a 200 JSON body that holds an error object. Its status
 * comes from the documented code/type → status table (`server_error` → 500, `insufficient_quota` → 429,
 * `invalid_request_error` → 400); a numeric `code` that is an HTTP error status (OpenAI-compatible gateways such
 * as OpenRouter send `{"error": {"code": 502, …}}`) is that status; anything else is a 500 (the request was
 * accepted, so the failure is on the server's side). It is retryable by that status alone: 408, 409, 429 (not
 * `insufficient_quota`) and ≥ 500; the caller's own errors (400, 401, 403, 404, 422) are not. The 200 response's
 * headers (`retry-after`, `x-should-retry`) do not apply to it.
 *
 * @example
 * throw openaiStreamError(res, { error: { message: 'The server had an error.', type: 'server_error', code: null } });
 */
export function openaiStreamError(res: ResponseInfo, chunk: { error?: unknown }): FiberError {
  const err = errorObject(chunk);
  const code = codeOf(err);
  const type = typeof err?.type === 'string' ? err.type : undefined;
  const status = (code !== undefined ? STREAM_ERROR_STATUS.get(code) : undefined)
    ?? httpStatusCode(err?.code)
    ?? (type !== undefined ? STREAM_ERROR_STATUS.get(type) : undefined)
    ?? 500;
  const isQuota = code === 'insufficient_quota' || type === 'insufficient_quota';
  return build(res, { status, message: err?.message, code, raw: chunk, retryable: statusRetryable(status, isQuota) }, false);
}

/** A numeric error code that is an HTTP error status (400–599), else undefined. */
function httpStatusCode(code: unknown): number | undefined {
  return typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599 ? code : undefined;
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
  if (status === 503 || status === 529) return new OverloadedError(message, { ...init, retryAfterMs });
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
