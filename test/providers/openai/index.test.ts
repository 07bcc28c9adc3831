import { describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import { OpenAIStreamDecoder } from '../../../providers/openai/stream.js';
import type { ResponseInfo } from '../../../src/types.js';
import { configError, expectCommonOptionChecks } from '../../helpers/conformance.js';

const KEY = 'sk-canary-abcdefghijklmnop';

describe('openai()', () => {
  it('describes the OpenAI provider', () => {
    const p = openai();
    expect(p).toMatchObject({
      name: 'openai',
      defaultBaseUrl: 'https://api.openai.com/v1',
      envKeys: ['OPENAI_API_KEY'],
      idempotencyHeader: 'Idempotency-Key',
      requestIdHeader: 'x-request-id',
      options: {},
    });
  });

  it('keeps its own connection settings and name', () => {
    const p = openai({ apiKey: KEY, baseUrl: 'http://localhost:8080/v1/', headers: { 'x-org': 'o' }, name: 'azure-ish' });
    expect(p.name).toBe('azure-ish');
    expect(p.options).toEqual({ apiKey: KEY, baseUrl: 'http://localhost:8080/v1', headers: { 'x-org': 'o' } });
  });

  it('wires prepare, parse, stream and error', () => {
    const p = openai({ name: 'custom' });
    const wire = p.prepare({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false }, { apiKey: undefined, baseUrl: 'http://x/v1', headers: {} });
    expect(wire.url).toBe('http://x/v1/chat/completions');
    const res: ResponseInfo = { status: 404, header: () => undefined, requestId: undefined, provider: 'custom', model: 'm' };
    expect(p.stream(res, { model: 'm', messages: [], stream: true })).toBeInstanceOf(OpenAIStreamDecoder);
    expect(p.error(res, '{"error":{"message":"nope","type":"invalid_request_error","code":"model_not_found"}}').name).toBe('NotFoundError');
    expect(p.parse({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }, { ...res, status: 200 }).text).toBe('ok');
  });

  it("speaks the Responses wire with api: 'responses'", () => {
    const wire = openai({ api: 'responses' }).prepare(
      { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }], stream: false },
      { apiKey: KEY, baseUrl: 'https://api.openai.com/v1', headers: {} },
    );
    expect(wire.url).toBe('https://api.openai.com/v1/responses');
    expect(JSON.parse(wire.body).input).toBeDefined();
  });

  it('rejects unknown options', () => {
    expect(configError(() => openai({ apiKeyy: KEY } as never)).message).toContain("'apiKeyy'");
  });

  it('rejects bad option values without echoing the key', () => {
    expectCommonOptionChecks(openai, KEY, '/v1');
    configError(() => openai({ api: 'completions' as never }));
  });
});
