import { describe, expect, it } from 'vitest';
import { bodyMessage, errorFields, failureText, parseErrorBody, sdkShouldRetry, statusRetryable } from '../../../providers/shared/error-response.js';
import type { ResponseInfo } from '../../../src/types.js';

function res(h: Record<string, string> = {}): ResponseInfo {
  return { status: 500, header: (n) => h[n], requestId: undefined, provider: 'p', model: 'm' };
}

describe('error response helpers', () => {
  it('parses a JSON body, and reads an empty or non-JSON one as undefined', () => {
    expect(parseErrorBody('{"error":{"message":"x"}}')).toEqual({ error: { message: 'x' } });
    expect(parseErrorBody('')).toBeUndefined();
    expect(parseErrorBody('<html>502</html>')).toBeUndefined();
  });

  it('falls back to a flattened snippet of at most 200 characters for an unreadable body', () => {
    expect(bodyMessage('from provider', undefined, '<html>')).toBe('from provider');
    expect(bodyMessage(undefined, { error: {} }, '{"error":{}}')).toBeUndefined();
    expect(bodyMessage(undefined, undefined, '')).toBeUndefined();
    expect(bodyMessage(undefined, undefined, '<h1>Bad\n\n  Gateway</h1>')).toBe('unexpected response: <h1>Bad Gateway</h1>');
    expect(bodyMessage(undefined, undefined, 'y'.repeat(500))).toBe(`unexpected response: ${'y'.repeat(200)}…`);
  });

  it('bounds the provider message at 1000 characters, and says "request failed" without one', () => {
    expect(failureText(undefined)).toBe('request failed');
    expect(failureText('z'.repeat(1000))).toBe('z'.repeat(1000));
    expect(failureText('z'.repeat(1001))).toBe(`${'z'.repeat(1000)}…`);
  });

  it('reads the error object, a string error and a bare message', () => {
    expect(errorFields({ error: { type: 't', message: 'm' } })).toEqual({ type: 't', message: 'm' });
    expect(errorFields({ error: 'text' })).toEqual({ message: 'text' });
    expect(errorFields({ message: 'bare' })).toEqual({ message: 'bare' });
    expect(errorFields({ detail: 'x' })).toBeUndefined();
    expect(errorFields('text')).toBeUndefined();
    expect(errorFields(null)).toBeUndefined();
  });

  it('retries 408, 409, 429 and 5xx unless final, and lets x-should-retry decide', () => {
    for (const status of [408, 409, 429, 500, 503, 529]) expect(sdkShouldRetry(status, res()), String(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 422]) expect(sdkShouldRetry(status, res()), String(status)).toBe(false);
    expect(sdkShouldRetry(429, res(), true)).toBe(false);
    expect(sdkShouldRetry(400, res({ 'x-should-retry': 'true' }))).toBe(true);
    expect(sdkShouldRetry(429, res({ 'x-should-retry': 'true' }), true)).toBe(true);
    expect(sdkShouldRetry(500, res({ 'x-should-retry': 'false' }))).toBe(false);
  });

  it('retries an error reported inside a 200 by its status alone', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504, 529]) expect(statusRetryable(status), String(status)).toBe(true);
    for (const status of [400, 401, 402, 403, 404, 413, 422, 499]) expect(statusRetryable(status), String(status)).toBe(false);
    expect(statusRetryable(429, true)).toBe(false);
  });
});
