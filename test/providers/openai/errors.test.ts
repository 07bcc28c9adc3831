import { describe, expect, it } from 'vitest';
import { openaiError, openaiStreamError } from '../../../providers/openai/errors.js';
import {
  AuthError,
  BadRequestError,
  ContentFilterError,
  ContextLengthError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  TimeoutError,
} from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';

function res(status: number, h: Record<string, string> = {}): ResponseInfo {
  return { status, header: (n) => h[n], requestId: h['x-request-id'], provider: 'openai', model: 'gpt-4o-mini' };
}

function body(code: string | null, type = 'invalid_request_error', message = 'Something happened.'): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

describe('openaiError', () => {
  it('formats the message as "openai <model>: <provider message> (<status>, request <id>)"', () => {
    const err = openaiError(res(400, { 'x-request-id': 'req_1' }), body('unsupported_parameter', 'invalid_request_error', 'Bad param.'));
    expect(err.message).toBe('openai gpt-4o-mini: Bad param. (400, request req_1)');
    expect(err).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', status: 400, code: 'unsupported_parameter', requestId: 'req_1' });
    expect(err.raw).toEqual(JSON.parse(body('unsupported_parameter', 'invalid_request_error', 'Bad param.')));
  });

  it.each([
    [400, 'unsupported_parameter', BadRequestError, false],
    [422, null, BadRequestError, false],
    [400, 'context_length_exceeded', ContextLengthError, false],
    [400, 'content_filter', ContentFilterError, false],
    [401, 'invalid_api_key', AuthError, false],
    [403, 'unsupported_country_region_territory', AuthError, false],
    [404, 'model_not_found', NotFoundError, false],
    [408, null, TimeoutError, true],
    [409, null, ServerError, true],
    [429, 'rate_limit_exceeded', RateLimitError, true],
    [500, null, ServerError, true],
    [502, null, ServerError, true],
    [503, null, OverloadedError, true],
    [504, null, TimeoutError, true],
    [529, null, OverloadedError, true],
  ] as const)('maps %i %s to %o (retryable %s)', (status, code, cls, retryable) => {
    const err = openaiError(res(status), body(code));
    expect(err).toBeInstanceOf(cls);
    expect(err.retryable).toBe(retryable);
    expect(err.status).toBe(status);
  });

  it('uses error.type as the code when error.code is null', () => {
    expect(openaiError(res(500), body(null, 'server_error')).code).toBe('server_error');
  });

  it('reports 408 and 504 as TimeoutError phase headers', () => {
    const err = openaiError(res(504), '<html>Gateway Timeout</html>') as TimeoutError;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.phase).toBe('headers');
    expect(err.code).toBe('timeout_headers');
  });

  it('reads retry-after on a 429', () => {
    const err = openaiError(res(429, { 'retry-after': '2' }), body('rate_limit_exceeded', 'tokens')) as RateLimitError;
    expect(err.retryAfterMs).toBe(2000);
    expect(openaiError(res(429, { 'retry-after-ms': '347' }), body('rate_limit_exceeded', 'tokens'))).toMatchObject({ retryAfterMs: 347 });
  });

  it('makes a 429 insufficient_quota a non-retryable RateLimitError', () => {
    const err = openaiError(res(429), body('insufficient_quota', 'insufficient_quota', 'You exceeded your current quota.'));
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.retryable).toBe(false);
    expect(err.code).toBe('insufficient_quota');
  });

  it('lets x-should-retry override the status rule', () => {
    expect(openaiError(res(500, { 'x-should-retry': 'false' }), body(null, 'server_error')).retryable).toBe(false);
    expect(openaiError(res(400, { 'x-should-retry': 'true' }), body('x')).retryable).toBe(true);
  });

  it('reports a non-JSON body by status with at most 200 characters of it', () => {
    const html = '<html><body>' + 'Bad gateway '.repeat(100) + '</body></html>';
    const err = openaiError(res(502), html);
    expect(err).toBeInstanceOf(ServerError);
    expect(err.raw).toBeUndefined();
    expect(err.code).toBeUndefined();
    expect(err.message).toMatch(/^openai gpt-4o-mini: unexpected response: <html><body>Bad gateway/);
    expect(err.message).toMatch(/\(502\)$/);
    expect(err.message.length).toBeLessThan(300);
  });

  it('reports an empty body by status', () => {
    expect(openaiError(res(500), '').message).toBe('openai gpt-4o-mini: request failed (500)');
  });

  it('accepts compatible servers that send a string error or a bare message', () => {
    expect(openaiError(res(400), '{"error":"model is required"}').message).toContain('model is required');
    expect(openaiError(res(400), '{"message":"nope"}').message).toContain('nope');
  });

  it('bounds a huge provider message', () => {
    const err = openaiError(res(400), body('x', 'invalid_request_error', 'y'.repeat(10_000)));
    expect(err.message.length).toBeLessThan(1100);
  });

  it('names the provider and model it was given (openai-compatible adapters)', () => {
    const err = openaiError({ ...res(401), provider: 'groq', model: 'llama' }, body('invalid_api_key'));
    expect(err.message.startsWith('groq llama: ')).toBe(true);
    expect(err.provider).toBe('groq');
  });
});

describe('openaiStreamError', () => {
  it('maps server_error to a retryable ServerError with status 500', () => {
    const chunk = JSON.parse(body(null, 'server_error', 'The server had an error.'));
    const err = openaiStreamError(res(200), chunk);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ status: 500, retryable: true, code: 'server_error', raw: chunk });
  });

  it('maps types through the documented status table', () => {
    expect(openaiStreamError(res(200), JSON.parse(body('rate_limit_exceeded', 'tokens')))).toBeInstanceOf(RateLimitError);
    expect(openaiStreamError(res(200), JSON.parse(body(null, 'invalid_request_error')))).toBeInstanceOf(BadRequestError);
    expect(openaiStreamError(res(200), { error: { message: 'x', type: 'mystery' } }).status).toBe(500);
    expect(openaiStreamError(res(200), { error: 'plain text' })).toBeInstanceOf(ServerError);
  });

  it('ignores retry headers of the 200 response', () => {
    const err = openaiStreamError(res(200, { 'retry-after': '5' }), JSON.parse(body('rate_limit_exceeded', 'tokens'))) as RateLimitError;
    expect(err.retryAfterMs).toBeUndefined();
    // x-should-retry describes the 200 that carried the error, not the error.
    expect(openaiStreamError(res(200, { 'x-should-retry': 'true' }), JSON.parse(body(null, 'invalid_request_error'))).retryable).toBe(false);
    expect(openaiStreamError(res(200, { 'x-should-retry': 'false' }), JSON.parse(body(null, 'server_error'))).retryable).toBe(true);
  });

  it.each([
    ['invalid_request_error', null, BadRequestError, 400],
    ['invalid_request_error', 'context_length_exceeded', ContextLengthError, 400],
    ['invalid_request_error', 'invalid_api_key', AuthError, 401],
    ['request_forbidden', 'unsupported_country_region_territory', AuthError, 403],
    ['request_forbidden', null, AuthError, 403],
    ['invalid_request_error', 'model_not_found', NotFoundError, 404],
    ['insufficient_quota', 'insufficient_quota', RateLimitError, 429],
    ['invalid_request_error', 'invalid_prompt', BadRequestError, 400],
    [null, 'content_filter', ContentFilterError, 400],
  ] as const)('does not retry an in-stream %s / %s (the caller\'s error)', (type, code, cls, status) => {
    const err = openaiStreamError(res(200), { error: { message: 'x', type, code } });
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ status, retryable: false });
  });

  it.each([
    ['requests', 'rate_limit_exceeded', RateLimitError, 429],
    ['server_error', null, ServerError, 500],
    ['server_error', 'server_error', ServerError, 500],
    [null, 'overloaded', OverloadedError, 503],
    [null, 'timeout', TimeoutError, 504],
    [null, 'vector_store_timeout', TimeoutError, 504],
    ['mystery', null, ServerError, 500],
  ] as const)('retries an in-stream %s / %s (transient)', (type, code, cls, status) => {
    const err = openaiStreamError(res(200), { error: { message: 'x', type, code } });
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ status, retryable: true });
  });

  it('takes a numeric code that is an HTTP error status as the status (OpenAI-compatible gateways)', () => {
    expect(openaiStreamError(res(200), { error: { message: 'x', code: 401 } })).toMatchObject({ name: 'AuthError', status: 401, retryable: false });
    expect(openaiStreamError(res(200), { error: { message: 'x', code: 529, type: 'server_error' } })).toMatchObject({ name: 'OverloadedError', status: 529, retryable: true });
    expect(openaiStreamError(res(200), { error: { message: 'x', code: 200 } })).toMatchObject({ name: 'ServerError', status: 500 });
  });
});
