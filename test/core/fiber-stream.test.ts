import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RateLimitError, ServerError, StreamError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import type { StreamEvent } from '../../src/types.js';
import {
  collect, emuFiber, iter, recordingLogger, rejectionOf, retryLogs, SSE_HEADERS, sseChunk,
  sseEnd, textOf, typesOf,
} from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';

const emu = useEmulator();
let fiber: Fiber;

beforeAll(() => {
  fiber = closeAfterAll(emuFiber(emu));
});

type Done = Extract<StreamEvent, { type: 'done' }>;
const doneOf = (events: StreamEvent[]) => events.at(-1) as Done;

describe('chatStream events', () => {
  it('delivers one chunk per delta, then usage, with done last', async () => {
    emu.script({ chunks: ['Hel', 'lo', ' wor', 'ld'], usage: { prompt: 5, completion: 4 } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    expect(events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta)).toEqual(['Hel', 'lo', ' wor', 'ld']);
    expect(events[4]).toMatchObject({ type: 'usage', usage: { prompt: 5, completion: 4, total: 9 } });
    expect(emu.requests).toHaveLength(1);
  });

  it('asks for usage in the stream on the wire', async () => {
    await collect(fiber.chatStream({ messages: 'hi' }));
    expect(emu.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('stamps events with a non-decreasing t in ms since the call started', async () => {
    emu.script({ chunks: ['a', 'b', 'c', 'd', 'e'], chunkDelayMs: 2 });
    const { events } = await collect(fiber.chatStream({ messages: 'hi' }));
    const ts = events.map((e) => e.t);
    expect(ts[0]).toBeGreaterThanOrEqual(0);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]!);
  });

  it('builds the done result from the delivered chunks and the provider facts', async () => {
    emu.script({ text: 'The quick brown fox', usage: { prompt: 3, completion: 4 } });
    const { events } = await collect(fiber.chatStream({ messages: 'hi' }));
    const { result } = doneOf(events);
    expect(result.text).toBe(textOf(events));
    expect(result).toMatchObject({
      text: 'The quick brown fox',
      message: { role: 'assistant', content: 'The quick brown fox' },
      finishReason: 'stop',
      usage: { prompt: 3, completion: 4, total: 7 },
      model: 'gpt-4o-mini',
      provider: 'openai',
      id: 'chatcmpl-emu1',
      attempts: 1,
      cached: false,
    });
    expect(result.ttfbMs).not.toBeNull();
  });

  it('drives the stream from result() alone', async () => {
    emu.script({ text: 'nobody iterates' });
    const result = await fiber.chatStream({ messages: 'hi' }).result();
    expect(result.text).toBe('nobody iterates');
    expect(emu.requests).toHaveLength(1);
  });

  it('resolves result() called after iteration to the done result', async () => {
    const stream = fiber.chatStream({ messages: 'hello' });
    const { events } = await collect(stream);
    expect(await stream.result()).toBe(doneOf(events).result);
  });

  it('resolves result() called before iteration to the done result', async () => {
    const stream = fiber.chatStream({ messages: 'hello' });
    const pending = stream.result();
    const { events } = await collect(stream);
    expect(await pending).toBe(doneOf(events).result);
    expect(emu.requests).toHaveLength(1);
  });

  it('sends nothing until the stream is iterated', async () => {
    const stream = fiber.chatStream({ messages: 'hi' });
    await new Promise((r) => setTimeout(r, 20));
    expect(emu.requests).toEqual([]);
    await collect(stream);
    expect(emu.requests).toHaveLength(1);
  });

  it('ends with done on every further next() after done', async () => {
    const it = iter(fiber.chatStream({ messages: 'hi' }));
    for (let r = await it.next(); !r.done; r = await it.next()) { /* drain */ }
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('emits one tool_call event per call once its arguments are complete, after the text', async () => {
    emu.script({
      text: 'Checking.',
      toolCalls: [
        { name: 'weather', arguments: { city: 'Paris', units: 'metric' } },
        { name: 'time', arguments: { tz: 'Europe/Paris' } },
      ],
    });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi', tools: [{ name: 'weather' }, { name: 'time' }] }));
    expect(error).toBeNull();
    expect(typesOf(events)).toEqual(['chunk', 'tool_call', 'tool_call', 'usage', 'done']);
    const calls = [
      { id: 'call_emu1_0', name: 'weather', arguments: { city: 'Paris', units: 'metric' } },
      { id: 'call_emu1_1', name: 'time', arguments: { tz: 'Europe/Paris' } },
    ];
    expect(events.filter((e) => e.type === 'tool_call').map((e) => (e as { toolCall: unknown }).toolCall)).toEqual(calls);
    const { result } = doneOf(events);
    expect(result.toolCalls).toEqual(calls);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.message).toEqual({ role: 'assistant', content: 'Checking.', toolCalls: calls });
  });
});

describe('stream faults end in a typed error from the iterator, never a silent end', () => {
  it('throws StreamError missing_end_marker when the stream ends without [DONE]', async () => {
    emu.script({ text: 'no end marker', omitEndMarker: true });
    const stream = fiber.chatStream({ messages: 'hi' });
    const { events, error } = await collect(stream);
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({ code: 'missing_end_marker', status: 200, requestId: 'req_emu_1', attempts: 1 });
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'chunk', 'usage']);
    expect(await rejectionOf(stream.result())).toBe(error);
    expect(emu.requests).toHaveLength(1);
  });

  it('throws StreamError connection_dropped when the connection drops mid-stream', async () => {
    emu.script({ chunks: ['one', ' two', ' three', ' four'], dropAfterEvents: 3 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect((error as StreamError).code).toBe('connection_dropped');
    expect(textOf(events)).toBe('one two');
    expect(emu.requests).toHaveLength(1);
  });

  it('throws StreamError invalid_json for a malformed event after the first one', async () => {
    const first = sseChunk('Hello');
    const body = first + 'data: {"id":"chatcmpl-test","choices":[{"index":0,"del\n\n' + sseChunk(' world') + sseEnd();
    emu.script({ raw: { status: 200, headers: SSE_HEADERS, body, splitEvery: first.length }, chunkDelayMs: 5 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect(error).toMatchObject({ code: 'invalid_json', attempts: 1 });
    expect(typesOf(events)).toEqual(['chunk']);
    expect(textOf(events)).toBe('Hello');
    expect(emu.requests).toHaveLength(1);
  });

  it('throws ServerError for an in-stream server_error event', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], inStreamError: { after: 3, message: 'The server had an error' } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ status: 500, code: 'server_error' });
    expect(textOf(events)).toBe('ab');
    expect(emu.requests).toHaveLength(1);
  });

  it('throws RateLimitError for an in-stream rate_limit_exceeded event', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], inStreamError: { after: 2, status: 429, code: 'rate_limit_exceeded' } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    expect(textOf(events)).toBe('a');
    expect(emu.requests).toHaveLength(1);
  });

  it('rejects a 429 with RateLimitError carrying retryAfterMs when retry is off', async () => {
    emu.script({ status: 429, retryAfter: '2' });
    const f = emuFiber(emu, { retry: false });
    try {
      const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
      expect(events).toEqual([]);
      expect(error).toBeInstanceOf(RateLimitError);
      expect(error).toMatchObject({ status: 429, retryAfterMs: 2000, code: 'rate_limit_exceeded', attempts: 1, requestId: 'req_emu_1' });
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(1);
  });

  it('rejects with the last RateLimitError once the retries are spent', async () => {
    emu.script({ status: 429, retryAfterMs: '1', times: Infinity });
    const logger = recordingLogger();
    const f = emuFiber(emu, { logger });
    try {
      const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
      expect(error).toBeInstanceOf(RateLimitError);
      expect(error).toMatchObject({ retryAfterMs: 1, attempts: 3, requestId: 'req_emu_3' });
      // No content arrived; the two retries are handed over as `log` events before the error, and logged.
      expect(events.map((e) => e.type)).toEqual(['log', 'log']);
      expect(events.map((e) => (e as any).data.delayMs)).toEqual([1, 1]);
      expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([1, 1]);
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(3);
  });

  it('delivers the retry log events first, then the stream, when a retry succeeds', async () => {
    emu.script({ status: 503, retryAfterMs: '1' });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hello' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['log', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    expect(doneOf(events).result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
  });

  it('rejects result() with the same error the iterator throws', async () => {
    emu.script({ text: 'x y z', dropAfterEvents: 2 });
    const stream = fiber.chatStream({ messages: 'hi' });
    const pending = stream.result();
    const { error } = await collect(stream);
    expect(error).toBeInstanceOf(StreamError);
    expect(await rejectionOf(pending)).toBe(error);
  });

  it('rejects result() alone with the stream error', async () => {
    emu.script({ text: 'x y z', omitEndMarker: true });
    const err = await rejectionOf(fiber.chatStream({ messages: 'hi' }).result());
    expect(err).toBeInstanceOf(StreamError);
    expect(err.code).toBe('missing_end_marker');
  });

  it('throws the same error again on the next next() after a failure', async () => {
    const stream = fiber.chatStream({ messages: [] });
    const it = iter(stream);
    const first = await rejectionOf(it.next());
    expect(first).toBeInstanceOf(ConfigError);
    expect(await rejectionOf(it.next())).toBe(first);
  });
});
