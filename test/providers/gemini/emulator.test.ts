import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gemini } from '../../../providers/gemini/index.js';
import { Fiber, type FiberOptions, NotFoundError, RateLimitError, StreamError } from '../../../src/index.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';
import { loadFixtures } from '../../helpers/fixtures.js';

const KEY = 'AIza-emu-canary-0123456789abcdef';

let emu: Emulator;
const fibers: Fiber[] = [];
const make = (opts: FiberOptions = {}) => {
  const f = new Fiber({ retry: false, providers: [gemini()], apiKeys: { gemini: KEY }, baseUrls: { gemini: emu.baseUrls.gemini }, ...opts });
  fibers.push(f);
  return f;
};

beforeAll(async () => {
  emu = await startEmulator();
});
afterEach(async () => {
  emu.reset();
  await Promise.all(fibers.splice(0).map((f) => f.close()));
});
afterAll(async () => {
  await emu.close();
});

describe('gemini adapter over real sockets', () => {
  it('chats with the key in x-goog-api-key only', async () => {
    const r = await make().chat({ model: 'gemini-2.5-flash', messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'hello there' }], maxTokens: 20 });
    expect(r).toMatchObject({ text: 'You said: hello there', provider: 'gemini', model: 'gemini-2.5-flash', finishReason: 'stop' });
    const req = emu.requests[0]!;
    expect(req.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(req.headers['x-goog-api-key']).toBe(KEY);
    expect(req.path).not.toContain(KEY);
    expect(req.body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'hello there' }] }],
      systemInstruction: { parts: [{ text: 'Be brief' }] },
      generationConfig: { maxOutputTokens: 20 },
    });
    // Gemini documents no idempotency header.
    expect(req.headers['idempotency-key']).toBeUndefined();
  });

  it('streams chunks, one usage event and done', async () => {
    const s = make().chatStream({ model: 'gemini-2.5-flash', messages: 'one two three' });
    const types: string[] = [];
    for await (const ev of s) types.push(ev.type);
    expect(emu.requests[0]!.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(types.filter((t) => t === 'usage')).toHaveLength(1);
    expect(types.at(-1)).toBe('done');
    const r = await s.result();
    expect(r.text).toBe('You said: one two three');
    expect(r.usage.total).toBe(r.usage.prompt + r.usage.completion);
  });

  it('round-trips a tool call: call_0 id, then a functionResponse named after the call', async () => {
    emu.script({ provider: 'gemini', toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const fiber = make();
    const tools = [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const first = await fiber.chat({ model: 'gemini-2.5-flash', messages: 'Weather in Paris?', tools, toolChoice: 'required' });
    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([{ id: 'call_0', name: 'get_weather', arguments: { city: 'Paris' } }]);
    expect((emu.requests[0]!.body as any).toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });

    await fiber.chat({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'Weather in Paris?' }, first.message, { role: 'tool', toolCallId: 'call_0', content: '21°C' }], tools });
    expect((emu.requests[1]!.body as any).contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { result: '21°C' } } }] },
    ]);
  });

  it('reports reasoning parts as reasoning, not text', async () => {
    emu.script({ provider: 'gemini', text: 'Three.', reasoning: 'Counting letters.' });
    const r = await make().chat({ model: 'gemini-2.5-flash', messages: 'How many r?' });
    expect(r.text).toBe('Three.');
    expect(r.reasoning).toBe('Counting letters.');
  });

  it('turns RESOURCE_EXHAUSTED with RetryInfo into RateLimitError.retryAfterMs', async () => {
    emu.script({ provider: 'gemini', status: 429, geminiRetryDelay: '7s' });
    const err = await make().chat({ model: 'gemini-2.5-flash', messages: 'hi' }).catch((e) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ status: 429, code: 'RESOURCE_EXHAUSTED', retryAfterMs: 7000, retryable: true });
  });

  it('scrubs a key the error body echoes back', async () => {
    emu.script({ provider: 'gemini', status: 400, errorMessage: `API key not valid: ${KEY}` });
    const err = await make().chat({ model: 'gemini-2.5-flash', messages: 'hi' }).catch((e) => e);
    expect(err.message).not.toContain(KEY);
    expect(JSON.stringify(err.raw)).not.toContain(KEY);
    expect(String(err.stack)).not.toContain(KEY);
  });

  it('fails a stream that ends without a finishReason with StreamError', async () => {
    emu.script({ provider: 'gemini', omitEndMarker: true });
    const err = await make().chatStream({ model: 'gemini-2.5-flash', messages: 'cut me' }).result().catch((e) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ code: 'missing_end_marker', retryable: true });
  });

  it('replays the recorded 404 (text/event-stream content-type) as NotFoundError', async () => {
    const fx = loadFixtures('gemini').find((f) => f.name === 'error-404-model-not-found')!;
    emu.script({ provider: 'gemini', raw: { status: fx.meta.status, headers: fx.meta.headers, body: fx.body } });
    const err = await make().chatStream({ model: 'gemini-custom', messages: 'hi' }).result().catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('NOT_FOUND');
  });

  it('replays a recorded CRLF stream delivered in 5-byte pieces', async () => {
    const fx = loadFixtures('gemini').find((f) => f.name === 'text-stream')!;
    emu.script({ provider: 'gemini', raw: { status: 200, headers: fx.meta.headers, body: fx.body, splitEvery: 5 } });
    const r = await make().chatStream({ model: 'gemini-2.5-flash', messages: 'high' }).result();
    expect(r.text).toBe((fx.expected as { text: string }).text);
    expect(r.usage).toMatchObject({ prompt: 20, completion: 513, total: 533, reasoning: 260 });
    expect(r.id).toBe('tS77aIl-4ZvV7w_A9rTBBg');
  });
});
