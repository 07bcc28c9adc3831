/**
 * Fault matrix: stalls and deadlines. Every phase of the call clock (headers, read, first event, idle, total)
 * against a server that stalls at that point, keep-alives that must not count as progress, and trickling bytes.
 * readMs is undici's headers/body timer, which ticks at about 1 s: only three rows use it.
 */
import { expect } from 'vitest';
import { TimeoutError } from '../../src/errors.js';
import { sseChunk } from '../helpers/core.js';
import { anthropicOpening, chunk, expectWithin, faultSuite, head, logsOf, textOf, typesOf, TEST_KEY, TOTAL_MS, unacceptingPort, useEmulator, SSE_CHUNKED } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('timeouts.test.ts');

const emu = useEmulator();


fault('stall-before-headers', async (kit) => {
  emu.script({ delayMs: 5_000 });
  const f = kit.emuFiber(emu, { retry: false, timeouts: { readMs: 300, totalMs: TOTAL_MS } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'headers', code: 'timeout_headers', retryable: true, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('connect-stall', async (kit) => {
  const stalled = await unacceptingPort();
  try {
    const f = kit.fiber(`http://127.0.0.1:${stalled.port}/v1`, { timeouts: { connectMs: 200, totalMs: TOTAL_MS } });
    const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'connect', code: 'timeout_connect', retryable: true, attempts: 3 });
    expect(error.message).toContain('connect timed out after 200 ms');
    expect(ms).toBeGreaterThanOrEqual(3 * 200 - 50); // three attempts, each waited out
    expectWithin(ms, TOTAL_MS);
  } finally {
    await stalled.close();
  }
});

fault('stall-before-headers-total', async (kit) => {
  emu.script({ delayMs: 5_000, times: Infinity });
  const f = kit.emuFiber(emu, { timeouts: { totalMs: 200 } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'total', code: 'timeout_total', attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, 200);
});

fault('stall-after-headers', async (kit) => {
  emu.script({ stallAfterHeadersMs: 5_000 });
  const f = kit.emuFiber(emu, { retry: false, timeouts: { readMs: 300, totalMs: TOTAL_MS } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'read', code: 'timeout_read', attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('stall-before-first-event', async (kit) => {
  // The first counted event is the role-only chunk: headers and bytes arrive, content never does.
  emu.script({ stallAfterEvents: { after: 1, ms: 5_000 }, times: Infinity });
  const f = kit.emuFiber(emu, { timeouts: { firstEventMs: 80, totalMs: TOTAL_MS } });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'first_event', code: 'timeout_first_event', attempts: 3 });
  expect(typesOf(events)).toEqual([]);
  expect(logsOf(events).map((l) => (l.data as { reason: string }).reason)).toEqual(['TimeoutError (first_event)', 'TimeoutError (first_event)']);
  expect(emu.requests).toHaveLength(3);
  expect(new Set(emu.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  expectWithin(ms, TOTAL_MS);
});

fault('stall-mid-stream-idle', async (kit) => {
  emu.script({ chunks: ['a', 'b', 'c', 'd'], stallAfterEvents: { after: 3, ms: 5_000 } });
  const f = kit.emuFiber(emu, { timeouts: { idleMs: 80, totalMs: TOTAL_MS } });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'idle', code: 'timeout_idle', attempts: 1 });
  expect(typesOf(events)).toEqual(['chunk', 'chunk']);
  expect(textOf(events)).toBe('ab');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('stall-mid-stream-total', async (kit) => {
  emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 5_000 } });
  const f = kit.emuFiber(emu, { timeouts: { totalMs: 250 } });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'total', attempts: 1 });
  expect(textOf(events)).toBe('a');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, 250);
});

fault('ping-only-openai', async (kit) => {
  emu.script({ pingOnly: true, pingIntervalMs: 5, times: Infinity });
  const f = kit.emuFiber(emu, { retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 }, timeouts: { firstEventMs: 80, totalMs: TOTAL_MS } });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'first_event', attempts: 2 });
  expect(typesOf(events)).toEqual([]);
  expect(logsOf(events)).toHaveLength(1);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, TOTAL_MS);
});

fault('ping-only-anthropic', async (kit) => {
  emu.script({ provider: 'anthropic', pingOnly: true, pingIntervalMs: 5 });
  const f = kit.emuFiber(emu, { retry: false, timeouts: { firstEventMs: 80, totalMs: TOTAL_MS } });
  const { events, error, ms } = await kit.drain(f.chatStream({ model: 'claude-3-5-haiku-latest', messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'first_event', provider: 'anthropic', attempts: 1 });
  expect(events).toEqual([]);
  expect(emu.requests.map((r) => r.provider)).toEqual(['anthropic']);
  expectWithin(ms, TOTAL_MS);
});

fault('pings-after-content-openai', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(sseChunk('first')));
      c.every(5, () => c.write(chunk(': keep-alive\n\n')));
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, { timeouts: { idleMs: 80, totalMs: TOTAL_MS } });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'idle', attempts: 1 });
  expect(textOf(events)).toBe('first');
  expect(srv.requests).toHaveLength(1);
  await srv.closedConn(0); // released by the timeout itself, before the Fiber is closed
  expectWithin(ms, TOTAL_MS);
});

fault('pings-after-content-anthropic', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(anthropicOpening('first')));
      c.every(5, () => c.write(chunk('event: ping\ndata: {"type": "ping"}\n\n')));
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, {
    baseUrls: { anthropic: srv.url }, apiKeys: { anthropic: TEST_KEY }, defaultModel: 'claude-3-5-haiku-latest',
    timeouts: { idleMs: 80, totalMs: TOTAL_MS },
  });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'idle', provider: 'anthropic', attempts: 1 });
  expect(textOf(events)).toBe('first');
  expect(srv.requests).toHaveLength(1);
  expect(srv.requests[0]!.head).toMatch(/^POST \/v1\/messages /);
  await srv.closedConn(0);
  expectWithin(ms, TOTAL_MS);
});

fault('slow-loris-headers', async (kit) => {
  const bytes = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-slow: ' + 'a'.repeat(10_000);
  let sent = 0;
  const srv = await kit.raw({
    onRequest(c) {
      c.every(50, () => { if (sent < bytes.length) c.write(bytes[sent++]!); });
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, { retry: false, timeouts: { readMs: 300, totalMs: TOTAL_MS } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'headers', code: 'timeout_headers', attempts: 1 });
  expect(sent).toBeGreaterThan(1); // bytes did trickle in while the deadline ran
  expect(srv.requests).toHaveLength(1);
  await srv.closedConn(0);
  expectWithin(ms, TOTAL_MS);
});

fault('slow-loris-body', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { 'content-type': 'application/json', 'content-length': '1000' }));
      c.every(20, () => c.write(' '));
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, { timeouts: { totalMs: 300 } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(TimeoutError);
  expect(error).toMatchObject({ phase: 'total', attempts: 1 });
  expect(srv.requests).toHaveLength(1);
  await srv.closedConn(0);
  expectWithin(ms, 300);
});

coversTheMatrix();
