import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RateLimitError, TimeoutError } from '../../src/errors.js';
import type { Fiber, FiberOptions } from '../../src/fiber.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import {
  collect, emuFiber, type HandleTracker, recordingLogger, rejectionOf, retryLogs, SSE_HEADERS, sseChunk, startServer,
  type TestServer, textOf, trackHandles, typesOf, urlFiber,
} from '../helpers/core.js';

let emu: Emulator;
let handles: HandleTracker;
const opened: Fiber[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
});

afterAll(async () => {
  await Promise.all(opened.map((f) => f.close()));
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

/** A Fiber on the emulator, closed after the file. */
function fiberWith(options: FiberOptions): Fiber {
  const f = emuFiber(emu, options);
  opened.push(f);
  return f;
}

// readMs is undici's headersTimeout/bodyTimeout, whose timers tick at about 1 s: these two phases take ~1 s each
// whatever readMs below that, so they get few tests. Every other phase runs on the call's own clock.
describe('deadlines longer than a timer holds', () => {
  it('runs a call with totalMs, firstEventMs and idleMs past 2^31 ms without a timer firing early', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const f = fiberWith({ timeouts: { totalMs: 3e9, firstEventMs: 3e9, idleMs: 3e9 } });
      emu.script({ chunks: ['a', 'b', 'c'], chunkDelayMs: 20 });
      const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
      expect(error).toBeNull();
      expect(textOf(events)).toBe('abc');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });
});

describe("phase 'connect'", () => {
  // The stalled handshake itself is the fault row connect-stall (test/faults/timeouts.test.ts).
  it('leaves a connectMs too long for a timer to the other deadlines instead of firing at once', async () => {
    const f = fiberWith({ timeouts: { connectMs: Infinity, totalMs: 5_000 } });
    expect((await f.chat({ messages: 'hello' })).text).toBe('You said: hello');
    const g = fiberWith({ timeouts: { connectMs: 2 ** 31, totalMs: 5_000 } });
    expect((await g.chat({ messages: 'again' })).text).toBe('You said: again');
  });
});

describe("phase 'headers'", () => {
  it('fails a chat whose headers come later than readMs with TimeoutError headers', async () => {
    emu.script({ delayMs: 2_000 });
    const f = fiberWith({ retry: false, timeouts: { readMs: 50 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'headers', code: 'timeout_headers', attempts: 1, retryable: true });
    expect(emu.requests).toHaveLength(1);
  });

  it('retries a headers timeout, with the same idempotency key on every attempt', async () => {
    emu.script({ delayMs: 3_000, times: Infinity });
    const f = fiberWith({ retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 }, timeouts: { readMs: 30 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'headers', attempts: 2 });
    expect(emu.requests).toHaveLength(2);
    const keys = new Set(emu.requests.map((r) => r.headers['idempotency-key']));
    expect(keys.size).toBe(1);
  });
});

describe("phase 'read'", () => {
  it('fails a stream whose body stalls after the headers longer than readMs with TimeoutError read', async () => {
    emu.script({ stallAfterHeadersMs: 3_000 });
    const f = fiberWith({ retry: false, timeouts: { readMs: 60 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'read', code: 'timeout_read', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });
});

describe("phase 'first_event'", () => {
  it('fails a stream that sends only keep-alive comments with TimeoutError first_event', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5 });
    const f = fiberWith({ retry: false, timeouts: { firstEventMs: 60 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'first_event', code: 'timeout_first_event', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });

  it('retries a first-event timeout, since nothing reached the caller', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5 });
    const f = fiberWith({ timeouts: { firstEventMs: 60 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hello' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('You said: hello');
    const logs = events.filter((e) => e.type === 'log');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'warn', data: { attempt: 1, reason: 'TimeoutError (first_event)', error: 'TimeoutError' } });
    expect((events.at(-1) as { result: { attempts: number } }).result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
    expect(emu.requests[0]!.headers['idempotency-key']).toBe(emu.requests[1]!.headers['idempotency-key']);
  });

  it('does not let the first-event deadline of a failed attempt fire during the backoff', async () => {
    // Attempt 1 fails at once; its 40 ms first-event deadline passes while the call waits 80 ms to retry.
    emu.script({ status: 503, retryAfterMs: '80' });
    const f = fiberWith({ timeouts: { firstEventMs: 40 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hello' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('You said: hello');
    expect(emu.requests).toHaveLength(2);
  });

  it('fails with TimeoutError first_event once every attempt timed out', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5, times: Infinity });
    const f = fiberWith({ timeouts: { firstEventMs: 40 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    // The two retries explain themselves as `log` events before the error.
    expect(events.map((e) => [e.type, (e as any).data?.reason])).toEqual([['log', 'TimeoutError (first_event)'], ['log', 'TimeoutError (first_event)']]);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'first_event', attempts: 3 });
    expect(emu.requests).toHaveLength(3);
  });

  it('still ends a retried call at the total deadline', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5, times: Infinity });
    // Attempts time out every ~30 ms; retries remain, so only the 200 ms total can end the call.
    const f = fiberWith({ retry: { retries: 100, minDelayMs: 1, maxDelayMs: 2 }, timeouts: { firstEventMs: 30, totalMs: 200 } });
    const { error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(TimeoutError);
    // Either the deadline cut an attempt ('total'), or an attempt timed out so close to it that the backoff would
    // have passed it, and the loop failed at once with that attempt's error (the contract's fail-fast rule).
    expect(['total', 'first_event']).toContain((error as TimeoutError).phase);
    expect(emu.requests.length).toBeGreaterThanOrEqual(2);
    // The deadline may cut the last attempt before the server recorded its body.
    const attempts = (error as TimeoutError).attempts;
    expect(attempts === emu.requests.length || attempts === emu.requests.length + 1).toBe(true);
  });

  it('counts first_event from the request, not from the headers', async () => {
    // Matched on its own text: an attempt the previous test's deadline cut can reach the emulator after the reset,
    // and must not take this rule.
    emu.script({ stallAfterHeadersMs: 3_000, match: (r) => JSON.stringify(r.body).includes('from-the-request') });
    const f = fiberWith({ retry: false, timeouts: { firstEventMs: 60 } });
    const { error } = await collect(f.chatStream({ messages: 'from-the-request' }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).phase).toBe('first_event');
  });

  it('does not fire once the first event arrived in time', async () => {
    // 'a' at ~40 ms, inside firstEventMs; 'b', 'c' and the end come after it and must not trip it.
    emu.script({ chunks: ['a', 'b', 'c'], chunkDelayMs: 40 });
    const f = fiberWith({ retry: false, timeouts: { firstEventMs: 90 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('abc');
  });
});

describe("phase 'idle'", () => {
  let server: TestServer;
  beforeAll(async () => {
    // One chunk, then keep-alive comments every 5 ms and nothing else until the client leaves.
    server = await startServer((_i, _req, res) => {
      res.writeHead(200, SSE_HEADERS);
      res.write(sseChunk('first'));
      const timer = setInterval(() => res.write(': keep-alive\n\n'), 5);
      res.once('close', () => clearInterval(timer));
    });
  });
  afterAll(() => server.close());

  it('fails a stream that stalls between events with TimeoutError idle, after the delivered events', async () => {
    emu.script({ chunks: ['a', 'b', 'c', 'd'], stallAfterEvents: { after: 3, ms: 5_000 } });
    const f = fiberWith({ timeouts: { idleMs: 60 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ phase: 'idle', code: 'timeout_idle', attempts: 1 });
    expect(typesOf(events)).toEqual(['chunk', 'chunk']);
    expect(textOf(events)).toBe('ab');
    // Committed: the default retry policy does not send it again.
    expect(emu.requests).toHaveLength(1);
  });

  it('is not reset by keep-alive comments', async () => {
    const f = urlFiber(server.url, { timeouts: { idleMs: 60 } });
    opened.push(f);
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).phase).toBe('idle');
    expect(textOf(events)).toBe('first');
    expect(server.requests).toHaveLength(1);
  });

  it('is not reset by keep-alive comments between events', async () => {
    // 8 pings every gap; the gaps (20 ms) stay under idleMs, so the stream completes.
    emu.script({ chunks: ['a', 'b', 'c'], chunkDelayMs: 20, pingsBetweenEvents: 8 });
    const f = fiberWith({ retry: false, timeouts: { idleMs: 200 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'chunk', 'usage', 'done']);
  });

  it('does not fire while events keep coming closer together than idleMs', async () => {
    emu.script({ chunks: ['a', 'b', 'c', 'd', 'e', 'f'], chunkDelayMs: 15 });
    const f = fiberWith({ retry: false, timeouts: { idleMs: 80 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('abcdef');
  });
});

describe("phase 'total'", () => {
  it('fails a call that takes longer than totalMs with TimeoutError total, without a retry', async () => {
    emu.script({ delayMs: 2_000, times: Infinity });
    const f = fiberWith({ timeouts: { totalMs: 60 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'total', code: 'timeout_total', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });

  it('fails a stream mid-way with TimeoutError total', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 5_000 } });
    const f = fiberWith({ timeouts: { totalMs: 80 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).phase).toBe('total');
    expect(textOf(events)).toBe('a');
    expect(emu.requests).toHaveLength(1);
  });

  it('counts retries and backoff against the one deadline', async () => {
    emu.script({ status: 503, retryAfterMs: '30' });
    emu.script({ delayMs: 5_000 });
    const logger = recordingLogger();
    const f = fiberWith({ logger, timeouts: { totalMs: 150 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ phase: 'total', attempts: 2 });
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([30]);
    expect(emu.requests).toHaveLength(2);
  });

  it('does not sleep a backoff that would pass the deadline: it fails at once with the error', async () => {
    emu.script({ status: 503, times: Infinity });
    const logger = recordingLogger();
    // A 1000 ms backoff never fits in what is left of 150 ms.
    const f = fiberWith({ logger, retry: { minDelayMs: 1_000, maxDelayMs: 1_000, jitter: false }, timeouts: { totalMs: 150 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(1);
    expect(retryLogs(logger.calls)).toEqual([]);
    expect(emu.requests).toHaveLength(1);
  });

  it('fails at once with the RateLimitError when Retry-After is longer than what is left of the deadline', async () => {
    emu.script({ status: 429, retryAfter: '5' });
    const logger = recordingLogger();
    const f = fiberWith({ logger, timeouts: { totalMs: 1_000 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ retryAfterMs: 5_000, attempts: 1 });
    expect(retryLogs(logger.calls)).toEqual([]);
    const giveUp = logger.calls.filter((c) => c.level === 'warn' && c.message?.startsWith('not retrying'));
    expect(giveUp).toHaveLength(1);
    expect(giveUp[0]!.fields).toMatchObject({ attempt: 1, delayMs: 5_000, reason: '429 rate_limit_exceeded' });
    expect(emu.requests).toHaveLength(1);
  });

  it('reports that give-up as a warn log event on a stream that later succeeds elsewhere', async () => {
    // The log event of a retry sits before the stream's own events.
    emu.script({ status: 429, retryAfterMs: '20' });
    const f = fiberWith({ timeouts: { totalMs: 5_000 } });
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    const logs = events.filter((e) => e.type === 'log');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'warn', data: { kind: 'retry', attempt: 1, delayMs: 20, serverRequested: true, httpStatus: 429 } });
  });
});

describe('per-call timeout', () => {
  it('overrides the Fiber total with a number', async () => {
    emu.script({ delayMs: 2_000 });
    const f = fiberWith({ retry: false, timeouts: { totalMs: 30_000 } });
    const err = await rejectionOf(f.chat({ messages: 'hi', timeout: 50 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('total');
  });

  it('lets a longer per-call total win over a short Fiber total', async () => {
    emu.script({ delayMs: 80 });
    const f = fiberWith({ retry: false, timeouts: { totalMs: 40 } });
    const result = await f.chat({ messages: 'hello', timeout: 5_000 });
    expect(result.text).toBe('You said: hello');
  });

  it('merges a per-call object field by field over the Fiber timeouts', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5 });
    const f = fiberWith({ retry: false, timeouts: { totalMs: 5_000 } });
    const { error } = await collect(f.chatStream({ messages: 'hi', timeout: { firstEventMs: 50 } }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).phase).toBe('first_event');
  });

  it('leaves no timer or socket behind after calls that finished early', async () => {
    const f = emuFiber(emu, { timeouts: { totalMs: 60_000, firstEventMs: 60_000, idleMs: 60_000, readMs: 60_000 } });
    const tracker = trackHandles();
    await collect(f.chatStream({ messages: 'hi' }));
    await f.chat({ messages: 'hi' });
    await f.close();
    await tracker.expectAllClosed();
  });
});
