import { describe, expect, it } from 'vitest';
import { gemini } from '../../../providers/gemini/index.js';
import { GeminiStreamDecoder } from '../../../providers/gemini/stream.js';
import type { ResponseInfo } from '../../../src/types.js';
import { configError, expectCommonOptionChecks } from '../../helpers/conformance.js';

const KEY = 'AIza-canary-abcdefghijklmnop';

describe('gemini()', () => {
  it('describes the Gemini provider', () => {
    expect(gemini()).toMatchObject({
      name: 'gemini',
      defaultBaseUrl: 'https://generativelanguage.googleapis.com',
      envKeys: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
      idempotencyHeader: null,
      requestIdHeader: 'x-request-id',
      options: {},
    });
  });

  it('keeps its own connection settings and name', () => {
    const p = gemini({ apiKey: KEY, baseUrl: 'http://localhost:8080/', headers: { 'X-Team': 't' }, name: 'vertex-ish' });
    expect(p.name).toBe('vertex-ish');
    expect(p.options).toEqual({ apiKey: KEY, baseUrl: 'http://localhost:8080', headers: { 'x-team': 't' } });
  });

  it('wires prepare (with the API version), parse, stream and error', () => {
    const p = gemini({ name: 'custom', apiVersion: 'v1' });
    const wire = p.prepare({ model: 'gemini-2.0-flash', messages: [{ role: 'user', content: 'hi' }], stream: true }, { apiKey: KEY, baseUrl: 'http://x', headers: {} });
    expect(wire.url).toBe('http://x/v1/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
    expect(wire.url).not.toContain(KEY);
    expect(gemini().prepare({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false }, { apiKey: undefined, baseUrl: 'http://x', headers: {} }).url).toBe(
      'http://x/v1beta/models/m:generateContent',
    );
    const res: ResponseInfo = { status: 404, header: () => undefined, requestId: undefined, provider: 'custom', model: 'm' };
    expect(p.stream(res, { model: 'm', messages: [], stream: true })).toBeInstanceOf(GeminiStreamDecoder);
    const err = p.error(res, '{"error":{"code":404,"message":"nope","status":"NOT_FOUND"}}');
    expect(err.name).toBe('NotFoundError');
    expect(err.message).toBe('custom m: nope (404)');
    expect(p.parse({ candidates: [{ content: { parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] }, { ...res, status: 200 }).text).toBe('ok');
  });

  it('rejects unknown options', () => {
    expect(configError(() => gemini({ apiKeyy: KEY } as never)).message).toContain("'apiKeyy'");
  });

  it('rejects bad option values without echoing the key', () => {
    expectCommonOptionChecks(gemini, KEY);
    configError(() => gemini({ apiVersion: 'v2' as never }));
    expect(configError(() => gemini({ baseUrl: `https://user:${KEY}@example.com` })).message).not.toContain(KEY);
    expect(configError(() => gemini({ baseUrl: `https://generativelanguage.googleapis.com/?key=${KEY}` })).message).not.toContain(KEY);
  });
});
