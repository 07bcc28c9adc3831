import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openai } from '../../providers/openai/index.js';
import { AuthError, ConfigError, ConnectionError, NotFoundError, ServerError } from '../../src/errors.js';
import { Fiber } from '../../src/fiber.js';
import { ChatMessage } from '../../src/messages.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { ChatRequest } from '../../src/types.js';
import { collect, emuFiber, rejectionOf, TEST_KEY, trackHandles, type HandleTracker } from '../helpers/core.js';

let emu: Emulator;
let fiber: Fiber;
let handles: HandleTracker;

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
  fiber = emuFiber(emu, { headers: { 'x-team': 'core', 'x-trace': 'fiber' } });
});

afterAll(async () => {
  await fiber.close();
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

const WEATHER_TOOL = {
  name: 'weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('Fiber.chat against the emulator', () => {
  it('returns the reply text, usage, finish reason, id, model, provider and attempts', async () => {
    emu.script({ text: 'Hi there friend', usage: { prompt: 7, completion: 3 } });
    const result = await fiber.chat({ messages: 'hello' });
    expect(result).toMatchObject({
      text: 'Hi there friend',
      reasoning: null,
      toolCalls: [],
      message: { role: 'assistant', content: 'Hi there friend' },
      finishReason: 'stop',
      usage: { prompt: 7, completion: 3, total: 10 },
      model: 'gpt-4o-mini',
      provider: 'openai',
      id: 'chatcmpl-emu1',
      attempts: 1,
      cached: false,
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.ttfbMs).not.toBeNull();
    expect(emu.requests).toHaveLength(1);
  });

  it('sends the normalized request body to /v1/chat/completions', async () => {
    await fiber.chat({ messages: [['system', 'Be brief'], 'hello'], temperature: 0.3, maxTokens: 50, seed: 7, stop: ['\n'] });
    expect(emu.requests).toHaveLength(1);
    const req = emu.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'hello' }],
      temperature: 0.3,
      max_completion_tokens: 50,
      seed: 7,
      stop: ['\n'],
    });
    expect(req.headers.authorization).toBe(`Bearer ${TEST_KEY}`);
    expect(req.headers['content-type']).toBe('application/json');
  });

  it('maps a scripted finish reason', async () => {
    emu.script({ text: 'cut', finishReason: 'length' });
    expect((await fiber.chat({ messages: 'hi' })).finishReason).toBe('length');
  });

  it('returns tool calls with parsed arguments and a message ready to append', async () => {
    emu.script({ toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }] });
    const result = await fiber.chat({ messages: 'Weather in Paris?', tools: [WEATHER_TOOL] });
    const call = { id: 'call_emu1_0', name: 'weather', arguments: { city: 'Paris' } };
    expect(result.toolCalls).toEqual([call]);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.text).toBe('');
    expect(result.message).toEqual({ role: 'assistant', content: '', toolCalls: [call] });
    expect((emu.requests[0]!.body as { tools: unknown }).tools).toEqual([
      { type: 'function', function: WEATHER_TOOL },
    ]);
  });

  it('sends a tool result back with ChatMessage.tool and the assistant turn in the round trip', async () => {
    emu.script({ toolCalls: [{ name: 'weather', arguments: { city: 'Paris' } }] });
    emu.script({ text: 'It is 21 degrees in Paris.' });
    const first = await fiber.chat({ messages: 'Weather in Paris?', tools: [WEATHER_TOOL] });
    const call = first.toolCalls[0]!;
    const second = await fiber.chat({
      messages: [ChatMessage.user('Weather in Paris?'), first.message, ChatMessage.tool(call.id, { tempC: 21 })],
      tools: [WEATHER_TOOL],
    });
    expect(second.text).toBe('It is 21 degrees in Paris.');
    expect(emu.requests).toHaveLength(2);
    expect((emu.requests[1]!.body as { messages: unknown }).messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_emu1_0', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_emu1_0', content: '{"tempC":21}' },
    ]);
  });

  it('merges per-call headers over the Fiber headers on the wire', async () => {
    await fiber.chat({ messages: 'hi', headers: { 'x-trace': 'call', 'x-extra': 'yes' } });
    const h = emu.requests[0]!.headers;
    expect(h['x-team']).toBe('core');
    expect(h['x-trace']).toBe('call');
    expect(h['x-extra']).toBe('yes');
  });

  it('sends the Fiber headers on every call', async () => {
    await fiber.chat({ messages: 'one' });
    await fiber.chat({ messages: 'two' });
    expect(emu.requests.map((r) => [r.headers['x-team'], r.headers['x-trace']])).toEqual([['core', 'fiber'], ['core', 'fiber']]);
  });

  it('sends a generated idempotency key, a different one per call', async () => {
    await fiber.chat({ messages: 'one' });
    await fiber.chat({ messages: 'two' });
    const keys = emu.requests.map((r) => r.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('maps a 404 to NotFoundError with the provider code and request id, after one request', async () => {
    emu.script({ status: 404 });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found', requestId: 'req_emu_1', provider: 'openai', model: 'gpt-4o-mini', attempts: 1, retryable: false });
    expect(emu.requests).toHaveLength(1);
  });

  it('fails a truncated JSON body with a retryable ServerError invalid_json', async () => {
    emu.script({ malformedJson: true, times: Infinity });
    const f = emuFiber(emu, { retry: false });
    try {
      const err = await rejectionOf(f.chat({ messages: 'hi' }));
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_json', status: 200, retryable: true, requestId: 'req_emu_1', attempts: 1 });
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(1);
  });

  it('fails a body cut mid-way with a retryable ConnectionError connection_dropped', async () => {
    emu.script({ dropAfterEvents: 1 });
    const f = emuFiber(emu, { retry: false });
    try {
      const err = await rejectionOf(f.chat({ messages: 'hi' }));
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err).toMatchObject({ code: 'connection_dropped', retryable: true, attempts: 1 });
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(1);
  });

  it('scrubs an API key the provider echoes back in a 401 body', async () => {
    emu.script({ status: 401, errorMessage: `Incorrect API key provided: ${TEST_KEY}.` });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(AuthError);
    expect(err.code).toBe('invalid_api_key');
    const everything = [err.message, err.stack ?? '', JSON.stringify(err.raw), JSON.stringify(Object.entries(err))].join('\n');
    expect(everything).not.toContain(TEST_KEY);
    expect(emu.requests).toHaveLength(1);
  });
});

describe('bad input is a ConfigError before any request', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown role', { messages: [{ role: 'robot', content: 'hi' }] }, /robot/],
    ['empty messages', { messages: [] }, /empty/i],
    ['a non-string content', { messages: [{ role: 'user', content: 42 }] }, /content/],
    ['a tool message without an id', { messages: [{ role: 'user', content: 'hi' }, { role: 'tool', content: 'x' }] }, /tool/i],
    ['an unknown option', { messages: 'hi', max_tokens: 5 }, /max_tokens/],
    ['a CR/LF in a header value', { messages: 'hi', headers: { 'x-a': 'v\r\nx-evil: 1' } }, /x-a/],
    ['a header name with a space', { messages: 'hi', headers: { 'x a': 'v' } }, /header/i],
    ['a negative timeout', { messages: 'hi', timeout: -1 }, /timeout/],
  ];

  it.each(cases)('chat() rejects %s', async (_what, req, message) => {
    const err = await rejectionOf(fiber.chat(req as unknown as ChatRequest));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(message);
    expect(emu.requests).toEqual([]);
  });

  it.each(cases)('chatStream() throws on first iteration for %s', async (_what, req, message) => {
    const { events, error } = await collect(fiber.chatStream(req as unknown as ChatRequest));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect(emu.requests).toEqual([]);
  });

  it('rejects a call with no model and no default model', async () => {
    const f = new Fiber({ baseUrls: { openai: emu.baseUrls.openai }, apiKeys: { openai: TEST_KEY } });
    try {
      const err = await rejectionOf(f.chat({ messages: 'hi' }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(/model/);
    } finally {
      await f.close();
    }
    expect(emu.requests).toEqual([]);
  });

  it('rejects a request that is not an object', async () => {
    const err = await rejectionOf(fiber.chat(null as unknown as ChatRequest));
    expect(err).toBeInstanceOf(ConfigError);
    expect(emu.requests).toEqual([]);
  });

  it('never throws synchronously from chat(), whatever the input', () => {
    const inputs: unknown[] = [null, undefined, 42, 'hi', { messages: [] }, { messages: 'hi', nope: 1 }];
    for (const input of inputs) {
      let p: Promise<unknown> | undefined;
      expect(() => { p = fiber.chat(input as ChatRequest); }).not.toThrow();
      expect(p).toBeInstanceOf(Promise);
      p!.catch(() => undefined);
    }
  });

  it('never throws synchronously from chatStream(), whatever the input', async () => {
    const inputs: unknown[] = [null, undefined, 42, { messages: [] }];
    for (const input of inputs) {
      let s: AsyncIterable<unknown> | undefined;
      expect(() => { s = fiber.chatStream(input as ChatRequest); }).not.toThrow();
      const { error } = await collect(s as AsyncIterable<never>);
      expect(error).toBeInstanceOf(ConfigError);
    }
    expect(emu.requests).toEqual([]);
  });
});

describe('routing', () => {
  it('sends a `provider:model` name to that provider with the bare model on the wire', async () => {
    const result = await fiber.chat({ model: 'openai:my-finetune', messages: 'hi' });
    expect(result.provider).toBe('openai');
    expect((emu.requests[0]!.body as { model: string }).model).toBe('my-finetune');
  });

  it('routes by the per-call provider override', async () => {
    const groq = openai({ name: 'groq', baseUrl: `${emu.url}/openai/v1`, apiKey: 'gsk-test-key-0123456789' });
    const f = emuFiber(emu, { providers: [groq] });
    try {
      const result = await f.chat({ model: 'llama-3.3-70b', provider: 'groq', messages: 'hi' });
      expect(result.provider).toBe('groq');
    } finally {
      await f.close();
    }
    expect(emu.requests[0]!.path).toBe('/openai/v1/chat/completions');
    expect(emu.requests[0]!.headers.authorization).toBe('Bearer gsk-test-key-0123456789');
    expect((emu.requests[0]!.body as { model: string }).model).toBe('llama-3.3-70b');
  });

  it('routes `name:model` to an extra provider registered under that name', async () => {
    const groq = openai({ name: 'groq', baseUrl: `${emu.url}/openai/v1` });
    const f = emuFiber(emu, { providers: [groq] });
    try {
      expect((await f.chat({ model: 'groq:llama-3.3-70b', messages: 'hi' })).provider).toBe('groq');
    } finally {
      await f.close();
    }
    expect(emu.requests[0]!.path).toBe('/openai/v1/chat/completions');
  });

  it('rejects a provider that is not registered with ConfigError before any request', async () => {
    const err = await rejectionOf(fiber.chat({ model: 'nowhere:model-x', messages: 'hi' }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(emu.requests).toEqual([]);
  });
});

describe('bind()', () => {
  it('applies the bound defaults to every call of the child', async () => {
    const child = fiber.bind({ model: 'gpt-4.1', temperature: 0.2, headers: { 'x-bound': '1' }, metadata: { team: 'core' } });
    await child.chat({ messages: 'hi' });
    const req = emu.requests[0]!;
    expect(req.body).toMatchObject({ model: 'gpt-4.1', temperature: 0.2 });
    expect(req.headers['x-bound']).toBe('1');
    expect(req.headers['x-team']).toBe('core');
  });

  it('lets a per-call field win over the bound default and merges headers', async () => {
    const child = fiber.bind({ temperature: 0.2, headers: { 'x-bound': '1', 'x-trace': 'bound' } });
    await child.chat({ messages: 'hi', temperature: 0.9, headers: { 'x-trace': 'call' } });
    const req = emu.requests[0]!;
    expect((req.body as { temperature: number }).temperature).toBe(0.9);
    expect(req.headers['x-bound']).toBe('1');
    expect(req.headers['x-trace']).toBe('call');
  });

  it('layers the defaults of a child of a child', async () => {
    const child = fiber.bind({ model: 'gpt-4.1' }).bind({ temperature: 0.5 });
    await child.chat({ messages: 'hi' });
    expect(emu.requests[0]!.body).toMatchObject({ model: 'gpt-4.1', temperature: 0.5 });
  });

  it('shares metrics and middleware with the parent', async () => {
    const log: string[] = [];
    const f = emuFiber(emu).use(async (_ctx, next) => { log.push('mw'); await next(); });
    try {
      const child = f.bind({ temperature: 0 });
      expect(child.metrics).toBe(f.metrics);
      await child.chat({ messages: 'hi' });
      expect(log).toEqual(['mw']);
      const count = f.metrics.snapshot().request_count as Array<{ value: number }>;
      expect(count.map((p) => p.value)).toEqual([1]);
    } finally {
      await f.close();
    }
  });

  it('leaves the parent untouched', async () => {
    fiber.bind({ model: 'gpt-4.1' });
    await fiber.chat({ messages: 'hi' });
    expect((emu.requests[0]!.body as { model: string }).model).toBe('gpt-4o-mini');
  });
});

describe('ask()', () => {
  it('returns the reply text', async () => {
    expect(await fiber.ask('hello')).toBe('You said: hello');
    expect(emu.requests).toHaveLength(1);
  });

  it('passes its options on to the call', async () => {
    await fiber.ask('hello', { model: 'gpt-4.1', temperature: 0 });
    expect(emu.requests[0]!.body).toMatchObject({ model: 'gpt-4.1', temperature: 0, messages: [{ role: 'user', content: 'hello' }] });
  });

  it('rejects bad input with ConfigError before any request', async () => {
    const err = await rejectionOf(fiber.ask([] as unknown as string));
    expect(err).toBeInstanceOf(ConfigError);
    expect(emu.requests).toEqual([]);
  });
});

describe('a missing API key', () => {
  it('fails a call to a provider’s own API before sending, naming where the key goes', async () => {
    const f = new Fiber({ defaultModel: 'gpt-4o-mini', retry: false });
    const err = await f.chat({ messages: 'hi' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('missing_api_key');
    expect(err.message).toContain('OPENAI_API_KEY');
    await f.close();
  });

  it('is allowed for a custom base URL (a proxy or a local server may not need one)', async () => {
    const emuLocal = await startEmulator();
    const f = new Fiber({ baseUrls: { openai: emuLocal.baseUrls.openai }, defaultModel: 'gpt-4o-mini' });
    expect((await f.chat({ messages: 'hi' })).text).toBe('You said: hi');
    expect(emuLocal.requests[0]!.headers.authorization).toBeUndefined();
    await f.close();
    await emuLocal.close();
  });
});
