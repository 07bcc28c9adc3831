import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, FiberError, TimeoutError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import {
  collect, emuFiber, type HandleTracker, iter, rejectionOf, SSE_HEADERS, sseChunk, sseEnd, startServer,
  type TestServer, trackHandles, urlFiber,
} from '../helpers/core.js';

let emu: Emulator;
let server: TestServer;
let emuF: Fiber;
let srvF: Fiber;
let handles: HandleTracker;
/** Responses the server holds open, so a test can end one cleanly. */
const open: ServerResponse[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
  // Two chunks, then nothing: the response stays open until the client goes away.
  server = await startServer((_i, _req, res) => {
    res.writeHead(200, SSE_HEADERS);
    res.write(sseChunk('one') + sseChunk(' two'));
    open.push(res);
  });
  emuF = emuFiber(emu);
  srvF = urlFiber(server.url);
});

afterAll(async () => {
  await emuF.close();
  await srvF.close();
  await emu.close();
  await server.close();
  await handles.expectAllClosed();
});

beforeEach(() => {
  emu.reset();
  server.reset();
});

describe('stream.abort()', () => {
  it('rejects the pending next() and result() with AbortError and closes the connection', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    const it = iter(stream);
    const result = stream.result();
    expect((await it.next()).value).toMatchObject({ type: 'chunk', delta: 'one' });
    expect((await it.next()).value).toMatchObject({ type: 'chunk', delta: ' two' });
    const pending = it.next();
    stream.abort();
    const err = await rejectionOf(pending);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'aborted', provider: 'openai', model: 'gpt-4o-mini', attempts: 1 });
    expect(await rejectionOf(result)).toBe(err);
    await server.closed(0);
    expect(server.requests).toHaveLength(1);
  });

  it('rejects the next next() with the same AbortError after an abort between reads', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    const it = iter(stream);
    await it.next();
    stream.abort();
    const first = await rejectionOf(it.next());
    expect(first).toBeInstanceOf(AbortError);
    expect(await rejectionOf(it.next())).toBe(first);
    await server.closed(0);
  });

  it('sends nothing when aborted before the first next()', async () => {
    const stream = emuF.chatStream({ messages: 'hi' });
    stream.abort();
    const { events, error } = await collect(stream);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(AbortError);
    expect(await rejectionOf(stream.result())).toBe(error);
    expect(emu.requests).toEqual([]);
  });

  it('stops a stream that is still waiting for its headers', async () => {
    emu.script({ delayMs: 5_000 });
    const stream = emuF.chatStream({ messages: 'hi' });
    const pending = iter(stream).next();
    await new Promise((r) => setTimeout(r, 30));
    stream.abort();
    expect(await rejectionOf(pending)).toBeInstanceOf(AbortError);
    expect(emu.requests).toHaveLength(1);
  });

  it('changes nothing once the stream is done', async () => {
    const stream = emuF.chatStream({ messages: 'hello' });
    const { error } = await collect(stream);
    expect(error).toBeNull();
    stream.abort();
    expect((await stream.result()).text).toBe('You said: hello');
  });

  it('never reports an unhandled rejection for a result() nobody asked for', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const stream = srvF.chatStream({ messages: 'hi' });
      const it = iter(stream);
      await it.next();
      stream.abort();
      await rejectionOf(it.next());
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});

describe('leaving a for-await loop early', () => {
  it('releases the connection silently on break', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    const seen: string[] = [];
    for await (const ev of stream) {
      seen.push(ev.type);
      break;
    }
    expect(seen).toEqual(['chunk']);
    await server.closed(0);
  });

  it('rejects a later result() with AbortError consumer_closed', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    for await (const _ev of stream) break;
    const err = await rejectionOf(stream.result());
    expect(err).toBeInstanceOf(AbortError);
    expect(err.code).toBe('consumer_closed');
  });

  it('ends the iteration: next() after break is done', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    for await (const _ev of stream) break;
    expect(await iter(stream).next()).toEqual({ done: true, value: undefined });
  });

  it('does not fail a stream that had already finished', async () => {
    const stream = emuF.chatStream({ messages: 'hello' });
    let last = '';
    for await (const ev of stream) {
      last = ev.type;
      if (ev.type === 'done') break;
    }
    expect(last).toBe('done');
    expect((await stream.result()).text).toBe('You said: hello');
  });
});

describe('caller AbortSignal', () => {
  it('aborts a chat in flight with AbortError', async () => {
    emu.script({ delayMs: 5_000 });
    const controller = new AbortController();
    const p = emuF.chat({ messages: 'hi', signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const err = await rejectionOf(p);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ code: 'aborted', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });

  it('aborts a stream mid-way and closes the connection', async () => {
    const controller = new AbortController();
    const stream = srvF.chatStream({ messages: 'hi', signal: controller.signal });
    const it = iter(stream);
    await it.next();
    await it.next();
    const pending = it.next();
    controller.abort();
    expect(await rejectionOf(pending)).toBeInstanceOf(AbortError);
    await server.closed(0);
  });

  it('rejects an already-aborted signal before any request', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await rejectionOf(emuF.chat({ messages: 'hi', signal: controller.signal }));
    expect(err).toBeInstanceOf(AbortError);
    expect(err.attempts).toBe(1);
    const { events, error } = await collect(emuF.chatStream({ messages: 'hi', signal: controller.signal }));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(AbortError);
    expect(emu.requests).toEqual([]);
  });

  it('uses a FiberError abort reason as the error', async () => {
    const controller = new AbortController();
    const reason = new TimeoutError('budget of the caller', { phase: 'total' });
    controller.abort(reason);
    expect(await rejectionOf(emuF.chat({ messages: 'hi', signal: controller.signal }))).toBe(reason);
  });

  it('keeps the cause of a non-FiberError abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('user left');
    controller.abort(reason);
    const err = await rejectionOf(emuF.chat({ messages: 'hi', signal: controller.signal }));
    expect(err).toBeInstanceOf(AbortError);
    expect(err.cause).toBe(reason);
  });

  it('aborts a backoff sleep at once, without a second request', async () => {
    emu.script({ status: 503, retryAfterMs: '10000' });
    const controller = new AbortController();
    const p = emuF.chat({ messages: 'hi', signal: controller.signal });
    // Wait for the first response to be answered; the call then sleeps 10 s before its retry.
    while (emu.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    const err = await rejectionOf(p);
    expect(err).toBeInstanceOf(AbortError);
    expect(emu.requests).toHaveLength(1);
  });

  it('stops listening to the signal once the call is over', async () => {
    const controller = new AbortController();
    await emuF.chat({ messages: 'hi', signal: controller.signal });
    // An abort after the end must not throw or reach anything.
    expect(() => controller.abort()).not.toThrow();
  });

  it('is a FiberError for every abort path', async () => {
    const controller = new AbortController();
    controller.abort('plain string reason');
    const err = await rejectionOf(emuF.chat({ messages: 'hi', signal: controller.signal }));
    expect(err).toBeInstanceOf(FiberError);
    expect(err).toBeInstanceOf(AbortError);
  });
});

describe('a held response ended by the server', () => {
  it('still completes normally when the server finishes it', async () => {
    const stream = srvF.chatStream({ messages: 'hi' });
    const it = iter(stream);
    await it.next();
    await it.next();
    open.at(-1)!.end(sseEnd());
    const { events, error } = await collect({ [Symbol.asyncIterator]: () => it });
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['usage', 'done']);
    expect((await stream.result()).text).toBe('one two');
  });
});
