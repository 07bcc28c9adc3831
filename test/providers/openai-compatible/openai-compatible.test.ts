import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, ConfigError, Fiber, StreamError, BadRequestError, NotFoundError, OverloadedError, type FiberOptions } from '../../../src/index.js';
import { openaiCompatible } from '../../../providers/index.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';

let emu: Emulator;
const fibers: Fiber[] = [];
const make = (opts: FiberOptions) => {
  const f = new Fiber({ retry: false, ...opts });
  fibers.push(f);
  return f;
};

beforeAll(async () => { emu = await startEmulator(); });
afterEach(async () => { emu.reset(); await Promise.all(fibers.splice(0).map((f) => f.close())); });
afterAll(async () => { await emu.close(); });

describe('openaiCompatible', () => {
  it('routes a provider-prefixed model with a colon in its name to the registered server', async () => {
    const fiber = make({ providers: [openaiCompatible({ name: 'ollama', baseUrl: `${emu.url}/v1`, quirks: { auth: 'none' } })] });
    const r = await fiber.chat({ model: 'ollama:llama3:8b', messages: 'hello there', maxTokens: 12 });
    expect(r.provider).toBe('ollama');
    expect(r.text).toBe('You said: hello there');
    const req = emu.requests[0]!;
    expect(req.path).toBe('/v1/chat/completions');
    expect((req.body as any).model).toBe('llama3:8b');
    expect((req.body as any).max_tokens).toBe(12);
    expect((req.body as any).max_completion_tokens).toBeUndefined();
    expect(req.headers.authorization).toBeUndefined();
  });

  it('sends the key as a bearer token by default', async () => {
    const fiber = make({
      apiKeys: { groq: 'gsk-test-fake-key-123' },
      providers: [openaiCompatible({ name: 'groq', baseUrl: `${emu.url}/openai/v1` })],
    });
    await fiber.chat({ model: 'groq:llama-3.1-8b-instant', messages: 'hi' });
    expect(emu.requests[0]!.headers.authorization).toBe('Bearer gsk-test-fake-key-123');
    expect(emu.requests[0]!.path).toBe('/openai/v1/chat/completions');
  });

  it('builds Azure deployment URLs with the api-version query and the api-key header', async () => {
    const fiber = make({
      providers: [openaiCompatible({
        name: 'azure',
        apiKey: 'azure-test-fake-key-123',
        baseUrl: `${emu.url}/openai/deployments/{model}`,
        quirks: { auth: 'api-key', query: { 'api-version': '2024-10-21' }, maxTokensField: 'max_completion_tokens' },
      })],
    });
    const s = fiber.chatStream({ model: 'azure:my-gpt4o', messages: 'stream please', maxTokens: 50 });
    const result = await s.result();
    expect(result.text).toBe('You said: stream please');
    const req = emu.requests[0]!;
    expect(req.path).toBe('/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21');
    expect(req.headers['api-key']).toBe('azure-test-fake-key-123');
    expect(req.headers.authorization).toBeUndefined();
    expect((req.body as any).max_completion_tokens).toBe(50);
  });

  it('leaves stream_options out when the server rejects it, and reports zero usage when none arrives', async () => {
    const fiber = make({ providers: [openaiCompatible({ name: 'vllm', baseUrl: `${emu.url}/v1`, quirks: { streamUsage: false } })] });
    const events: string[] = [];
    const s = fiber.chatStream({ model: 'vllm:qwen', messages: 'one two' });
    for await (const ev of s) events.push(ev.type);
    expect((emu.requests[0]!.body as any).stream_options).toBeUndefined();
    expect(events).not.toContain('usage');
    expect(events.at(-1)).toBe('done');
    expect((await s.result()).usage).toEqual({ prompt: 0, completion: 0, total: 0, costEstimate: null });
  });

  it('accepts a finish_reason as the end of a stream when the server never sends [DONE]', async () => {
    emu.script({ provider: 'openai', omitEndMarker: true });
    const fiber = make({ providers: [openaiCompatible({ name: 'lmstudio', baseUrl: `${emu.url}/v1`, quirks: { doneOptional: true } })] });
    const r = await fiber.chatStream({ model: 'lmstudio:phi', messages: 'ok then' }).result();
    expect(r.text).toBe('You said: ok then');
    expect(r.finishReason).toBe('stop');
  });

  it('still fails a stream without [DONE] when the quirk is off', async () => {
    emu.script({ provider: 'openai', omitEndMarker: true });
    const fiber = make({ providers: [openaiCompatible({ name: 'together', baseUrl: `${emu.url}/v1` })] });
    const err = await fiber.chatStream({ model: 'together:mixtral', messages: 'x' }).result().catch((e) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect(err.code).toBe('missing_end_marker');
  });

  it('maps a vLLM-shaped error body', async () => {
    emu.script({
      provider: 'openai',
      raw: { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: 400 }) },
    });
    const fiber = make({ providers: [openaiCompatible({ name: 'vllm', baseUrl: `${emu.url}/v1` })] });
    const err = await fiber.chat({ model: 'vllm:qwen', messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain('max_tokens is too large');
    expect(err.provider).toBe('vllm');
  });

  it('maps an Ollama-shaped string error body', async () => {
    emu.script({
      provider: 'openai',
      raw: { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: "model 'nope' not found" }) },
    });
    const fiber = make({ providers: [openaiCompatible({ name: 'ollama', baseUrl: `${emu.url}/v1`, quirks: { auth: 'none' } })] });
    const err = await fiber.chat({ model: 'ollama:nope', messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("model 'nope' not found");
  });

  it('maps a gateway\'s 529 to OverloadedError', async () => {
    emu.script({
      provider: 'openai',
      raw: { status: 529, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { message: 'Overloaded', type: 'overloaded_error', code: null } }) },
    });
    const fiber = make({ providers: [openaiCompatible({ name: 'gateway', baseUrl: `${emu.url}/v1` })] });
    const err = await fiber.chat({ model: 'gateway:claude-proxy', messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err).toMatchObject({ status: 529, retryable: true, provider: 'gateway' });
  });

  it('maps a 200 body that holds an error (OpenRouter-style numeric code) to its typed error', async () => {
    emu.script({
      provider: 'openai',
      raw: { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { message: 'No auth credentials found', code: 401 } }) },
    });
    const fiber = make({ providers: [openaiCompatible({ name: 'router', baseUrl: `${emu.url}/v1` })] });
    const err = await fiber.chat({ model: 'router:some/model', messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ status: 401, retryable: false, provider: 'router' });
    expect(err.message).toContain('No auth credentials found');
  });

  it('refuses a built-in name, unknown options and unknown quirks', () => {
    expect(() => openaiCompatible({ name: 'openai', baseUrl: 'http://127.0.0.1:1/v1' })).toThrow(ConfigError);
    expect(() => openaiCompatible({ name: 'x', baseUrl: 'http://127.0.0.1:1/v1', bogus: 1 } as any)).toThrow(/unknown option "bogus"/);
    expect(() => openaiCompatible({ name: 'x', baseUrl: 'http://127.0.0.1:1/v1', quirks: { nope: true } as any })).toThrow(/unknown quirk "nope"/);
    expect(() => openaiCompatible({ name: 'x', baseUrl: 'ftp://127.0.0.1:1/v1' })).toThrow(/http or https/);
    expect(() => openaiCompatible({ name: 'x', baseUrl: 'http://user:pw@127.0.0.1:1/v1' })).toThrow(/credentials/);
  });
});
