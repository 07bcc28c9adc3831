import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { metrics } from '../../middleware/metrics.js';
import { ConfigError, FiberError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import { MetricsStore } from '../../src/metrics.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { CounterPoint, HistogramPoint, MetricsSink, MetricsSnapshot, Middleware, StreamEvent, Tags } from '../../src/types.js';

const CANARY_KEY = 'sk-test-canary-key-123456';
const CANARY_EMAIL = 'canary.user@example.com';
/** A key with none of the shapes the tag filter knows (no sk-, AIza, Bearer): only the Fiber knows it is one. */
const PLAIN_KEY = 'plainsecretvalue12345';
const OPENAI = { provider: 'openai', model: 'gpt-4o-mini' };

let emu: Emulator;
const fibers: Fiber[] = [];

beforeAll(async () => {
  emu = await startEmulator();
});

afterAll(async () => {
  await Promise.all(fibers.map((f) => f.close()));
  await emu.close();
});

beforeEach(() => emu.reset());

/** A Fiber on the emulator with fast retries; closed after the file. */
function fiberWith(options: FiberOptions = {}): Fiber {
  const f = new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: CANARY_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
  fibers.push(f);
  return f;
}

const counters = (snap: MetricsSnapshot, name: string) => (snap[name] ?? []) as CounterPoint[];
const histograms = (snap: MetricsSnapshot, name: string) => (snap[name] ?? []) as HistogramPoint[];

async function rejection(p: Promise<unknown>): Promise<FiberError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FiberError);
    return e as FiberError;
  }
  throw new Error('expected a rejection');
}

async function drain(stream: AsyncIterable<StreamEvent>): Promise<unknown> {
  try {
    for await (const _ of stream) { /* consume */ }
  } catch (e) {
    return e;
  }
  return null;
}

/** A sink that keeps every record (and the tags object it got). */
function recordingSink(): MetricsSink & { records: Array<{ kind: 'inc' | 'obs'; name: string; value: number; tags: Tags }> } {
  const records: Array<{ kind: 'inc' | 'obs'; name: string; value: number; tags: Tags }> = [];
  return {
    records,
    increment: (name, value, tags) => { records.push({ kind: 'inc', name, value, tags }); },
    observe: (name, value, tags) => { records.push({ kind: 'obs', name, value, tags }); },
  };
}

describe('metrics after chat calls', () => {
  it('counts a successful call with its tokens and latency, and nothing else', async () => {
    const fiber = fiberWith();
    emu.script({ text: 'hello there', usage: { prompt: 7, completion: 3 } });
    const result = await fiber.chat({ messages: 'hi' });
    const snap = fiber.metrics.snapshot();
    expect(Object.keys(snap).sort()).toEqual(['latency_ms', 'request_count', 'tokens_completion', 'tokens_prompt', 'tokens_total']);
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.tokens_prompt).toEqual([{ tags: OPENAI, value: 7 }]);
    expect(snap.tokens_completion).toEqual([{ tags: OPENAI, value: 3 }]);
    expect(snap.tokens_total).toEqual([{ tags: OPENAI, value: 10 }]);
    const [latency] = histograms(snap, 'latency_ms');
    expect(latency).toMatchObject({ tags: OPENAI, count: 1, sum: result.latencyMs, min: result.latencyMs, max: result.latencyMs });
  });

  it('counts a retried call once, with its retries in retry_count', async () => {
    const fiber = fiberWith();
    emu.script({ status: 503, times: 2 });
    const result = await fiber.chat({ messages: 'hi' });
    expect(result.attempts).toBe(3);
    expect(emu.requests).toHaveLength(3);
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.retry_count).toEqual([{ tags: OPENAI, value: 2 }]);
    expect(snap.error_count).toBeUndefined();
  });

  it.each([
    [400, 'BadRequestError', 1],
    [401, 'AuthError', 1],
    [404, 'NotFoundError', 1],
    [429, 'RateLimitError', 3],
    [500, 'ServerError', 3],
    [503, 'OverloadedError', 3],
  ])('counts a %i as an error_count tagged error=%s (after %i attempts)', async (status, name, attempts) => {
    const fiber = fiberWith();
    emu.script({ status, times: Infinity });
    const err = await rejection(fiber.chat({ messages: 'hi' }));
    expect(err.name).toBe(name);
    expect(emu.requests).toHaveLength(attempts);
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.error_count).toEqual([{ tags: { ...OPENAI, error: name }, value: 1 }]);
    expect(counters(snap, 'retry_count')).toEqual(attempts > 1 ? [{ tags: OPENAI, value: attempts - 1 }] : []);
    expect(histograms(snap, 'latency_ms')[0]).toMatchObject({ count: 1 });
    expect(snap.tokens_total).toBeUndefined();
  });

  it('counts bad input as a ConfigError before any request', async () => {
    const fiber = fiberWith();
    const err = await rejection(fiber.chat({ messages: [] }));
    expect(err.name).toBe('ConfigError');
    expect(emu.requests).toHaveLength(0);
    const errors = counters(fiber.metrics.snapshot(), 'error_count');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ tags: { error: 'ConfigError' }, value: 1 });
  });

  it('counts a call aborted by the caller as AbortError', async () => {
    const fiber = fiberWith();
    emu.script({ delayMs: 5_000 });
    const ac = new AbortController();
    const p = fiber.chat({ messages: 'hi', signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const err = await rejection(p);
    expect(err.name).toBe('AbortError');
    expect(fiber.metrics.snapshot().error_count).toEqual([{ tags: { ...OPENAI, error: 'AbortError' }, value: 1 }]);
  });

  it('records ttfb_ms only for streams', async () => {
    const fiber = fiberWith();
    await fiber.chat({ messages: 'hi' });
    expect(fiber.metrics.snapshot().ttfb_ms).toBeUndefined();
  });

  it('adds estimated_cost_usd only when the cost is known', async () => {
    const priced: Middleware = async (ctx, next) => {
      await next();
      const r = ctx.result!;
      ctx.result = { ...r, usage: { ...r.usage, costEstimate: r.usage.total === 4 ? 0.0025 : null } };
    };
    const fiber = fiberWith({ preset: 'none', middleware: [metrics(), priced] });
    emu.script({ usage: { prompt: 3, completion: 1 } });
    await fiber.chat({ messages: 'hi' });
    emu.script({ usage: { prompt: 5, completion: 5 } });
    await fiber.chat({ messages: 'hi' });
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 2 }]);
    expect(snap.estimated_cost_usd).toEqual([{ tags: OPENAI, value: 0.0025 }]);
  });
});

describe('metrics after streams', () => {
  it('records one request, latency, ttfb and tokens when the stream is done', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['a', 'b', 'c'], usage: { prompt: 2, completion: 3 } });
    const stream = fiber.chatStream({ messages: 'hi' });
    expect(await drain(stream)).toBeNull();
    const result = await stream.result();
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.tokens_total).toEqual([{ tags: OPENAI, value: 5 }]);
    expect(histograms(snap, 'ttfb_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1, sum: result.ttfbMs })]);
    expect(histograms(snap, 'latency_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1, sum: result.latencyMs })]);
    expect(snap.error_count).toBeUndefined();
  });

  it('counts a stream cut mid-way as a StreamError, with the ttfb it had', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['a', 'b', 'c', 'd'], dropAfterEvents: 2 });
    const err = await drain(fiber.chatStream({ messages: 'hi' })) as FiberError;
    expect(err).toBeInstanceOf(FiberError);
    expect(err.name).toBe('StreamError');
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.error_count).toEqual([{ tags: { ...OPENAI, error: 'StreamError' }, value: 1 }]);
    expect(histograms(snap, 'ttfb_ms')[0]).toMatchObject({ count: 1 });
    expect(snap.tokens_total).toBeUndefined();
  });

  it('counts a stream aborted after its first chunk as AbortError', async () => {
    const fiber = fiberWith();
    // OpenAI's first event is the role delta; the second carries 'a'. Then the server goes quiet.
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 60_000 } });
    const stream = fiber.chatStream({ messages: 'hi' });
    const first = await stream.next();
    expect(first.value).toMatchObject({ type: 'chunk' });
    stream.abort();
    await expect(stream.result()).rejects.toMatchObject({ name: 'AbortError' });
    expect(fiber.metrics.snapshot().error_count).toEqual([{ tags: { ...OPENAI, error: 'AbortError' }, value: 1 }]);
  });

  it('counts a stream the consumer left early (break) as a request with its latency and ttfb, not as an error', async () => {
    const sink = recordingSink();
    const fiber = fiberWith({ metrics: sink });
    emu.script({ chunks: ['a', 'b', 'c', 'd'], chunkDelayMs: 5 });
    for await (const ev of fiber.chatStream({ messages: 'hi' })) {
      if (ev.type === 'chunk') break;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(histograms(snap, 'latency_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1 })]);
    expect(histograms(snap, 'ttfb_ms')).toEqual([expect.objectContaining({ tags: OPENAI, count: 1 })]);
    expect(snap.error_count).toBeUndefined();
    expect(snap.tokens_total).toBeUndefined();
    expect(sink.records.map((r) => `${r.kind} ${r.name}`)).toEqual(['inc request_count', 'obs latency_ms', 'obs ttfb_ms']);
  });

  it('counts a stream cancelled through the caller signal as AbortError', async () => {
    const fiber = fiberWith();
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 60_000 } });
    const ac = new AbortController();
    const stream = fiber.chatStream({ messages: 'hi', signal: ac.signal });
    expect((await stream.next()).value).toMatchObject({ type: 'chunk' });
    ac.abort();
    await expect(stream.result()).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(fiber.metrics.snapshot().error_count).toEqual([{ tags: { ...OPENAI, error: 'AbortError' }, value: 1 }]);
  });

  it('counts a stream retried before its first event once, with retry_count', async () => {
    const fiber = fiberWith();
    emu.script({ status: 429, retryAfterMs: '1' });
    expect(await drain(fiber.chatStream({ messages: 'hi' }))).toBeNull();
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.retry_count).toEqual([{ tags: OPENAI, value: 1 }]);
  });
});

describe('metadata tags', () => {
  it('tags only allow-listed metadata keys', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ tags: ['tenant', 'feature'] })] });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme', feature: 'search', user: CANARY_EMAIL, apiKey: CANARY_KEY } });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme' } });
    await fiber.chat({ messages: 'hi' });
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([
      { tags: { ...OPENAI, tenant: 'acme', feature: 'search' }, value: 1 },
      { tags: { ...OPENAI, tenant: 'acme' }, value: 1 },
      { tags: OPENAI, value: 1 },
    ]);
    const text = JSON.stringify(snap);
    expect(text).not.toContain(CANARY_KEY);
    expect(text).not.toContain(CANARY_EMAIL);
    expect(text).not.toContain('user');
  });

  it('tags error_count with the metadata too', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ tags: ['tenant'] })] });
    emu.script({ status: 400 });
    await rejection(fiber.chat({ messages: 'hi', metadata: { tenant: 'acme' } }));
    expect(fiber.metrics.snapshot().error_count).toEqual([{ tags: { ...OPENAI, tenant: 'acme', error: 'BadRequestError' }, value: 1 }]);
  });

  it('caps distinct values per key, then tags "other"', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ tags: ['tenant'], maxTagValues: 2 })] });
    for (const tenant of ['a', 'b', 'c', 'd', 'a']) await fiber.chat({ messages: 'hi', metadata: { tenant } });
    expect(fiber.metrics.snapshot().request_count).toEqual([
      { tags: { ...OPENAI, tenant: 'a' }, value: 2 },
      { tags: { ...OPENAI, tenant: 'b' }, value: 1 },
      { tags: { ...OPENAI, tenant: 'other' }, value: 2 },
    ]);
  });

  it('truncates long values', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ tags: ['tenant'], maxTagLength: 8 })] });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'abcdefghijklmnop' } });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'abcdefghXYZ' } });
    expect(fiber.metrics.snapshot().request_count).toEqual([{ tags: { ...OPENAI, tenant: 'abcdefgh' }, value: 2 }]);
  });

  it('tags an allow-listed value that looks like an email or API key as "redacted"', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ tags: ['user'] })] });
    await fiber.chat({ messages: 'hi', metadata: { user: CANARY_EMAIL } });
    await fiber.chat({ messages: 'hi', metadata: { user: CANARY_KEY } });
    await fiber.chat({ messages: 'hi', metadata: { user: 'task-12345678' } });
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([
      { tags: { ...OPENAI, user: 'redacted' }, value: 2 },
      { tags: { ...OPENAI, user: 'task-12345678' }, value: 1 },
    ]);
    expect(JSON.stringify(snap)).not.toContain('canary');
  });

  it('tags a metadata value holding the Fiber\'s own API key as "redacted", whatever the key looks like', async () => {
    const sink = recordingSink();
    const fiber = fiberWith({ apiKeys: { openai: PLAIN_KEY }, metrics: sink, preset: 'none', middleware: [metrics({ tags: ['user'] })] });
    await fiber.chat({ messages: 'hi', metadata: { user: PLAIN_KEY } });
    await fiber.chat({ messages: 'hi', metadata: { user: `id:${PLAIN_KEY}` } });
    emu.script({ status: 400 });
    await rejection(fiber.chat({ messages: 'hi', metadata: { user: PLAIN_KEY } }));
    await drain(fiber.chatStream({ messages: 'hi', metadata: { user: PLAIN_KEY } }));
    await fiber.chat({ messages: 'hi', metadata: { user: 'plainsecret' } }); // a part of the key is no key
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([
      { tags: { ...OPENAI, user: 'redacted' }, value: 4 },
      { tags: { ...OPENAI, user: 'plainsecret' }, value: 1 },
    ]);
    expect(snap.error_count).toEqual([{ tags: { ...OPENAI, user: 'redacted', error: 'BadRequestError' }, value: 1 }]);
    expect(JSON.stringify(snap)).not.toContain(PLAIN_KEY);
    expect(sink.records.length).toBeGreaterThan(0);
    expect(JSON.stringify(sink.records)).not.toContain(PLAIN_KEY);
  });

  it('tags a model name holding the Fiber\'s own API key as "redacted"', async () => {
    const fiber = fiberWith({ apiKeys: { openai: PLAIN_KEY } });
    await fiber.chat({ model: `gpt-${PLAIN_KEY}`, messages: 'hi' });
    expect(fiber.metrics.snapshot().request_count).toEqual([{ tags: { provider: 'openai', model: 'redacted' }, value: 1 }]);
  });

  it('checks a value against the keys of the Fiber making the call, not of the first Fiber that sent it', async () => {
    const sink = recordingSink();
    const shared = metrics({ sink, tags: ['user'] });
    const other = fiberWith({ apiKeys: { openai: 'another-fiber-key-000' }, preset: 'none', middleware: [shared] });
    const owner = fiberWith({ apiKeys: { openai: PLAIN_KEY }, preset: 'none', middleware: [shared] });
    await other.chat({ messages: 'hi', metadata: { user: PLAIN_KEY } }); // not that Fiber's key: tagged as given
    await owner.chat({ messages: 'hi', metadata: { user: PLAIN_KEY } });
    await owner.chat({ messages: 'hi', metadata: { user: 'another-fiber-key-000' } });
    expect(sink.records.filter((r) => r.name === 'request_count').map((r) => r.tags.user)).toEqual([PLAIN_KEY, 'redacted', 'another-fiber-key-000']);
  });

  it('hands the sink the same frozen tags object for the same series', async () => {
    const sink = recordingSink();
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ sink, tags: ['tenant'] })] });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme', other: '1' } });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme', other: '2' } });
    const tags = sink.records.filter((r) => r.name === 'request_count').map((r) => r.tags);
    expect(tags).toHaveLength(2);
    expect(tags[0]).toBe(tags[1]);
    expect(Object.isFrozen(tags[0])).toBe(true);
    expect(tags[0]).toEqual({ ...OPENAI, tenant: 'acme' });
  });

  it.each([
    [{ tags: 'tenant' }, /array/],
    [{ tags: ['provider'] }, /reserved/],
    [{ tags: ['a', 'a'] }, /twice/],
    [{ tags: ['bad key'] }, /must match/],
    [{ tags: ['__proto__'] }, /must match/],
    [{ maxTagValues: 0 }, /positive integer/],
    [{ maxTagLength: 1.5 }, /positive integer/],
    [{ buckets: { latency_ms: [] } }, /non-empty/],
    [{ buckets: { latency: [100] } }, /no histogram "latency" \(it records latency_ms and ttfb_ms\)/],
    [{ buckets: { request_count: [1] } }, /no histogram "request_count"/],
    [{ percentiles: 95 }, /percentiles must be a non-empty array/],
    [{ percentiles: [] }, /percentiles must be a non-empty array/],
    [{ percentiles: [0] }, /percentiles\[0\] must be a number between 0 and 100/],
    [{ percentiles: [95, 100] }, /percentiles\[1\] must be a number between 0 and 100/],
    [{ percentiles: [Number.NaN] }, /between 0 and 100/],
    [{ percentiles: ['95'] }, /between 0 and 100/],
    [{ percentiles: [95, 95] }, /percentile 95 twice/],
    [{ sink: {} }, /MetricsSink/],
    [{ tag: ['x'] }, /unknown option "tag"/],
  ])('rejects bad options %j with ConfigError', (options, message) => {
    expect(() => metrics(options as never)).toThrow(ConfigError);
    expect(() => metrics(options as never)).toThrow(message);
  });
});

describe('buckets and sinks', () => {
  it('configures explicit buckets on the Fiber store before the first observation', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ buckets: { latency_ms: [60_000, 0] } })] });
    await fiber.chat({ messages: 'hi' });
    await fiber.chat({ messages: 'hi' });
    const [latency] = histograms(fiber.metrics.snapshot(), 'latency_ms');
    expect(latency!.count).toBe(2);
    expect(latency!.buckets).toEqual([{ le: 0, count: 0 }, { le: 60_000, count: 2 }]);
  });

  it('adds the configured percentiles to every histogram row of the snapshot', async () => {
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ percentiles: [99.9, 95] })] });
    await fiber.chat({ messages: 'hi' });
    await drain(fiber.chatStream({ messages: 'hi' }));
    const snap = fiber.metrics.snapshot();
    for (const name of ['latency_ms', 'ttfb_ms']) {
      const rows = histograms(snap, name);
      expect(rows.length, name).toBe(1);
      const row = rows[0]!;
      expect(Object.keys(row)).toEqual(['tags', 'count', 'sum', 'min', 'max', 'p50', 'p90', 'p99', 'p95', 'p99.9']);
      // with at most two observations, p95 and p99.9 are the same rank as p99
      expect([row.p95, row['p99.9']]).toEqual([row.p99, row.p99]);
    }
    expect(Object.keys(histograms(fiberWith().metrics.snapshot(), 'latency_ms')[0] ?? {})).not.toContain('p95');
  });

  it('passes buckets and percentiles to a sink\'s defineHistogram once, before its first observation', async () => {
    const defined: unknown[] = [];
    const sink = { ...recordingSink(), defineHistogram: (name: string, options: unknown) => { defined.push([name, options]); } };
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ sink, buckets: { ttfb_ms: [500, 100] }, percentiles: [95] })] });
    await fiber.chat({ messages: 'hi' });
    await fiber.chat({ messages: 'hi' });
    expect(defined).toEqual([
      ['latency_ms', { percentiles: [95] }],
      ['ttfb_ms', { buckets: [100, 500], percentiles: [95] }],
    ]);
  });

  it('records to its own sinks only when given some', async () => {
    const a = recordingSink();
    const store = new MetricsStore({ buckets: { ttfb_ms: [60_000] } });
    const fiber = fiberWith({ preset: 'none', middleware: [metrics({ sink: [a, store] })] });
    await drain(fiber.chatStream({ messages: 'hi' }));
    expect(fiber.metrics.snapshot()).toEqual({});
    expect(a.records.map((r) => `${r.kind} ${r.name}`)).toEqual([
      'inc request_count', 'obs latency_ms', 'obs ttfb_ms', 'inc tokens_prompt', 'inc tokens_completion', 'inc tokens_total',
    ]);
    expect(histograms(store.snapshot(), 'ttfb_ms')[0]!.buckets).toEqual([{ le: 60_000, count: 1 }]);
  });

  it('records to the Fiber metrics option sink as well as fiber.metrics', async () => {
    const user = recordingSink();
    const fiber = fiberWith({ metrics: user });
    await fiber.chat({ messages: 'hi' });
    expect(user.records.filter((r) => r.name === 'request_count')).toEqual([{ kind: 'inc', name: 'request_count', value: 1, tags: OPENAI }]);
    expect(fiber.metrics.snapshot().request_count).toEqual([{ tags: OPENAI, value: 1 }]);
  });

  it('takes over from the preset metrics() when added with use(): every call is counted once', async () => {
    const fiber = fiberWith().use(metrics({ tags: ['tenant'] }));
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme' } });
    emu.script({ status: 400 });
    await rejection(fiber.chat({ messages: 'hi', metadata: { tenant: 'acme' } }));
    await drain(fiber.chatStream({ messages: 'hi', metadata: { tenant: 'acme' } }));
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: { ...OPENAI, tenant: 'acme' }, value: 3 }]);
    expect(snap.error_count).toEqual([{ tags: { ...OPENAI, tenant: 'acme', error: 'BadRequestError' }, value: 1 }]);
  });

  it('never fails a call because a sink throws', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const broken: MetricsSink = { increment: () => { throw new Error('sink down'); }, observe: () => { throw new Error('sink down'); } };
      const fiber = fiberWith({ preset: 'none', middleware: [metrics({ sink: broken })] });
      await expect(fiber.chat({ messages: 'hi' })).resolves.toMatchObject({ text: expect.any(String) });
      expect(await drain(fiber.chatStream({ messages: 'hi' }))).toBeNull();
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('never fails a call because a sink\'s defineHistogram throws, and still records to it', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const broken = { ...recordingSink(), defineHistogram: () => { throw new Error('cannot define'); } };
      const own = fiberWith({ preset: 'none', middleware: [metrics({ sink: broken, buckets: { latency_ms: [60_000] } })] });
      await expect(own.chat({ messages: 'hi' })).resolves.toMatchObject({ finishReason: 'stop' });
      expect(broken.records.filter((r) => r.name === 'request_count')).toHaveLength(1);
      // Through the Fiber's sinks (a MultiSink of fiber.metrics and the user's): the store still gets its buckets.
      const user = { ...recordingSink(), defineHistogram: () => { throw new Error('cannot define either'); } };
      const fanned = fiberWith({ metrics: user, preset: 'none', middleware: [metrics({ buckets: { latency_ms: [60_000] } })] });
      await expect(fanned.chat({ messages: 'hi' })).resolves.toMatchObject({ finishReason: 'stop' });
      expect(await drain(fanned.chatStream({ messages: 'hi' }))).toBeNull();
      expect(user.records.filter((r) => r.name === 'request_count')).toHaveLength(2);
      expect(histograms(fanned.metrics.snapshot(), 'latency_ms')[0]!.buckets).toEqual([{ le: 60_000, count: 2 }]);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
        expect.stringContaining('cannot define'),
        expect.stringContaining('cannot define either'),
      ]);
    } finally {
      warn.mockRestore();
    }
  });

  it('records nothing with preset none and no metrics middleware', async () => {
    const fiber = fiberWith({ preset: 'none' });
    await fiber.chat({ messages: 'hi' });
    emu.script({ status: 400 });
    await rejection(fiber.chat({ messages: 'hi' }));
    expect(fiber.metrics.snapshot()).toEqual({});
  });

  it('never puts the API key into a metric', async () => {
    const fiber = fiberWith({ metrics: recordingSink() });
    emu.script({ status: 401, errorMessage: `Incorrect API key provided: ${CANARY_KEY}` });
    await rejection(fiber.chat({ messages: 'hi', metadata: { key: CANARY_KEY } }));
    await fiber.chat({ messages: 'hi' });
    expect(JSON.stringify(fiber.metrics.snapshot())).not.toContain(CANARY_KEY);
  });
});
