import { describe, expect, it } from 'vitest';
import { geminiError, geminiStreamError, retryDelayMs } from '../../../providers/gemini/errors.js';
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
  return { status, header: (n) => h[n], requestId: h['x-request-id'], provider: 'gemini', model: 'gemini-2.5-flash' };
}

function body(code: number, status: string, message = 'Something happened.', details?: unknown[]): string {
  return JSON.stringify({ error: details === undefined ? { code, message, status } : { code, message, status, details } });
}

const retryInfo = (retryDelay: unknown) => ({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });

describe('geminiError', () => {
  it('formats the message as "gemini <model>: <provider message> (<status>)" with code and raw', () => {
    const text = body(400, 'INVALID_ARGUMENT', 'Penalty is not enabled.');
    const err = geminiError(res(400), text);
    expect(err.message).toBe('gemini gemini-2.5-flash: Penalty is not enabled. (400)');
    expect(err).toMatchObject({ provider: 'gemini', model: 'gemini-2.5-flash', status: 400, code: 'INVALID_ARGUMENT', retryable: false });
    expect(err.raw).toEqual(JSON.parse(text));
    expect(geminiError(res(400, { 'x-request-id': 'rq' }), text).message).toBe('gemini gemini-2.5-flash: Penalty is not enabled. (400, request rq)');
  });

  it.each([
    [400, 'INVALID_ARGUMENT', BadRequestError, false],
    [400, 'FAILED_PRECONDITION', BadRequestError, false],
    [401, 'UNAUTHENTICATED', AuthError, false],
    [403, 'PERMISSION_DENIED', AuthError, false],
    [404, 'NOT_FOUND', NotFoundError, false],
    [408, 'DEADLINE_EXCEEDED', TimeoutError, true],
    [409, 'ABORTED', BadRequestError, false],
    [429, 'RESOURCE_EXHAUSTED', RateLimitError, true],
    [500, 'INTERNAL', ServerError, true],
    [501, 'UNIMPLEMENTED', ServerError, false],
    [502, 'INTERNAL', ServerError, true],
    [503, 'UNAVAILABLE', OverloadedError, true],
    [504, 'DEADLINE_EXCEEDED', TimeoutError, true],
  ] as const)('maps %i %s to %o (retryable %s)', (status, rpc, cls, retryable) => {
    const err = geminiError(res(status), body(status, rpc));
    expect(err).toBeInstanceOf(cls);
    expect(err.retryable).toBe(retryable);
    expect(err.status).toBe(status);
    expect(err.code).toBe(rpc);
  });

  it('reports 408 and 504 as TimeoutError phase headers', () => {
    const err = geminiError(res(504), body(504, 'DEADLINE_EXCEEDED')) as TimeoutError;
    expect(err.phase).toBe('headers');
    expect((geminiError(res(504), '<html>Gateway Timeout</html>') as TimeoutError).code).toBe('timeout_headers');
  });

  it('maps a 400 with ErrorInfo reason API_KEY_INVALID to AuthError', () => {
    const details = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }];
    const err = geminiError(res(400), body(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', details));
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
  });

  it('maps the input-token-count message to ContextLengthError', () => {
    const err = geminiError(res(400), body(400, 'INVALID_ARGUMENT', 'The input token count (1196265) exceeds the maximum number of tokens allowed (1048576).'));
    expect(err).toBeInstanceOf(ContextLengthError);
    expect(err).toBeInstanceOf(BadRequestError);
  });

  it('reads RetryInfo.retryDelay into retryAfterMs, headers first', () => {
    const text = body(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] }, retryInfo('34.4s')]);
    expect(geminiError(res(429), text)).toMatchObject({ retryAfterMs: 34400 });
    expect(geminiError(res(429, { 'retry-after': '2' }), text)).toMatchObject({ retryAfterMs: 2000 });
    expect((geminiError(res(429), body(429, 'RESOURCE_EXHAUSTED')) as RateLimitError).retryAfterMs).toBeUndefined();
    expect(geminiError(res(503), body(503, 'UNAVAILABLE', 'x', [retryInfo('1s')]))).toMatchObject({ retryAfterMs: 1000 });
  });

  it('parses retryDelay durations', () => {
    const of = (d: unknown) => retryDelayMs({ details: [retryInfo(d)] });
    expect(of('7s')).toBe(7000);
    expect(of('34.4s')).toBe(34400);
    expect(of('0.5s')).toBe(500);
    expect(of('.25s')).toBe(250);
    expect(of({ seconds: '3', nanos: 500_000_000 })).toBe(3500);
    expect(of('7')).toBeUndefined();
    expect(of('-1s')).toBeUndefined();
    expect(of('soon')).toBeUndefined();
    expect(retryDelayMs({ details: [{ '@type': 'type.googleapis.com/google.rpc.Help', retryDelay: '7s' }] })).toBeUndefined();
    expect(retryDelayMs(undefined)).toBeUndefined();
  });

  it('parses a JSON body whatever its content-type, also SSE-framed or wrapped in an array', () => {
    const text = body(404, 'NOT_FOUND', 'models/x is not found');
    const sse = geminiError(res(404, { 'content-type': 'text/event-stream' }), `data: ${text}\r\n\r\n`);
    expect(sse).toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND' });
    expect(sse.message).toContain('models/x is not found');
    const array = geminiError(res(404), `[${text}]`);
    expect(array).toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND', raw: JSON.parse(text) });
  });

  it('reports a non-JSON body by status with at most 200 characters of it', () => {
    const html = '<html><body>' + 'Bad gateway '.repeat(100) + '</body></html>';
    const err = geminiError(res(502), html);
    expect(err).toBeInstanceOf(ServerError);
    expect(err.raw).toBeUndefined();
    expect(err.code).toBeUndefined();
    expect(err.message).toMatch(/^gemini gemini-2.5-flash: unexpected response: <html><body>Bad gateway/);
    expect(err.message).toMatch(/\(502\)$/);
    expect(err.message.length).toBeLessThan(300);
  });

  it('reports an empty body by status', () => {
    expect(geminiError(res(500), '').message).toBe('gemini gemini-2.5-flash: request failed (500)');
  });

  it('bounds a huge provider message', () => {
    expect(geminiError(res(400), body(400, 'INVALID_ARGUMENT', 'y'.repeat(10_000))).message.length).toBeLessThan(1100);
  });

  it('never builds a URL or key into the message', () => {
    const err = geminiError(res(400), body(400, 'INVALID_ARGUMENT', 'API key not valid.'));
    expect(err.message).not.toMatch(/key=|https?:/);
  });
});

describe('geminiStreamError', () => {
  it('uses error.code as the status and is retryable', () => {
    const chunk = JSON.parse(body(503, 'UNAVAILABLE', 'The model is overloaded. Please try again later.'));
    const err = geminiStreamError(res(200), chunk);
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err).toMatchObject({ status: 503, code: 'UNAVAILABLE', retryable: true, raw: chunk });
  });

  it('is retryable by its status: not for the caller\'s errors (400, 401, 403, 404), yes for 408, 409, 429 and 5xx', () => {
    expect(geminiStreamError(res(200), JSON.parse(body(400, 'INVALID_ARGUMENT')))).toMatchObject({ name: 'BadRequestError', retryable: false });
    expect(geminiStreamError(res(200), JSON.parse(body(401, 'UNAUTHENTICATED')))).toMatchObject({ name: 'AuthError', retryable: false });
    expect(geminiStreamError(res(200), JSON.parse(body(403, 'PERMISSION_DENIED')))).toMatchObject({ name: 'AuthError', retryable: false });
    expect(geminiStreamError(res(200), JSON.parse(body(404, 'NOT_FOUND')))).toMatchObject({ name: 'NotFoundError', retryable: false });
    for (const [code, name] of [[408, 'DEADLINE_EXCEEDED'], [409, 'ABORTED'], [429, 'RESOURCE_EXHAUSTED'], [500, 'INTERNAL'], [503, 'UNAVAILABLE'], [504, 'DEADLINE_EXCEEDED']] as const) {
      expect(geminiStreamError(res(200), JSON.parse(body(code, name))).retryable, String(code)).toBe(true);
    }
  });

  it('takes the status from the google.rpc.Code name when the error has no numeric code', () => {
    expect(geminiStreamError(res(200), { error: { message: 'x', status: 'INVALID_ARGUMENT' } })).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(geminiStreamError(res(200), { error: { message: 'x', status: 'UNAVAILABLE' } })).toMatchObject({ name: 'OverloadedError', status: 503, retryable: true });
    expect(geminiStreamError(res(200), { error: { message: 'x', status: 'SOMETHING_NEW' } })).toMatchObject({ name: 'ServerError', status: 500, retryable: true });
  });

  it('ignores retry headers of the 200 response but reads RetryInfo', () => {
    const err = geminiStreamError(res(200, { 'retry-after': '5' }), JSON.parse(body(429, 'RESOURCE_EXHAUSTED', 'q'))) as RateLimitError;
    expect(err.retryAfterMs).toBeUndefined();
    expect(geminiStreamError(res(200), JSON.parse(body(429, 'RESOURCE_EXHAUSTED', 'q', [retryInfo('3s')])))).toMatchObject({ retryAfterMs: 3000 });
  });

  it('falls back to 500 when the chunk names no usable code', () => {
    expect(geminiStreamError(res(200), { error: { message: 'x', code: 200 } })).toMatchObject({ name: 'ServerError', status: 500 });
    expect(geminiStreamError(res(200), { error: 'plain text' })).toMatchObject({ name: 'ServerError', status: 500 });
  });
});
