import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AbortError, AuthError, BadRequestError, ConnectionError, NotFoundError, OverloadedError, RateLimitError, ServerError,
  StreamError, TimeoutError, type FiberError,
} from '../../src/errors.js';
import type { Fiber, FiberOptions } from '../../src/fiber.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import {
  collect, emuFiber, type HandleTracker, recordingLogger, rejectionOf, retryLogs, TEST_KEY, textOf, trackHandles,
  urlFiber,
} from '../helpers/core.js';

let emu: Emulator;
let fiber: Fiber;
let handles: HandleTracker;
const opened: Fiber[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
  fiber = emuFiber(emu);
  opened.push(fiber);
});

afterAll(async () => {
  await Promise.all(opened.map((f) => f.close()));
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

function fiberWith(options: FiberOptions): Fiber {
  const f = emuFiber(emu, options);
  opened.push(f);
  return f;
}

const keysOf = (e: Emulator) => e.requests.map((r) => r.headers['idempotency-key']);

describe('how many attempts', () => {
  it('retries a persistent 503 twice by default: three requests, then the OverloadedError', async () => {
    emu.script({ status: 503, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err).toMatchObject({ status: 503, attempts: 3, requestId: 'req_emu_3', retryable: true });
    expect(emu.requests).toHaveLength(3);
  });

  it('succeeds on the attempt after a 503', async () => {
    emu.script({ status: 503 });
    const result = await fiber.chat({ messages: 'hello' });
    expect(result.text).toBe('You said: hello');
    expect(result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
  });

  it('sends one request when retry is false', async () => {
    emu.script({ status: 503, times: Infinity });
    const f = fiberWith({ retry: false });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err.attempts).toBe(1);
    expect(emu.requests).toHaveLength(1);
  });

  it('sends 1 + retries requests for a custom retry count', async () => {
    emu.script({ status: 500, times: Infinity });
    const f = fiberWith({ retry: { retries: 4, minDelayMs: 1, maxDelayMs: 1 } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(ServerError);
    expect(err.attempts).toBe(5);
    expect(emu.requests).toHaveLength(5);
  });

  const retryable: Array<[number, new (...a: never[]) => FiberError]> = [
    [408, TimeoutError], [409, ServerError], [429, RateLimitError], [500, ServerError], [502, ServerError],
    [503, OverloadedError], [504, TimeoutError], [529, OverloadedError],
  ];
  it.each(retryable)('retries a %i and succeeds on attempt 2', async (status) => {
    emu.script({ status });
    const result = await fiber.chat({ messages: 'hello' });
    expect(result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
  });

  it.each(retryable)('fails a persistent %i with its typed error after three attempts', async (status, Class) => {
    emu.script({ status, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(Class);
    expect(err.status).toBe(status);
    expect(err.attempts).toBe(3);
    expect(emu.requests).toHaveLength(3);
  });

  const final: Array<[number, string | undefined, new (...a: never[]) => FiberError]> = [
    [400, undefined, BadRequestError], [401, undefined, AuthError], [403, undefined, AuthError], [404, undefined, NotFoundError],
    [422, undefined, BadRequestError], [429, 'insufficient_quota', RateLimitError],
  ];
  it.each(final)('never retries a %i (code %s)', async (status, errorCode, Class) => {
    emu.script({ status, errorCode, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(Class);
    expect(err).toMatchObject({ status, retryable: false, attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });

  it('retries a connection reset before any response byte', async () => {
    emu.script({ resetBeforeResponse: true });
    const result = await fiber.chat({ messages: 'hello' });
    expect(result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
  });

  it('fails a refused connection with ConnectionError after three attempts', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const f = urlFiber(`http://127.0.0.1:${port}`);
    opened.push(f);
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', retryable: true, attempts: 3 });
    expect(err.message).not.toContain(TEST_KEY);
  });
});

describe('how long it waits', () => {
  it('waits what retry-after asks, in seconds', async () => {
    emu.script({ status: 429, retryAfter: '0.03' });
    const logger = recordingLogger();
    const f = fiberWith({ logger });
    const result = await f.chat({ messages: 'hi' });
    expect(result.attempts).toBe(2);
    const logs = retryLogs(logger.calls);
    expect(logs).toHaveLength(1);
    expect(logs[0]!.fields).toMatchObject({ attempt: 1, delayMs: 30, serverRequested: true, reason: '429 rate_limit_exceeded', httpStatus: 429 });
  });

  it('computes a whole-second retry-after as ms before sleeping', async () => {
    emu.script({ status: 429, retryAfter: '2' });
    const controller = new AbortController();
    const logger = recordingLogger();
    // Abort as soon as the retry is announced: the computed wait is known, and no wall time is spent on it.
    const warn = logger.warn;
    logger.warn = (fields, message) => { warn(fields, message); controller.abort(); };
    const f = fiberWith({ logger });
    const err = await rejectionOf(f.chat({ messages: 'hi', signal: controller.signal }));
    expect(err).toBeInstanceOf(AbortError);
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([2000]);
    expect(emu.requests).toHaveLength(1);
  });

  it('reads the retry-after-ms form first', async () => {
    emu.script({ status: 503, retryAfterMs: '15', retryAfter: '30' });
    const logger = recordingLogger();
    const f = fiberWith({ logger });
    await f.chat({ messages: 'hi' });
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([15]);
  });

  it('reads an HTTP-date retry-after in the past as no wait', async () => {
    emu.script({ status: 503, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' });
    const logger = recordingLogger();
    const f = fiberWith({ logger });
    const result = await f.chat({ messages: 'hi' });
    expect(result.attempts).toBe(2);
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([0]);
  });

  it('reports the wait of each retry in a warn log event of the stream', async () => {
    emu.script({ status: 503, retryAfterMs: '5' });
    emu.script({ status: 429, retryAfterMs: '7' });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hello' }));
    expect(error).toBeNull();
    const logs = events.filter((e) => e.type === 'log');
    expect(logs.map((l) => (l as { data: { delayMs: number } }).data.delayMs)).toEqual([5, 7]);
    expect(logs.map((l) => l.level)).toEqual(['warn', 'warn']);
    expect(logs[0]).toMatchObject({ message: 'retrying in 5 ms after 503 server_error', data: { attempt: 1, reason: '503 server_error', httpStatus: 503, error: 'OverloadedError' } });
    expect(events.slice(0, 2).map((e) => e.type)).toEqual(['log', 'log']);
    expect(textOf(events)).toBe('You said: hello');
  });

  it('backs off exponentially from minDelayMs without jitter', async () => {
    emu.script({ status: 500, times: Infinity });
    const logger = recordingLogger();
    const f = fiberWith({ logger, retry: { retries: 3, minDelayMs: 4, factor: 2, maxDelayMs: 100, jitter: false } });
    await rejectionOf(f.chat({ messages: 'hi' }));
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([4, 8, 16]);
    expect(retryLogs(logger.calls).map((c) => c.fields.serverRequested)).toEqual([false, false, false]);
  });

  it('caps the backoff at maxDelayMs', async () => {
    emu.script({ status: 500, times: Infinity });
    const logger = recordingLogger();
    const f = fiberWith({ logger, retry: { retries: 3, minDelayMs: 5, factor: 3, maxDelayMs: 12, jitter: false } });
    await rejectionOf(f.chat({ messages: 'hi' }));
    expect(retryLogs(logger.calls).map((c) => c.fields.delayMs)).toEqual([5, 12, 12]);
  });

  it('jitters the backoff within [delay/2, delay]', async () => {
    emu.script({ status: 500, times: Infinity });
    const logger = recordingLogger();
    const f = fiberWith({ logger, retry: { retries: 2, minDelayMs: 8, factor: 2, maxDelayMs: 100 } });
    await rejectionOf(f.chat({ messages: 'hi' }));
    const [d1, d2] = retryLogs(logger.calls).map((c) => c.fields.delayMs as number);
    expect(d1).toBeGreaterThanOrEqual(4);
    expect(d1).toBeLessThanOrEqual(8);
    expect(d2).toBeGreaterThanOrEqual(8);
    expect(d2).toBeLessThanOrEqual(16);
  });

  it('logs each retry with the call id, idempotency key, provider and model', async () => {
    emu.script({ status: 503, times: 2 });
    const logger = recordingLogger();
    const f = fiberWith({ logger });
    await f.chat({ messages: 'hi', idempotencyKey: 'key-log-1' });
    const logs = retryLogs(logger.calls);
    expect(logs).toHaveLength(2);
    for (const l of logs) {
      expect(l.fields).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', idempotencyKey: 'key-log-1' });
      expect(l.fields.callId).toMatch(/^call_/);
    }
    expect(logs.map((l) => l.fields.attempt)).toEqual([1, 2]);
    expect(JSON.stringify(logger.calls)).not.toContain(TEST_KEY);
  });
});

describe('retryIf', () => {
  it('stops retrying when the predicate says no', async () => {
    emu.script({ status: 503, times: Infinity });
    const calls: Array<[string, number]> = [];
    const f = fiberWith({ retry: { minDelayMs: 1, maxDelayMs: 1, retryIf: (err, attempt) => { calls.push([err.name, attempt]); return false; } } });
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err.attempts).toBe(1);
    expect(calls).toEqual([['OverloadedError', 1]]);
    expect(emu.requests).toHaveLength(1);
  });

  it('is asked once per retryable failure while retries remain', async () => {
    emu.script({ status: 500, times: Infinity });
    const attempts: number[] = [];
    const f = fiberWith({ retry: { minDelayMs: 1, maxDelayMs: 1, retryIf: (_err, attempt) => { attempts.push(attempt); return true; } } });
    await rejectionOf(f.chat({ messages: 'hi' }));
    expect(attempts).toEqual([1, 2]);
    expect(emu.requests).toHaveLength(3);
  });

  it('cannot make a non-retryable error retry', async () => {
    emu.script({ status: 400, times: Infinity });
    let asked = 0;
    const f = fiberWith({ retry: { retryIf: () => { asked++; return true; } } });
    await rejectionOf(f.chat({ messages: 'hi' }));
    expect(asked).toBe(0);
    expect(emu.requests).toHaveLength(1);
  });
});

describe('idempotency key', () => {
  it('sends the same generated key on every attempt', async () => {
    emu.script({ status: 503, times: Infinity });
    await rejectionOf(fiber.chat({ messages: 'hi' }));
    const keys = keysOf(emu);
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(new Set(keys).size).toBe(1);
  });

  it('sends the caller-provided key on every attempt', async () => {
    emu.script({ status: 502, times: 2 });
    await fiber.chat({ messages: 'hi', idempotencyKey: 'order-42-attempt' });
    expect(keysOf(emu)).toEqual(['order-42-attempt', 'order-42-attempt', 'order-42-attempt']);
  });

  it('sends the same key on every attempt of a stream', async () => {
    emu.script({ status: 503 });
    await collect(fiber.chatStream({ messages: 'hi', idempotencyKey: 'stream-key-1' }));
    expect(keysOf(emu)).toEqual(['stream-key-1', 'stream-key-1']);
  });

  it('sends no key header when idempotencyHeader is false', async () => {
    const f = fiberWith({ retry: { idempotencyHeader: false } });
    await f.chat({ messages: 'hi', idempotencyKey: 'not-sent' });
    expect(emu.requests[0]!.headers).not.toHaveProperty('idempotency-key');
  });

  it('sends the same request body on every attempt', async () => {
    emu.script({ status: 503 });
    await fiber.chat({ messages: 'hi', temperature: 0.1 });
    expect(emu.requests).toHaveLength(2);
    expect(emu.requests[1]!.body).toEqual(emu.requests[0]!.body);
  });
});

describe('commit: no retry after the first event reached the caller', () => {
  it('does not retry a connection dropped after a few events', async () => {
    emu.script({ chunks: ['one', ' two', ' three'], dropAfterEvents: 3 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect((error as StreamError).code).toBe('connection_dropped');
    expect((error as StreamError).attempts).toBe(1);
    expect(textOf(events)).toBe('one two');
    expect(emu.requests).toHaveLength(1);
  });

  it('does not retry a retryable in-stream error after the first event', async () => {
    emu.script({ chunks: ['one', ' two'], inStreamError: { after: 2, status: 503, code: 'overloaded' } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(OverloadedError);
    expect((error as FiberError).retryable).toBe(true);
    expect(textOf(events)).toBe('one');
    expect(emu.requests).toHaveLength(1);
  });

  it('does not retry a missing end marker after the events were delivered', async () => {
    emu.script({ text: 'a b c', omitEndMarker: true });
    const { error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect(emu.requests).toHaveLength(1);
  });

  it('retries a first event that is malformed JSON, and succeeds on attempt 2', async () => {
    emu.script({ text: 'Hello world', malformedJson: true, times: 1 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('You said: hi');
    expect((events.at(-1) as { result: { attempts: number } }).result.attempts).toBe(2);
    expect(events.filter((e) => e.type === 'log')).toHaveLength(1);
    expect(emu.requests).toHaveLength(2);
    expect(new Set(keysOf(emu)).size).toBe(1);
  });

  it('retries a connection dropped before the first content event', async () => {
    // The only event written is the role chunk, which carries no content.
    emu.script({ dropAfterEvents: 1 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('You said: hi');
    expect(emu.requests).toHaveLength(2);
  });

  it('retries a 200 stream that is empty of events and lacks the end marker', async () => {
    emu.script({ raw: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: ': just a comment\n\n' } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('You said: hi');
    expect(emu.requests).toHaveLength(2);
  });
});
