/**
 * Provider-neutral pieces of mapping an error response: reading the body, the bounded text that goes into our
 * message, and the official SDKs' retry rule. What a provider's codes and types mean stays in its `errors.ts`.
 */
import type { ResponseInfo } from '../../src/types.js';

/** Provider messages are bounded in our message: they can be long, and the full body stays in `raw`. */
const MAX_MESSAGE_CHARS = 1000;
/** How much of a non-JSON body (an HTML gateway page) goes into the message. */
const MAX_SNIPPET_CHARS = 200;

/**
 * An error body as JSON, or `undefined` when it is empty or not JSON (a gateway's HTML page, a plain-text 502:
 * reported by status, with a bounded snippet from `bodyMessage`).
 *
 * @example
 * const raw = parseErrorBody(body);
 */
export function parseErrorBody(body: string): unknown {
  try {
    return body.length > 0 ? JSON.parse(body) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The provider's own message; for a non-empty body that could not be read (`raw` undefined), a bounded, flattened
 * snippet of it (`unexpected response: <snippet>`); else `undefined`.
 *
 * @param message - the message the body's error object carries, if any
 * @param raw - the parsed body, `undefined` when it was not JSON
 * @param body - the body text
 */
export function bodyMessage(message: string | undefined, raw: unknown, body: string): string | undefined {
  if (message === undefined && raw === undefined && body.length > 0) return 'unexpected response: ' + snippet(body);
  return message;
}

/**
 * What happened, for `errorMessage`: the provider's message bounded to 1000 characters, or `request failed` when
 * it gave none.
 *
 * @example
 * const message = errorMessage(res.provider, res.model, failureText(facts.message), status, requestId);
 */
export function failureText(message: string | undefined): string {
  if (message === undefined) return 'request failed';
  return message.length > MAX_MESSAGE_CHARS ? message.slice(0, MAX_MESSAGE_CHARS) + '…' : message;
}

/**
 * The fields of a body's error object: `body.error` when it is an object; for the `{"error": "text"}` and bare
 * `{"message": "text"}` bodies of proxies and compatible servers, just that message; else `undefined`. The caller
 * picks and type-checks the fields its provider defines.
 *
 * @example
 * const e = errorFields(raw);
 * const type = typeof e?.type === 'string' ? e.type : undefined;
 */
export function errorFields(raw: unknown): { readonly [field: string]: unknown } | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const e = (raw as { error?: unknown }).error;
  if (e !== null && typeof e === 'object') return e as { readonly [field: string]: unknown };
  if (typeof e === 'string') return { message: e };
  const m = (raw as { message?: unknown }).message;
  return typeof m === 'string' ? { message: m } : undefined;
}

/**
 * The official SDKs' retry predicate (Stainless `shouldRetry`): 408, 409, 429 and ≥ 500 are retryable unless
 * `isFinal` (a failure re-sending cannot fix, such as an exhausted quota); then an `x-should-retry: true|false`
 * header overrides the verdict.
 *
 * @param isFinal - the body says re-sending cannot succeed
 */
export function sdkShouldRetry(status: number, res: ResponseInfo, isFinal = false): boolean {
  const should = res.header('x-should-retry');
  if (should === 'true') return true;
  if (should === 'false') return false;
  return statusRetryable(status, isFinal);
}

/**
 * The same rule by status alone, for an error reported inside a 200 response (an in-stream error event, or an
 * error object in a 200 JSON body): retryable when the status it stands for is 408, 409, 429 or ≥ 500 (so the
 * transient types: overloaded, `api_error`, `server_error`, unknown types mapped to 500), unless `isFinal` (an
 * exhausted quota). The caller's own errors (400, 401, 403, 404, 413, 422) are not. The 200's headers are not read:
 * its `x-should-retry` / `retry-after` describe the response that carried the error, not the error.
 *
 * @param isFinal - re-sending cannot succeed (OpenAI `insufficient_quota`)
 * @example
 * const retryable = statusRetryable(429, code === 'insufficient_quota');  // false
 */
export function statusRetryable(status: number, isFinal = false): boolean {
  return !isFinal && (status === 408 || status === 409 || status === 429 || status >= 500);
}

function snippet(body: string): string {
  const flat = body.slice(0, MAX_SNIPPET_CHARS * 2).replace(/\s+/g, ' ').trim();
  return flat.length > MAX_SNIPPET_CHARS ? flat.slice(0, MAX_SNIPPET_CHARS) + '…' : flat;
}
