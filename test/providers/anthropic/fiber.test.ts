import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anthropic } from '../../../providers/anthropic/index.js';
import { OverloadedError, StreamError, TimeoutError } from '../../../src/errors.js';
import { Fiber, type FiberOptions } from '../../../src/fiber.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';
import type { ChatResult, StreamEvent } from '../../../src/types.js';
import { activeResources, collect, expectNoLeaks, FAST_RETRY, rejectionOf, textOf, typesOf } from '../../helpers/core.js';

/** A canary key: it must never show up in an error, a log line or a recorded URL. */
const KEY = 'sk-ant-canary-fiber-0123456789';
const MODEL = 'claude-sonnet-4-5';

let emu: Emulator;
let baseline: string[];
const opened: Fiber[] = [];

function fiberWith(options: FiberOptions = {}): Fiber {
  const f = new Fiber({
    providers: [anthropic()],
    baseUrls: { anthropic: emu.baseUrls.anthropic },
    apiKeys: { anthropic: KEY },
    defaultModel: MODEL,
    retry: FAST_RETRY,
    ...options,
  });
  opened.push(f);
  return f;
}

beforeAll(async () => {
  baseline = activeResources();
  emu = await startEmulator();
});

afterAll(async () => {
  for (const f of opened) await f.close();
  await emu.close();
  await expectNoLeaks(baseline);
});

beforeEach(() => emu.reset());

type Done = Extract<StreamEvent, { type: 'done' }>;

describe('anthropic through the Fiber and the emulator', () => {
  it('sends a Messages request and normalizes the answer', async () => {
    emu.script({ provider: 'anthropic', text: 'Bonjour !', usage: { prompt: 9, completion: 3 } });
    const result = await fiberWith().chat({ messages: [['system', 'Answer in French.'], ['user', 'Hello']] });
    expect(result).toMatchObject({ text: 'Bonjour !', finishReason: 'stop', provider: 'anthropic', reasoning: null, attempts: 1 });
    expect(result.usage).toMatchObject({ prompt: 9, completion: 3, total: 12, cachedPrompt: 0, cacheWrite: 0 });
    const sent = emu.requests[0]!;
    expect(sent.path).toBe('/v1/messages');
    expect(sent.headers).toMatchObject({ 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });
    expect(sent.headers).not.toHaveProperty('idempotency-key');
    expect(sent.headers).not.toHaveProperty('authorization');
    expect(sent.body).toEqual({ model: MODEL, max_tokens: 4096, system: 'Answer in French.', messages: [{ role: 'user', content: 'Hello' }] });
  });

  it('streams reasoning, text and a tool call, and sends the thinking block back on the next turn', async () => {
    emu.script({
      provider: 'anthropic',
      reasoning: 'The user wants weather.',
      chunks: ['Let me ', 'check.'],
      toolCalls: [{ id: 'toolu_w', name: 'get_weather', arguments: { city: 'Paris' } }],
    });
    const f = fiberWith();
    const tools = [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const { events, error } = await collect(f.chatStream({ messages: 'Weather in Paris?', tools }));
    expect(error).toBeNull();
    const types = typesOf(events);
    expect(types.filter((t) => t !== 'reasoning')).toEqual(['chunk', 'chunk', 'tool_call', 'usage', 'done']);
    expect(types[0]).toBe('reasoning');
    const result: ChatResult = (events.at(-1) as Done).result;
    expect(result).toMatchObject({ text: 'Let me check.', reasoning: 'The user wants weather.', finishReason: 'tool_calls' });
    expect(result.toolCalls).toEqual([{ id: 'toolu_w', name: 'get_weather', arguments: { city: 'Paris' } }]);
    const blocks = (result.message.providerData as { anthropic: { blocks: Array<Record<string, unknown>> } }).anthropic.blocks;
    expect(blocks).toEqual([{ type: 'thinking', thinking: 'The user wants weather.', signature: expect.stringMatching(/^emu_sig_/) }]);
    expect(emu.requests[0]!.body).toMatchObject({ stream: true, tools: [{ name: 'get_weather', input_schema: tools[0]!.parameters }] });

    emu.script({ provider: 'anthropic', text: 'It is 21°C.' });
    await f.chat({ messages: ['Weather in Paris?', result.message, { role: 'tool', toolCallId: 'toolu_w', content: '{"temp":21}' }], tools });
    expect((emu.requests[1]!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: [
          blocks[0],
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_w', name: 'get_weather', input: { city: 'Paris' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_w', content: '{"temp":21}' }] },
    ]);
  });

  it('retries a 529 overloaded_error and succeeds', async () => {
    emu.script({ provider: 'anthropic', status: 529 });
    emu.script({ provider: 'anthropic', text: 'ok' });
    const result = await fiberWith().chat({ messages: 'hi' });
    expect(result).toMatchObject({ text: 'ok', attempts: 2 });
    expect(emu.requests).toHaveLength(2);
  });

  it('retries an in-stream overloaded_error that came before any content event', async () => {
    emu.script({ provider: 'anthropic', inStreamError: { after: 0 } });
    emu.script({ provider: 'anthropic', chunks: ['fine'] });
    const { events, error } = await collect(fiberWith().chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('fine');
    expect((events.at(-1) as Done).result.attempts).toBe(2);
  });

  it('throws OverloadedError from the iterator for an in-stream error after content, without retrying', async () => {
    emu.script({ provider: 'anthropic', chunks: ['a', 'b', 'c'], inStreamError: { after: 3 } });
    // Counted events: message_start, content_block_start, then the deltas: the error follows the first delta.
    const { events, error } = await collect(fiberWith().chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(OverloadedError);
    expect(error).toMatchObject({ status: 529, code: 'overloaded_error' });
    expect(textOf(events)).toBe('a');
    expect(emu.requests).toHaveLength(1);
  });

  it('throws StreamError for a stream that ends without message_stop', async () => {
    emu.script({ provider: 'anthropic', chunks: ['a', 'b'], omitEndMarker: true });
    const { error } = await collect(fiberWith({ retry: false }).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({ code: 'missing_end_marker', status: 200 });
  });

  it('does not count pings as events: a stream of pings alone times out at first_event', async () => {
    emu.script({ provider: 'anthropic', pingOnly: true, pingIntervalMs: 5 });
    const { events, error } = await collect(fiberWith({ retry: false, timeouts: { firstEventMs: 60 } }).chatStream({ messages: 'hi' }));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).phase).toBe('first_event');
  });

  it('keeps the key out of errors, even one the provider echoes back', async () => {
    emu.script({ provider: 'anthropic', status: 401, errorMessage: `invalid x-api-key: ${KEY}` });
    const err = await rejectionOf(fiberWith().chat({ messages: 'hi' }));
    expect(err.name).toBe('AuthError');
    expect(err.code).toBe('authentication_error');
    expect(JSON.stringify({ message: err.message, stack: err.stack, raw: err.raw })).not.toContain(KEY);
    for (const r of emu.requests) expect(r.path).not.toContain(KEY);
  });
});
