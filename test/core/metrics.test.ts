import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import type { Fiber, FiberOptions } from '../../src/fiber.js';
import { MetricsStore, MultiSink } from '../../src/metrics.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { CounterPoint, HistogramPoint, MetricsSnapshot, Tags } from '../../src/types.js';
import {
  collect, emuFiber, type HandleTracker, iter, rejectionOf, SSE_HEADERS, sseChunk, startServer, TEST_KEY,
  type TestServer, trackHandles, urlFiber,
} from '../helpers/core.js';

let emu: Emulator;
let server: TestServer;
let handles: HandleTracker;
const opened: Fiber[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
  // One chunk, then the response stays open (for aborts).
  server = await startServer((_i, _req, res) => {
    res.writeHead(200, SSE_HEADERS);
    res.write(sseChunk('held'));
  });
});

afterAll(async () => {
  await Promise.all(opened.map((f) => f.close()));
  await emu.close();
  await server.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

function fresh(options: FiberOptions = {}): Fiber {
  const f = emuFiber(emu, options);
  opened.push(f);
  return f;
}

const MINI: Tags = { provider: 'openai', model: 'gpt-4o-mini' };

/** Counter points of `name` as `[tags, value]`, sorted for stable comparison. */
function counters(snap: MetricsSnapshot, name: string): Array<[Tags, number]> {
  return ((snap[name] ?? []) as CounterPoint[]).map((p) => [p.tags, p.value] as [Tags, number])
    .sort((a, b) => JSON.stringify(a[0]).localeCompare(JSON.stringify(b[0])));
}

/** Histogram points of `name` as `[tags, count, sum]`. */
function histograms(snap: MetricsSnapshot, name: string): Array<[Tags, number, number]> {
  return ((snap[name] ?? []) as HistogramPoint[]).map((p) => [p.tags, p.count, p.sum] as [Tags, number, number]);
}

describe('fiber.metrics.snapshot()', () => {
  it('is empty before any call', () => {
    expect(fresh().metrics.snapshot()).toEqual({});
  });

  it('records a successful chat: one request, its latency and its tokens, no ttfb', async () => {
    emu.script({ text: 'a b c', usage: { prompt: 11, completion: 3 } });
    const f = fresh();
    const result = await f.chat({ messages: 'hi' });
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'request_count')).toEqual([[MINI, 1]]);
    expect(counters(snap, 'tokens_prompt')).toEqual([[MINI, 11]]);
    expect(counters(snap, 'tokens_completion')).toEqual([[MINI, 3]]);
    expect(counters(snap, 'tokens_total')).toEqual([[MINI, 14]]);
    expect(histograms(snap, 'latency_ms')).toEqual([[MINI, 1, result.latencyMs]]);
    expect(snap).not.toHaveProperty('ttfb_ms');
    expect(snap).not.toHaveProperty('error_count');
    expect(snap).not.toHaveProperty('retry_count');
    expect(snap).not.toHaveProperty('estimated_cost_usd');
  });

  it('records ttfb only for streams', async () => {
    emu.script({ text: 'one', usage: { prompt: 1, completion: 1 } });
    emu.script({ text: 'two', usage: { prompt: 2, completion: 2 } });
    emu.script({ text: 'three', usage: { prompt: 4, completion: 4 } });
    const f = fresh();
    await f.chat({ messages: 'hi' });
    await f.chat({ messages: 'hi' });
    const { events } = await collect(f.chatStream({ messages: 'hi' }));
    const done = events.at(-1) as { type: 'done'; result: { ttfbMs: number; latencyMs: number } };
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'request_count')).toEqual([[MINI, 3]]);
    expect(histograms(snap, 'latency_ms').map(([t, c]) => [t, c])).toEqual([[MINI, 3]]);
    expect(histograms(snap, 'ttfb_ms')).toEqual([[MINI, 1, done.result.ttfbMs]]);
    expect(counters(snap, 'tokens_prompt')).toEqual([[MINI, 7]]);
    expect(counters(snap, 'tokens_completion')).toEqual([[MINI, 7]]);
    expect(counters(snap, 'tokens_total')).toEqual([[MINI, 14]]);
  });

  it('records a failed call once, with error_count tagged by error class, and its retries', async () => {
    emu.script({ status: 429, times: Infinity });
    const f = fresh();
    await rejectionOf(f.chat({ messages: 'hi' }));
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'request_count')).toEqual([[MINI, 1]]);
    expect(counters(snap, 'error_count')).toEqual([[{ ...MINI, error: 'RateLimitError' }, 1]]);
    expect(counters(snap, 'retry_count')).toEqual([[MINI, 2]]);
    expect(histograms(snap, 'latency_ms').map(([t, c]) => [t, c])).toEqual([[MINI, 1]]);
    expect(snap).not.toHaveProperty('tokens_total');
    expect(emu.requests).toHaveLength(3);
  });

  it('counts the retries of a call that succeeded, without an error', async () => {
    emu.script({ status: 503 });
    const f = fresh();
    await f.chat({ messages: 'hi' });
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'retry_count')).toEqual([[MINI, 1]]);
    expect(counters(snap, 'request_count')).toEqual([[MINI, 1]]);
    expect(snap).not.toHaveProperty('error_count');
  });

  it('tags each error class separately', async () => {
    emu.script({ status: 400 });
    emu.script({ status: 404 });
    emu.script({ status: 401 });
    const f = fresh();
    for (let i = 0; i < 3; i++) await rejectionOf(f.chat({ messages: 'hi' }));
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'error_count')).toEqual([
      [{ ...MINI, error: 'AuthError' }, 1],
      [{ ...MINI, error: 'BadRequestError' }, 1],
      [{ ...MINI, error: 'NotFoundError' }, 1],
    ]);
    expect(counters(snap, 'request_count')).toEqual([[MINI, 3]]);
  });

  it('records bad input as a ConfigError under unknown provider and model', async () => {
    const f = fresh();
    await rejectionOf(f.chat({ messages: [] }));
    expect(counters(f.metrics.snapshot(), 'error_count')).toEqual([[{ provider: 'unknown', model: 'unknown', error: 'ConfigError' }, 1]]);
    expect(emu.requests).toEqual([]);
  });

  it('keeps one series per model', async () => {
    const f = fresh();
    await f.chat({ messages: 'hi' });
    await f.chat({ model: 'gpt-4.1', messages: 'hi' });
    await f.chat({ messages: 'hi' });
    expect(counters(f.metrics.snapshot(), 'request_count')).toEqual([
      [{ provider: 'openai', model: 'gpt-4.1' }, 1],
      [MINI, 2],
    ]);
  });

  it('records a stream that failed after commit as one error with its ttfb', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], dropAfterEvents: 2 });
    const f = fresh();
    await collect(f.chatStream({ messages: 'hi' }));
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'request_count')).toEqual([[MINI, 1]]);
    expect(counters(snap, 'error_count')).toEqual([[{ ...MINI, error: 'StreamError' }, 1]]);
    expect(histograms(snap, 'ttfb_ms').map(([t, c]) => [t, c])).toEqual([[MINI, 1]]);
    expect(snap).not.toHaveProperty('retry_count');
  });

  it('records an aborted stream as an AbortError', async () => {
    const f = urlFiber(server.url);
    opened.push(f);
    const stream = f.chatStream({ messages: 'hi' });
    const it = iter(stream);
    await it.next();
    const pending = it.next();
    stream.abort();
    await rejectionOf(pending);
    const snap = f.metrics.snapshot();
    expect(counters(snap, 'request_count')).toEqual([[MINI, 1]]);
    expect(counters(snap, 'error_count')).toEqual([[{ ...MINI, error: 'AbortError' }, 1]]);
  });

  it('records a stream aborted before commit as an AbortError', async () => {
    emu.script({ delayMs: 5_000 });
    const f = fresh();
    const stream = f.chatStream({ messages: 'hi' });
    const pending = iter(stream).next();
    while (emu.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    stream.abort();
    await rejectionOf(pending);
    expect(counters(f.metrics.snapshot(), 'error_count')).toEqual([[{ ...MINI, error: 'AbortError' }, 1]]);
  });

  it('sends the same records to a user sink', async () => {
    const records: Array<[string, string, number, Tags]> = [];
    const sink = {
      increment: (name: string, value: number, tags: Tags) => { records.push(['increment', name, value, tags]); },
      observe: (name: string, value: number, tags: Tags) => { records.push(['observe', name, value, tags]); },
    };
    emu.script({ text: 'x', usage: { prompt: 2, completion: 1 } });
    const f = fresh({ metrics: sink });
    await f.chat({ messages: 'hi' });
    expect(records.map(([kind, name, value, tags]) => [kind, name, kind === 'observe' ? 'ms' : value, tags])).toEqual([
      ['increment', 'request_count', 1, MINI],
      ['observe', 'latency_ms', 'ms', MINI],
      ['increment', 'tokens_prompt', 2, MINI],
      ['increment', 'tokens_completion', 1, MINI],
      ['increment', 'tokens_total', 3, MINI],
    ]);
    expect(counters(f.metrics.snapshot(), 'request_count')).toEqual([[MINI, 1]]);
  });

  it('never puts the API key in a tag', async () => {
    emu.script({ status: 401, errorMessage: `bad key ${TEST_KEY}` });
    const f = fresh();
    await rejectionOf(f.chat({ messages: 'hi' }));
    expect(JSON.stringify(f.metrics.snapshot())).not.toContain(TEST_KEY);
  });

  it('forgets everything on reset()', async () => {
    const f = fresh();
    await f.chat({ messages: 'hi' });
    f.metrics.reset();
    expect(f.metrics.snapshot()).toEqual({});
  });
});

describe('extra percentiles (defineHistogram)', () => {
  /** 1..1000 ms, once each: the true p-th percentile is p × 10. */
  function thousand(store: MetricsStore): HistogramPoint {
    for (let v = 1; v <= 1000; v++) store.observe('latency_ms', v, MINI);
    return (store.snapshot().latency_ms as HistogramPoint[])[0]!;
  }

  it('reports p95 and p99.9 next to p50, p90 and p99, within the histogram\'s 1 %', () => {
    const store = new MetricsStore();
    store.defineHistogram('latency_ms', { percentiles: [99.9, 95] });
    const row = thousand(store);
    expect(Object.keys(row)).toEqual(['tags', 'count', 'sum', 'min', 'max', 'p50', 'p90', 'p99', 'p95', 'p99.9']);
    for (const [key, truth] of [['p50', 500], ['p90', 900], ['p95', 950], ['p99', 990], ['p99.9', 999]] as const) {
      expect(Math.abs(row[key] - truth) / truth, key).toBeLessThan(0.01);
    }
    // p99.9 is the 999th of 1000 values, not the 1000th (0.999 × 1000 is 999.0000000000001 in floating point)
    expect(row['p99.9']).toBeLessThan(row.max);
  });

  it('applies to series recorded before it, and only to the histogram named', () => {
    const store = new MetricsStore();
    store.observe('ttfb_ms', 5, MINI);
    store.defineHistogram('ttfb_ms', { percentiles: [75] });
    const snap = store.snapshot();
    expect((snap.ttfb_ms as HistogramPoint[])[0]).toMatchObject({ p75: 5 });
    expect(Object.keys(thousand(store))).not.toContain('p75');
  });

  it('keeps buckets defined earlier when only percentiles are defined', () => {
    const store = new MetricsStore({ buckets: { latency_ms: [100] } });
    store.defineHistogram('latency_ms', { percentiles: [95] });
    expect(thousand(store)).toMatchObject({ buckets: [{ le: 100, count: 100 }], p95: expect.any(Number) });
  });

  it.each([
    [{}, /give buckets, percentiles or both/],
    [{ percentiles: [] }, /percentiles must be a non-empty array/],
    [{ percentiles: [100] }, /between 0 and 100/],
    [{ percentiles: [-1] }, /between 0 and 100/],
    [{ percentiles: [50, 50] }, /twice/],
  ])('rejects %j with ConfigError', (options, message) => {
    const store = new MetricsStore();
    expect(() => store.defineHistogram('latency_ms', options as never)).toThrow(ConfigError);
    expect(() => store.defineHistogram('latency_ms', options as never)).toThrow(message);
  });

  it('a MultiSink passes them on and survives a sink whose defineHistogram throws', () => {
    const store = new MetricsStore();
    const broken = { increment() {}, observe() {}, defineHistogram() { throw new Error('no'); } };
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(() => new MultiSink([broken, store]).defineHistogram('latency_ms', { percentiles: [95] })).not.toThrow();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain('a metrics sink failed (no)');
    } finally {
      warn.mockRestore();
    }
    expect(Object.keys(thousand(store))).toContain('p95');
  });
});
