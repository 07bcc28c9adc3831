import { describe, expect, it } from 'vitest';
import { anthropic } from '../../../providers/anthropic/index.js';
import { AnthropicStreamDecoder } from '../../../providers/anthropic/stream.js';
import type { ResponseInfo } from '../../../src/types.js';
import { configError, expectCommonOptionChecks } from '../../helpers/conformance.js';

const KEY = 'sk-ant-canary-abcdefghijklmnop';

describe('anthropic()', () => {
  it('describes the Anthropic provider, with no idempotency header (the API documents none)', () => {
    expect(anthropic()).toMatchObject({
      name: 'anthropic',
      defaultBaseUrl: 'https://api.anthropic.com',
      envKeys: ['ANTHROPIC_API_KEY'],
      idempotencyHeader: null,
      requestIdHeader: 'request-id',
      options: {},
    });
  });

  it('keeps its own connection settings and name', () => {
    const p = anthropic({ apiKey: KEY, baseUrl: 'http://localhost:8080/', headers: { 'anthropic-beta': 'b' }, name: 'claude-proxy' });
    expect(p.name).toBe('claude-proxy');
    expect(p.options).toEqual({ apiKey: KEY, baseUrl: 'http://localhost:8080', headers: { 'anthropic-beta': 'b' } });
  });

  it('wires prepare (with version and defaultMaxTokens), parse, stream and error', () => {
    const p = anthropic({ name: 'custom', version: '2023-01-01', defaultMaxTokens: 512 });
    const wire = p.prepare({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false }, { apiKey: KEY, baseUrl: 'http://x', headers: {} });
    expect(wire.url).toBe('http://x/v1/messages');
    expect(wire.headers).toMatchObject({ 'x-api-key': KEY, 'anthropic-version': '2023-01-01' });
    expect(JSON.parse(wire.body).max_tokens).toBe(512);
    const res: ResponseInfo = { status: 404, header: () => undefined, requestId: undefined, provider: 'custom', model: 'm' };
    expect(p.stream(res, { model: 'm', messages: [], stream: true })).toBeInstanceOf(AnthropicStreamDecoder);
    expect(p.error(res, '{"type":"error","error":{"type":"not_found_error","message":"model: m"}}').name).toBe('NotFoundError');
    expect(p.parse({ content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn' }, { ...res, status: 200 }).text).toBe('ok');
  });

  it('names the adapter in prepare errors', () => {
    const p = anthropic({ name: 'claude-proxy' });
    expect(() => p.prepare({ model: 'm', messages: [{ role: 'user', content: [{ type: 'audio', data: 'AA', mediaType: 'audio/wav' }] }], stream: false }, { apiKey: undefined, baseUrl: 'http://x', headers: {} })).toThrow(
      /^claude-proxy m: content part type 'audio'/,
    );
  });

  it('rejects unknown options', () => {
    expect(configError(() => anthropic({ apiKeyy: KEY } as never)).message).toContain("'apiKeyy'");
    configError(() => anthropic({ api: 'chat' } as never));
  });

  it('rejects bad option values without echoing the key', () => {
    expectCommonOptionChecks(anthropic, KEY);
    configError(() => anthropic({ version: '' }));
    configError(() => anthropic({ version: '2023-06-01\r\nx-evil: 1' }));
    configError(() => anthropic({ defaultMaxTokens: 0 }));
    configError(() => anthropic({ defaultMaxTokens: 1.5 }));
    configError(() => anthropic({ defaultMaxTokens: '4096' as never }));
  });
});
