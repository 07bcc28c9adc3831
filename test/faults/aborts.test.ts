/**
 * Fault matrix: the caller gives up. An abort at each phase of a call (before send, while connecting, waiting
 * for headers, in a retry backoff, waiting for the first event, mid-stream, after done) ends it with `AbortError`
 * at once and releases its connection.
 */
import { expect } from 'vitest';
import { AbortError, FiberError } from '../../src/errors.js';
import { iter, recordingLogger, sseChunk } from '../helpers/core.js';
import { chunk, expectWithin, faultSuite, head, textOf, TOTAL_MS, type Kit, useEmulator } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('aborts.test.ts');

const emu = useEmulator();

const T = { timeouts: { totalMs: TOTAL_MS } };

/** A raw server streaming two OpenAI chunks, then holding the response open until the client leaves. */
function holdingServer(kit: Kit) {
  return kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }));
      c.write(chunk(sseChunk('one') + sseChunk(' two')));
    },
  });
}

async function rejection(p: Promise<unknown>): Promise<FiberError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FiberError);
    return e as FiberError;
  }
  throw new Error('expected a rejection');
}

fault('abort-before-send', async (kit) => {
  const controller = new AbortController();
  controller.abort();
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi', signal: controller.signal }));
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted' });
  const stream = await kit.drain(f.chatStream({ messages: 'hi', signal: controller.signal }));
  expect(stream.events).toEqual([]);
  expect(stream.error).toBeInstanceOf(AbortError);
  expect(emu.requests).toHaveLength(0);
  expectWithin(ms + stream.ms, TOTAL_MS);
});

fault('abort-while-connecting', async (kit) => {
  const controller = new AbortController();
  const srv = await kit.raw({ onConnection: () => controller.abort() });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi', signal: controller.signal }));
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted', attempts: 1 });
  expect(srv.connections).toBe(1);
  await srv.closedConn(0);
  expect(srv.requests).toHaveLength(0);
  expectWithin(ms, TOTAL_MS);
});

fault('abort-waiting-for-headers', async (kit) => {
  emu.script({ delayMs: 5_000 });
  const controller = new AbortController();
  const f = kit.emuFiber(emu, T);
  kit.after(50, () => controller.abort());
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi', signal: controller.signal }));
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted', attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('abort-during-backoff', async (kit) => {
  emu.script({ status: 503, retryAfterMs: '10000' });
  const controller = new AbortController();
  const logger = recordingLogger();
  // Abort as soon as the retry is announced: the call is then sleeping its 10 s backoff.
  const warn = logger.warn;
  logger.warn = (fields, message) => {
    warn(fields, message);
    if ((fields as { kind?: string }).kind === 'retry') controller.abort();
  };
  const f = kit.emuFiber(emu, { logger, timeouts: { totalMs: 20_000 } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi', signal: controller.signal }));
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted' });
  expect(logger.calls.filter((c) => c.fields.kind === 'retry').map((c) => c.fields.delayMs)).toEqual([10_000]);
  expect(emu.requests).toHaveLength(1);
  // Well before the 10 s backoff would have ended.
  expectWithin(ms, 1_000);
});

fault('abort-waiting-first-event', async (kit) => {
  emu.script({ pingOnly: true, pingIntervalMs: 5 });
  const controller = new AbortController();
  const f = kit.emuFiber(emu, { timeouts: { firstEventMs: 5_000, totalMs: TOTAL_MS } });
  kit.after(60, () => controller.abort());
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi', signal: controller.signal }));
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted', attempts: 1 });
  expect(events).toEqual([]);
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('abort-mid-stream', async (kit) => {
  const srv = await holdingServer(kit);
  const f = kit.fiber(`${srv.url}/v1`, T);
  const t0 = performance.now();
  const stream = f.chatStream({ messages: 'hi' });
  const it = iter(stream);
  const result = stream.result();
  expect((await it.next()).value).toMatchObject({ type: 'chunk', delta: 'one' });
  expect((await it.next()).value).toMatchObject({ type: 'chunk', delta: ' two' });
  const pending = it.next();
  stream.abort();
  const error = await rejection(pending);
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted', attempts: 1 });
  expect(await rejection(result)).toBe(error);
  await srv.closedConn(0);
  expect(srv.requests).toHaveLength(1);
  expectWithin(performance.now() - t0, TOTAL_MS);
});

fault('abort-signal-mid-stream', async (kit) => {
  const srv = await holdingServer(kit);
  const controller = new AbortController();
  const f = kit.fiber(`${srv.url}/v1`, T);
  const t0 = performance.now();
  const stream = f.chatStream({ messages: 'hi', signal: controller.signal });
  const it = iter(stream);
  await it.next();
  await it.next();
  const pending = it.next();
  controller.abort();
  const error = await rejection(pending);
  expect(error).toBeInstanceOf(AbortError);
  expect(error).toMatchObject({ code: 'aborted' });
  await srv.closedConn(0);
  expect(srv.requests).toHaveLength(1);
  expectWithin(performance.now() - t0, TOTAL_MS);
});

fault('abort-after-done', async (kit) => {
  const controller = new AbortController();
  const f = kit.emuFiber(emu, T);
  const stream = f.chatStream({ messages: 'hello', signal: controller.signal });
  const { events, error, ms } = await kit.drain(stream);
  expect(error).toBeNull();
  stream.abort();
  controller.abort();
  const result = await stream.result();
  expect(result).toMatchObject({ text: 'You said: hello', attempts: 1 });
  expect(textOf(events)).toBe('You said: hello');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('break-mid-stream', async (kit) => {
  const srv = await holdingServer(kit);
  const f = kit.fiber(`${srv.url}/v1`, T);
  const t0 = performance.now();
  const stream = f.chatStream({ messages: 'hi' });
  const seen: string[] = [];
  for await (const ev of stream) {
    seen.push(ev.type);
    break;
  }
  expect(seen).toEqual(['chunk']);
  await srv.closedConn(0);
  const error = await rejection(stream.result());
  expect(error).toBeInstanceOf(AbortError);
  expect(error.code).toBe('consumer_closed');
  expect(srv.requests).toHaveLength(1);
  expectWithin(performance.now() - t0, TOTAL_MS);
});

coversTheMatrix();
