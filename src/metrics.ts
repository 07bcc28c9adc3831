/**
 * The in-memory metrics store behind `fiber.metrics`: counters and histograms keyed by name and tags.
 *
 * Callers on the hot path reuse one tags object per series (the `metrics` middleware caches them per provider and
 * model), so a record is a Map lookup by object identity; a new tags object with the same content is mapped to the
 * same series once, through its canonical key. Histograms use log-spaced buckets (2 % wide): constant memory,
 * O(1) record, percentiles within about 1 %.
 */
import type { CounterPoint, HistogramPoint, MetricsSink, MetricsSnapshot, Tags } from './types.js';

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Values are bucketed from 1e-3 upward (µs resolution for ms values). */
const MIN_VALUE = 1e-3;

/** A histogram with log-spaced buckets. */
export class Histogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private zero = 0;
  private buckets: number[] = [];

  record(v: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (v < MIN_VALUE) { this.zero++; return; }
    const i = Math.floor(Math.log(v / MIN_VALUE) / LOG_GROWTH);
    const b = this.buckets;
    while (b.length <= i) b.push(0);
    b[i]!++;
  }

  /** The value at quantile q (0..1), clamped to [min, max]. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = this.zero;
    if (seen >= rank) return this.min;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      seen += b[i]!;
      if (seen >= rank) {
        // midpoint of the bucket, geometric
        const v = MIN_VALUE * Math.pow(GROWTH, i + 0.5);
        return Math.min(this.max, Math.max(this.min, v));
      }
    }
    return this.max;
  }
}

interface Series {
  tags: Tags;
  counters: Map<string, number>;
  histograms: Map<string, Histogram>;
}

function canonicalKey(tags: Tags): string {
  const keys = Object.keys(tags).sort();
  let k = '';
  for (const key of keys) k += key + '\u0001' + tags[key] + '\u0002';
  return k;
}

/** In-memory metrics: what `fiber.metrics.snapshot()` reads. */
export class MetricsStore implements MetricsSink {
  private byIdentity = new WeakMap<Tags, Series>();
  private readonly byKey = new Map<string, Series>();

  private series(tags: Tags): Series {
    let s = this.byIdentity.get(tags);
    if (s !== undefined) return s;
    const key = canonicalKey(tags);
    s = this.byKey.get(key);
    if (s === undefined) {
      s = { tags: { ...tags }, counters: new Map(), histograms: new Map() };
      this.byKey.set(key, s);
    }
    this.byIdentity.set(tags, s);
    return s;
  }

  increment(name: string, value: number, tags: Tags): void {
    const c = this.series(tags).counters;
    c.set(name, (c.get(name) ?? 0) + value);
  }

  observe(name: string, value: number, tags: Tags): void {
    const h = this.series(tags).histograms;
    let hist = h.get(name);
    if (hist === undefined) { hist = new Histogram(); h.set(name, hist); }
    hist.record(value);
  }

  /** `{ [name]: [{ tags, value }] }` for counters, `{ [name]: [{ tags, count, sum, min, max, p50, p90, p99 }] }` for histograms. */
  snapshot(): MetricsSnapshot {
    const out: Record<string, Array<CounterPoint | HistogramPoint>> = {};
    for (const s of this.byKey.values()) {
      for (const [name, value] of s.counters) (out[name] ??= []).push({ tags: { ...s.tags }, value });
      for (const [name, h] of s.histograms) {
        (out[name] ??= []).push({
          tags: { ...s.tags }, count: h.count, sum: h.sum, min: h.min, max: h.max,
          p50: h.quantile(0.5), p90: h.quantile(0.9), p99: h.quantile(0.99),
        });
      }
    }
    return out;
  }

  /** Forget everything recorded so far. */
  reset(): void {
    this.byKey.clear();
    this.byIdentity = new WeakMap();
  }
}

/** Fan a record out to several sinks. */
export class MultiSink implements MetricsSink {
  constructor(private readonly sinks: readonly MetricsSink[]) {}
  increment(name: string, value: number, tags: Tags): void {
    for (const s of this.sinks) s.increment(name, value, tags);
  }
  observe(name: string, value: number, tags: Tags): void {
    for (const s of this.sinks) s.observe(name, value, tags);
  }
}
