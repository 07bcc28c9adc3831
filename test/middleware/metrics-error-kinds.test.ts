/**
 * Metric values for the error kinds test/middleware/metrics.test.ts does not cover: TimeoutError (each phase a
 * call can end in), ConnectionError, ContextLengthError, ContentFilterError, and streams that fail after their
 * first event (StreamError, idle and total deadlines, an in-band error). Each call goes over real HTTP to the
 * embedded emulator or to a purpose-built `node:net` server; after it, `fiber.metrics.snapshot()` must hold
 * exactly one request, one error tagged with the error's class, the retries that happened and one latency.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import type { CounterPoint, HistogramPoint, MetricsSnapshot, StreamEvent, Tags } from '../../src/types.js';
import { collect, FAST_RETRY, rejectionOf, TEST_KEY, textOf } from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';

const emu = useEmulator();

const OPENAI: Tags = { provider: 'openai', model: 'gpt-4o-mini' };
const ANTHROPIC: Tags = { provider: 'anthropic', model: 'claude-3-5-haiku-latest' };
const GEMINI: Tags = { provider: 'gemini', model: 'gemini-2.0-flash' };

/** A prod-preset Fiber on the emulator (all three wires) with the default retry policy and fast backoff. */
function fiberWith(options: FiberOptions = {}): Fiber {
  return closeAfterAll(new Fiber({
    baseUrls: emu.baseUrls,
    apiKeys: { openai: TEST_KEY, anthropic: 'sk-ant-test-canary-0123456789', gemini: 'gemini-test-canary-0123456789' },
    defaultModel: 'gpt-4o-mini',
    retry: FAST_RETRY,
    ...options,
  }));
}

/** A Fiber whose OpenAI base URL is a purpose-built server. */
function urlFiber(url: string, options: FiberOptions = {}): Fiber {
  return fiberWith({ baseUrls: { openai: `${url}/v1` }, ...options });
}

const counters = (snap: MetricsSnapshot, name: string) => (snap[name] ?? []) as CounterPoint[];
const histograms = (snap: MetricsSnapshot, name: string) => (snap[name] ?? []) as HistogramPoint[];

/**
 * One failed call: request_count 1, error_count 1 tagged `error: name`, retry_count = `retries` (absent when 0),
 * latency_ms one observation, no token counters.
 */
function expectOneFailure(fiber: Fiber, name: string, retries: number, tags: Tags = OPENAI): MetricsSnapshot {
  const snap = fiber.metrics.snapshot();
  expect(snap.request_count, 'request_count').toEqual([{ tags, value: 1 }]);
  expect(snap.error_count, 'error_count').toEqual([{ tags: { ...tags, error: name }, value: 1 }]);
  expect(counters(snap, 'retry_count'), 'retry_count').toEqual(retries > 0 ? [{ tags, value: retries }] : []);
  const latency = histograms(snap, 'latency_ms');
  expect(latency, 'latency_ms').toHaveLength(1);
  expect(latency[0]).toMatchObject({ tags, count: 1 });
  expect(latency[0]!.sum).toBeGreaterThan(0);
  expect(snap.tokens_total, 'tokens_total').toBeUndefined();
  return snap;
}

const nonLog = (events: readonly StreamEvent[]) => events.filter((e) => e.type !== 'log');

// ---------------------------------------------------------------------------------------------------------------
// A purpose-built TCP server for connection faults

interface NetServer {
  url: string;
  connections: number;
  close(): Promise<void>;
}

/** A `node:net` server on 127.0.0.1:0 that runs `onData` on the first bytes of each connection. */
async function netServer(onData: (socket: Socket) => void): Promise<NetServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('error', () => { /* the client may have gone */ });
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', () => onData(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() { return state.connections; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------------------------

describe('TimeoutError', () => {
  it('chat: a headers timeout (readMs) on every attempt → 3 attempts, retry_count 2', async () => {
    const fiber = fiberWith({ timeouts: { readMs: 300 } });
    emu.script({ delayMs: 4_000, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'headers', code: 'timeout_headers', retryable: true, attempts: 3 });
    expect(emu.requests).toHaveLength(3);
    expectOneFailure(fiber, 'TimeoutError', 2);
  });

  it('chat: a provider 504 (TimeoutError phase headers, retryable) → 3 attempts, retry_count 2', async () => {
    const fiber = fiberWith();
    emu.script({ status: 504, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'headers', status: 504, attempts: 3 });
    expect(emu.requests).toHaveLength(3);
    expectOneFailure(fiber, 'TimeoutError', 2);
  });

  it('chat: the total deadline while waiting for headers → 1 attempt, no retries', async () => {
    const fiber = fiberWith({ timeouts: { totalMs: 150 } });
    emu.script({ delayMs: 5_000, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'total', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'TimeoutError', 0);
  });

  it('stream: a first_event timeout on every attempt → 3 attempts, retry_count 2, no ttfb', async () => {
    const fiber = fiberWith({ timeouts: { firstEventMs: 80 } });
    emu.script({ stallAfterHeadersMs: 5_000, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'TimeoutError', phase: 'first_event', attempts: 3 });
    expect(nonLog(events)).toEqual([]);
    expect(emu.requests).toHaveLength(3);
    const snap = expectOneFailure(fiber, 'TimeoutError', 2);
    expect(snap.ttfb_ms).toBeUndefined();
  });

  it('stream: an idle timeout after two chunks → 1 attempt, no retries, ttfb recorded', async () => {
    const fiber = fiberWith({ timeouts: { idleMs: 100 } });
    emu.script({ chunks: ['one ', 'two ', 'three'], stallAfterEvents: { after: 3, ms: 60_000 } });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'TimeoutError', phase: 'idle', attempts: 1 });
    expect(textOf(events)).toBe('one two ');
    expect(emu.requests).toHaveLength(1);
    const snap = expectOneFailure(fiber, 'TimeoutError', 0);
    expect(histograms(snap, 'ttfb_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1 })]);
  });

  it('stream: the total deadline fires mid-stream → 1 attempt, no retries, ttfb recorded', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['one ', 'two ', 'three'], stallAfterEvents: { after: 3, ms: 60_000 } });
    const started = performance.now();
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi', timeout: 200 }));
    expect(error).toMatchObject({ name: 'TimeoutError', phase: 'total', attempts: 1 });
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(textOf(events)).toBe('one two ');
    expect(emu.requests).toHaveLength(1);
    const snap = expectOneFailure(fiber, 'TimeoutError', 0);
    expect(histograms(snap, 'ttfb_ms')).toEqual([expect.objectContaining({ count: 1 })]);
  });

  it('stream: the total deadline before the first event (a stalled retry loop) → retries counted up to it', async () => {
    // firstEventMs fails each attempt at ~60 ms; the 150 ms total ends the call during the 3rd attempt.
    const fiber = fiberWith({ timeouts: { firstEventMs: 60 } });
    emu.script({ stallAfterHeadersMs: 5_000, times: Infinity });
    const { error } = await collect(fiber.chatStream({ messages: 'hi', timeout: 150 }));
    expect(error).toMatchObject({ name: 'TimeoutError', phase: 'total' });
    const attempts = (error as { attempts: number }).attempts;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(emu.requests.length).toBeLessThanOrEqual(attempts);
    expectOneFailure(fiber, 'TimeoutError', attempts - 1);
  });
});

describe('ConnectionError', () => {
  let servers: NetServer[] = [];
  beforeAll(() => { servers = []; });
  afterAll(async () => { await Promise.all(servers.map((s) => s.close())); });

  it('the emulator resets the connection before any response byte → ECONNRESET, 3 attempts, retry_count 2', async () => {
    const fiber = fiberWith();
    emu.script({ resetBeforeResponse: true, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'ECONNRESET', retryable: true, attempts: 3 });
    expect(emu.requests).toHaveLength(3);
    expectOneFailure(fiber, 'ConnectionError', 2);
  });

  it.each([
    ['resets each socket on the first request bytes', (socket: Socket) => socket.resetAndDestroy()],
    ['closes each socket cleanly without answering', (socket: Socket) => socket.end()],
  ] as const)('a net server that %s → 3 attempts, retry_count 2', async (_what, onData) => {
    const srv = await netServer(onData);
    servers.push(srv);
    const fiber = urlFiber(srv.url);
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'ConnectionError', retryable: true, attempts: 3 });
    expect(srv.connections).toBe(3);
    expectOneFailure(fiber, 'ConnectionError', 2);
  });

  it('a refused connection → ECONNREFUSED, 3 attempts, retry_count 2', async () => {
    const fiber = urlFiber(`http://127.0.0.1:${await closedPort()}`);
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'ECONNREFUSED', attempts: 3 });
    expectOneFailure(fiber, 'ConnectionError', 2);
  });

  it('a JSON body cut halfway (connection dropped) → 3 attempts, retry_count 2', async () => {
    const fiber = fiberWith();
    emu.script({ dropAfterEvents: 1, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'ConnectionError', code: 'connection_dropped', retryable: true, attempts: 3 });
    expect(emu.requests).toHaveLength(3);
    expectOneFailure(fiber, 'ConnectionError', 2);
  });
});

describe('ContextLengthError (not retried)', () => {
  it('OpenAI: a 400 with code context_length_exceeded (the real body, served raw)', async () => {
    const fiber = fiberWith();
    const body = JSON.stringify({
      error: {
        message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.",
        type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded',
      },
    });
    emu.script({ raw: { status: 400, headers: { 'content-type': 'application/json', 'x-request-id': 'req_ctx_1' }, body }, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'a very long prompt' }));
    expect(err).toMatchObject({ name: 'ContextLengthError', status: 400, code: 'context_length_exceeded', retryable: false, attempts: 1 });
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContextLengthError', 0);
  });

  it('OpenAI stream: the same 400 before the first event', async () => {
    const fiber = fiberWith();
    emu.script({ status: 400, errorCode: 'context_length_exceeded', errorMessage: 'maximum context length exceeded', times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'a very long prompt' }));
    expect(error).toMatchObject({ name: 'ContextLengthError', attempts: 1 });
    expect(nonLog(events)).toEqual([]);
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContextLengthError', 0);
  });

  it('Anthropic: a 400 invalid_request_error "prompt is too long"', async () => {
    const fiber = fiberWith();
    emu.script({ provider: 'anthropic', status: 400, errorMessage: 'prompt is too long: 215000 tokens > 200000 maximum', times: Infinity });
    const err = await rejectionOf(fiber.chat({ model: ANTHROPIC.model, messages: 'a very long prompt' }));
    expect(err).toMatchObject({ name: 'ContextLengthError', provider: 'anthropic', status: 400, code: 'invalid_request_error', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContextLengthError', 0, ANTHROPIC);
  });

  it('Gemini: a 400 INVALID_ARGUMENT "The input token count … exceeds the maximum"', async () => {
    const fiber = fiberWith();
    emu.script({
      provider: 'gemini', status: 400, times: Infinity,
      errorMessage: 'The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).',
    });
    const err = await rejectionOf(fiber.chat({ model: GEMINI.model, messages: 'a very long prompt' }));
    expect(err).toMatchObject({ name: 'ContextLengthError', provider: 'gemini', status: 400, attempts: 1 });
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContextLengthError', 0, GEMINI);
  });
});

describe('ContentFilterError (not retried)', () => {
  it('OpenAI (Azure): a 400 with code content_filter (the Azure body, served raw)', async () => {
    const fiber = fiberWith();
    const body = JSON.stringify({
      error: {
        message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        type: null, param: 'prompt', code: 'content_filter', status: 400,
        innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { violence: { filtered: true, severity: 'high' } } },
      },
    });
    emu.script({ raw: { status: 400, headers: { 'content-type': 'application/json' }, body }, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'something filtered' }));
    expect(err).toMatchObject({ name: 'ContentFilterError', status: 400, code: 'content_filter', retryable: false, attempts: 1 });
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContentFilterError', 0);
  });

  it('OpenAI stream: an in-band content_filter error event before the first content event', async () => {
    const fiber = fiberWith();
    emu.script({ inStreamError: { after: 0, code: 'content_filter', message: 'filtered' }, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'something filtered' }));
    expect(error).toMatchObject({ name: 'ContentFilterError', code: 'content_filter', retryable: false, attempts: 1 });
    expect(nonLog(events)).toEqual([]);
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ContentFilterError', 0);
  });
});

describe('streams failing after their first event (never retried)', () => {
  it('StreamError: the connection drops after two chunks', async () => {
    const fiber = fiberWith();
    // Events: role chunk, 'one ', 'two ', then the socket is destroyed.
    emu.script({ chunks: ['one ', 'two ', 'three'], dropAfterEvents: 3, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'StreamError', code: 'connection_dropped', attempts: 1 });
    expect(textOf(events)).toBe('one two ');
    expect(emu.requests).toHaveLength(1);
    const snap = expectOneFailure(fiber, 'StreamError', 0);
    expect(histograms(snap, 'ttfb_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1 })]);
  });

  it('StreamError: the stream ends without its end marker after the chunks', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['one ', 'two'], omitEndMarker: true, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'StreamError', attempts: 1 });
    expect(textOf(events)).toBe('one two');
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'StreamError', 0);
  });

  it('an in-band server error after two chunks: ServerError, not retried', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['one ', 'two ', 'three'], inStreamError: { after: 3 }, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'ServerError', status: 500, attempts: 1 });
    expect(textOf(events)).toBe('one two ');
    expect(emu.requests).toHaveLength(1);
    expectOneFailure(fiber, 'ServerError', 0);
  });

  it('StreamError before the first event is retried: 3 attempts, retry_count 2', async () => {
    const fiber = fiberWith();
    // Only the role chunk (no content event) is written before the drop.
    emu.script({ chunks: ['one ', 'two'], dropAfterEvents: 1, times: Infinity });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'StreamError', attempts: 3 });
    expect(nonLog(events)).toEqual([]);
    expect(emu.requests).toHaveLength(3);
    expectOneFailure(fiber, 'StreamError', 2);
  });
});
