import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { Histogram, MetricsStore, MultiSink, toSink } from '../../src/metrics.js';
import type { HistogramPoint, MetricsSink, Tags } from '../../src/types.js';

const T: Tags = Object.freeze({ provider: 'openai', model: 'gpt-4o-mini' });

describe('MetricsStore counters', () => {
  it('adds increments per name and series, with the snapshot shape of the contract', () => {
    const store = new MetricsStore();
    store.increment('request_count', 1, T);
    store.increment('request_count', 2, T);
    store.increment('request_count', 1, { provider: 'anthropic', model: 'claude-3-5-haiku-latest' });
    expect(store.snapshot()).toEqual({
      request_count: [
        { tags: { provider: 'openai', model: 'gpt-4o-mini' }, value: 3 },
        { tags: { provider: 'anthropic', model: 'claude-3-5-haiku-latest' }, value: 1 },
      ],
    });
  });

  it('maps a new tags object with the same content to the same series', () => {
    const store = new MetricsStore();
    store.increment('tokens_total', 5, { provider: 'openai', model: 'm' });
    store.increment('tokens_total', 7, { model: 'm', provider: 'openai' });
    expect(store.snapshot().tokens_total).toEqual([{ tags: { provider: 'openai', model: 'm' }, value: 12 }]);
  });

  it('hands out copies of the tags in the snapshot', () => {
    const store = new MetricsStore();
    const tags = { provider: 'openai', model: 'm' };
    store.increment('request_count', 1, tags);
    const snap = store.snapshot();
    snap.request_count![0]!.tags.provider = 'changed';
    tags.provider = 'changed too';
    expect(store.snapshot().request_count![0]!.tags).toEqual({ provider: 'openai', model: 'm' });
  });

  it('ignores NaN and infinite values instead of poisoning the series', () => {
    const store = new MetricsStore();
    store.increment('estimated_cost_usd', 0.25, T);
    store.increment('estimated_cost_usd', Number.NaN, T);
    store.increment('estimated_cost_usd', Infinity, T);
    store.observe('latency_ms', Infinity, T);
    store.observe('latency_ms', Number.NaN, T);
    store.observe('latency_ms', 12, T);
    const snap = store.snapshot();
    expect(snap.estimated_cost_usd).toEqual([{ tags: T, value: 0.25 }]);
    expect(snap.latency_ms).toEqual([expect.objectContaining({ count: 1, sum: 12, min: 12, max: 12 })]);
  });

  it('forgets everything on reset()', () => {
    const store = new MetricsStore();
    store.increment('request_count', 1, T);
    store.observe('latency_ms', 3, T);
    store.reset();
    expect(store.snapshot()).toEqual({});
    store.increment('request_count', 1, T);
    expect(store.snapshot().request_count).toEqual([{ tags: T, value: 1 }]);
  });
});

describe('MetricsStore histograms', () => {
  it('reports count, sum, min, max and p50/p90/p99 within the 2 % bucket width, and no buckets field by default', () => {
    const store = new MetricsStore();
    for (let v = 1; v <= 1000; v++) store.observe('latency_ms', v, T);
    const [point] = store.snapshot().latency_ms as HistogramPoint[];
    expect(Object.keys(point!).sort()).toEqual(['count', 'max', 'min', 'p50', 'p90', 'p99', 'sum', 'tags']);
    expect(point).toMatchObject({ tags: T, count: 1000, sum: 500_500, min: 1, max: 1000 });
    expect(point!.p50).toBeGreaterThan(500 * 0.98);
    expect(point!.p50).toBeLessThan(500 * 1.02);
    expect(point!.p90).toBeGreaterThan(900 * 0.98);
    expect(point!.p90).toBeLessThan(900 * 1.02);
    expect(point!.p99).toBeGreaterThan(990 * 0.98);
    expect(point!.p99).toBeLessThanOrEqual(1000);
  });

  it('clamps percentiles to the observed range', () => {
    const h = new Histogram();
    h.record(42);
    expect([h.quantile(0.5), h.quantile(0.99)]).toEqual([42, 42]);
    const zero = new Histogram();
    zero.record(0);
    zero.record(0);
    expect(zero.quantile(0.5)).toBe(0);
  });

  it('counts into explicit buckets from the constructor, cumulative per upper bound', () => {
    const store = new MetricsStore({ buckets: { latency_ms: [100, 10, 1000] } });
    for (const v of [5, 10, 10.5, 99, 100, 101, 5000]) store.observe('latency_ms', v, T);
    store.observe('ttfb_ms', 7, T);
    const snap = store.snapshot();
    const [latency] = snap.latency_ms as HistogramPoint[];
    // bounds are sorted; a value equal to a bound is in that bound's bucket (le = less or equal)
    expect(latency!.buckets).toEqual([{ le: 10, count: 2 }, { le: 100, count: 5 }, { le: 1000, count: 6 }]);
    expect(latency).toMatchObject({ count: 7, min: 5, max: 5000 });
    expect(latency!.p50).toBeGreaterThan(0);
    expect((snap.ttfb_ms as HistogramPoint[])[0]!.buckets).toBeUndefined();
  });

  it('applies defineHistogram() to series created afterwards', () => {
    const store = new MetricsStore();
    const before = { provider: 'p', model: 'before' };
    store.observe('latency_ms', 1, before);
    store.defineHistogram('latency_ms', { buckets: [2, 4] });
    store.observe('latency_ms', 1, before);
    store.observe('latency_ms', 3, T);
    store.observe('latency_ms', 8, T);
    const points = store.snapshot().latency_ms as HistogramPoint[];
    expect(points.find((p) => p.tags.model === 'before')!.buckets).toBeUndefined();
    expect(points.find((p) => p.tags.model === T.model)!.buckets).toEqual([{ le: 2, count: 0 }, { le: 4, count: 1 }]);
  });

  it('keeps the bucket configuration across reset()', () => {
    const store = new MetricsStore({ buckets: { latency_ms: [1] } });
    store.observe('latency_ms', 1, T);
    store.reset();
    store.observe('latency_ms', 0.5, T);
    expect((store.snapshot().latency_ms as HistogramPoint[])[0]!.buckets).toEqual([{ le: 1, count: 1 }]);
  });

  it.each([
    ['an empty list', { latency_ms: [] }],
    ['a non-number', { latency_ms: [1, '2'] }],
    ['NaN', { latency_ms: [Number.NaN] }],
    ['Infinity', { latency_ms: [1, Infinity] }],
    ['a duplicate bound', { latency_ms: [1, 2, 1] }],
    ['a non-array', { latency_ms: 5 }],
  ])('rejects %s as buckets with ConfigError', (_what, buckets) => {
    expect(() => new MetricsStore({ buckets: buckets as never })).toThrow(ConfigError);
  });

  it('rejects unknown options', () => {
    expect(() => new MetricsStore({ bucket: {} } as never)).toThrow(/unknown option "bucket"/);
  });
});

function recordingSink(): MetricsSink & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    increment: (n, v) => { calls.push(`inc ${n} ${v}`); },
    observe: (n, v) => { calls.push(`obs ${n} ${v}`); },
  };
}

describe('MultiSink', () => {
  it('fans every record out to each sink in order', () => {
    const a = recordingSink();
    const b = recordingSink();
    const multi = new MultiSink([a, b]);
    multi.increment('request_count', 1, T);
    multi.observe('latency_ms', 9, T);
    expect(a.calls).toEqual(['inc request_count 1', 'obs latency_ms 9']);
    expect(b.calls).toEqual(a.calls);
  });

  it('keeps recording to the other sinks when one throws, and warns once', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const bad: MetricsSink = { increment: () => { throw new Error('agent down'); }, observe: () => { throw new Error('agent down'); } };
      const good = recordingSink();
      const multi = new MultiSink([bad, good]);
      multi.increment('request_count', 1, T);
      multi.observe('latency_ms', 1, T);
      expect(good.calls).toEqual(['inc request_count 1', 'obs latency_ms 1']);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain('agent down');
    } finally {
      warn.mockRestore();
    }
  });

  it('forwards defineHistogram, flush and close to the sinks that have them', async () => {
    const store = new MetricsStore();
    const seen: string[] = [];
    const other: MetricsSink = {
      increment() {}, observe() {},
      flush: async () => { seen.push('flush'); },
      close: async () => { seen.push('close'); },
    };
    const multi = new MultiSink([store, other, recordingSink()]);
    multi.defineHistogram('latency_ms', { buckets: [5] });
    multi.observe('latency_ms', 3, T);
    expect((store.snapshot().latency_ms as HistogramPoint[])[0]!.buckets).toEqual([{ le: 5, count: 1 }]);
    await multi.flush();
    await multi.close();
    expect(seen).toEqual(['flush', 'close']);
  });

  it('rejects something that is not a sink', () => {
    expect(() => new MultiSink([{ increment() {} } as never])).toThrow(ConfigError);
  });
});

describe('toSink', () => {
  it('accepts a sink, or an array of sinks fanned out', () => {
    const a = recordingSink();
    const b = recordingSink();
    expect(toSink(a, 'x')).toBe(a);
    expect(toSink([a], 'x')).toBe(a);
    const both = toSink([a, b], 'x');
    both.increment('request_count', 1, T);
    expect([a.calls, b.calls]).toEqual([['inc request_count 1'], ['inc request_count 1']]);
    expect(() => toSink([a, {} as never], 'Fiber: metrics')).toThrow(/Fiber: metrics\[1\]/);
    expect(() => toSink(null as never, 'x')).toThrow(ConfigError);
  });
});
