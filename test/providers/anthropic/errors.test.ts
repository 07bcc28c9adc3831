import { describe, expect, it } from 'vitest';
import { anthropicError, anthropicStreamError } from '../../../providers/anthropic/errors.js';
import {
  AuthError,
  BadRequestError,
  ContextLengthError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  TimeoutError,
} from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';

function res(status: number, h: Record<string, string> = {}): ResponseInfo {
  return { status, header: (n) => h[n], requestId: h['request-id'], provider: 'anthropic', model: 'claude-sonnet-4-5' };
}

function body(type: string, message = 'Something happened.', requestId?: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, ...(requestId ? { request_id: requestId } : {}) });
}

describe('anthropicError', () => {
  it('formats the message as "anthropic <model>: <provider message> (<status>, request <id>)"', () => {
    const err = anthropicError(res(400, { 'request-id': 'req_1' }), body('invalid_request_error', 'max_tokens: Field required'));
    expect(err.message).toBe('anthropic claude-sonnet-4-5: max_tokens: Field required (400, request req_1)');
    expect(err).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-5', status: 400, code: 'invalid_request_error', requestId: 'req_1' });
    expect(err.raw).toEqual(JSON.parse(body('invalid_request_error', 'max_tokens: Field required')));
  });

  it('takes the request id from the body when no header carries it', () => {
    const err = anthropicError(res(500), body('api_error', 'Internal server error', 'req_body'));
    expect(err.requestId).toBe('req_body');
    expect(err.message).toBe('anthropic claude-sonnet-4-5: Internal server error (500, request req_body)');
    expect(anthropicError(res(500, { 'request-id': 'req_h' }), body('api_error', 'x', 'req_body')).requestId).toBe('req_h');
  });

  it.each([
    [400, 'invalid_request_error', BadRequestError, false],
    [401, 'authentication_error', AuthError, false],
    [402, 'billing_error', AuthError, false],
    [403, 'permission_error', AuthError, false],
    [404, 'not_found_error', NotFoundError, false],
    [413, 'request_too_large', BadRequestError, false],
    [429, 'rate_limit_error', RateLimitError, true],
    [500, 'api_error', ServerError, true],
    [504, 'timeout_error', TimeoutError, true],
    [529, 'overloaded_error', OverloadedError, true],
  ] as const)('maps %i %s to %o (retryable %s)', (status, type, cls, retryable) => {
    const err = anthropicError(res(status), body(type));
    expect(err).toBeInstanceOf(cls);
    expect(err.retryable).toBe(retryable);
    expect(err.status).toBe(status);
    expect(err.code).toBe(type);
  });

  it('makes "prompt is too long" (and "exceed context limit") a ContextLengthError', () => {
    expect(anthropicError(res(400), body('invalid_request_error', 'prompt is too long: 208714 tokens > 200000 maximum'))).toBeInstanceOf(ContextLengthError);
    expect(
      anthropicError(res(400), body('invalid_request_error', 'input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again')),
    ).toBeInstanceOf(ContextLengthError);
    expect(anthropicError(res(400), body('invalid_request_error', 'messages: roles must alternate'))).not.toBeInstanceOf(ContextLengthError);
  });

  it('reports timeout_error, 408 and 504 as TimeoutError phase headers', () => {
    const err = anthropicError(res(504), body('timeout_error', 'Request timed out')) as TimeoutError;
    expect(err.phase).toBe('headers');
    expect(err.code).toBe('timeout_error');
    const gateway = anthropicError(res(504), '<html>Gateway Timeout</html>') as TimeoutError;
    expect(gateway).toBeInstanceOf(TimeoutError);
    expect(gateway).toMatchObject({ phase: 'headers', code: 'timeout_headers', retryable: true });
    expect(anthropicError(res(408), '')).toBeInstanceOf(TimeoutError);
  });

  it('maps bodies without a known type by status', () => {
    expect(anthropicError(res(529), '')).toBeInstanceOf(OverloadedError);
    expect(anthropicError(res(503), 'Service Unavailable')).toBeInstanceOf(OverloadedError);
    expect(anthropicError(res(502), '<html>Bad gateway</html>')).toBeInstanceOf(ServerError);
    expect(anthropicError(res(401), '{}')).toBeInstanceOf(AuthError);
    expect(anthropicError(res(404), '')).toBeInstanceOf(NotFoundError);
    expect(anthropicError(res(429), '')).toBeInstanceOf(RateLimitError);
    expect(anthropicError(res(409), '')).toMatchObject({ name: 'ServerError', retryable: true });
    expect(anthropicError(res(422), body('mystery_error'))).toMatchObject({ name: 'BadRequestError', code: 'mystery_error', retryable: false });
  });

  it('reads retry-after on a 429', () => {
    const err = anthropicError(res(429, { 'retry-after': '13' }), body('rate_limit_error')) as RateLimitError;
    expect(err.retryAfterMs).toBe(13000);
    expect(anthropicError(res(429, { 'retry-after-ms': '347' }), body('rate_limit_error'))).toMatchObject({ retryAfterMs: 347 });
    expect(anthropicError(res(529, { 'retry-after': '2' }), body('overloaded_error'))).toMatchObject({ retryAfterMs: 2000 });
  });

  it('lets x-should-retry override the status rule', () => {
    expect(anthropicError(res(500, { 'x-should-retry': 'false' }), body('api_error')).retryable).toBe(false);
    expect(anthropicError(res(400, { 'x-should-retry': 'true' }), body('invalid_request_error')).retryable).toBe(true);
  });

  it('reports a non-JSON body by status with at most 200 characters of it', () => {
    const html = '<html><body>' + 'Bad gateway '.repeat(100) + '</body></html>';
    const err = anthropicError(res(502), html);
    expect(err).toBeInstanceOf(ServerError);
    expect(err.raw).toBeUndefined();
    expect(err.code).toBeUndefined();
    expect(err.message).toMatch(/^anthropic claude-sonnet-4-5: unexpected response: <html><body>Bad gateway/);
    expect(err.message).toMatch(/\(502\)$/);
    expect(err.message.length).toBeLessThan(300);
  });

  it('reports an empty body by status', () => {
    expect(anthropicError(res(500), '').message).toBe('anthropic claude-sonnet-4-5: request failed (500)');
  });

  it('bounds a huge provider message', () => {
    expect(anthropicError(res(400), body('invalid_request_error', 'y'.repeat(10_000))).message.length).toBeLessThan(1100);
  });

  it('names the provider and model it was given', () => {
    const err = anthropicError({ ...res(401), provider: 'claude-proxy', model: 'm' }, body('authentication_error'));
    expect(err.message.startsWith('claude-proxy m: ')).toBe(true);
    expect(err.provider).toBe('claude-proxy');
  });
});

describe('anthropicStreamError', () => {
  it('maps overloaded_error to a retryable OverloadedError with status 529', () => {
    const event = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    const err = anthropicStreamError(res(200), event);
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err).toMatchObject({ status: 529, retryable: true, code: 'overloaded_error', raw: event });
  });

  it('gives each type its documented status; unknown types are 500', () => {
    const status = (type: string) => anthropicStreamError(res(200), { error: { type, message: 'x' } }).status;
    expect(status('api_error')).toBe(500);
    expect(status('rate_limit_error')).toBe(429);
    expect(status('invalid_request_error')).toBe(400);
    expect(status('timeout_error')).toBe(504);
    expect(status('brand_new_error')).toBe(500);
    expect(anthropicStreamError(res(200), { error: { type: 'brand_new_error', message: 'x' } })).toBeInstanceOf(ServerError);
  });

  it.each([
    ['invalid_request_error', 400, false],
    ['authentication_error', 401, false],
    ['billing_error', 402, false],
    ['permission_error', 403, false],
    ['not_found_error', 404, false],
    ['request_too_large', 413, false],
    ['rate_limit_error', 429, true],
    ['api_error', 500, true],
    ['timeout_error', 504, true],
    ['overloaded_error', 529, true],
    ['brand_new_error', 500, true],
  ] as const)('an in-stream %s (%i) is retryable: %s', (type, status, retryable) => {
    expect(anthropicStreamError(res(200), { error: { type, message: 'x' } })).toMatchObject({ status, retryable });
  });

  it('is retryable and ignores the retry headers of the 200 response', () => {
    const err = anthropicStreamError(res(200, { 'retry-after': '5', 'x-should-retry': 'false' }), { error: { type: 'rate_limit_error', message: 'slow' } }) as RateLimitError;
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeUndefined();
  });
});
