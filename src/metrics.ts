/**
 * The in-memory metrics store behind `fiber.metrics`: counters and histograms keyed by name and tags.
 *
 * Callers on the hot path reuse one tags object per series (the `metrics` middleware caches them per provider,
 * model and allow-listed metadata values), so a record is a WeakMap lookup by object identity plus a Map lookup by
 * metric name; a new tags object with the same content is mapped to the same series once, through its canonical
 * key. Histograms use log-spaced buckets (2 % wide): constant memory, O(1) record, percentiles within about 1 %.
 * A histogram can also count into explicit buckets (`buckets` option / `defineHistogram`), reported as cumulative
 * `{ le, count }` pairs in the snapshot; percentiles still come from the log buckets.
 * See `docs/features/observability.md`.
 */
import { ConfigError } from './errors.js';
import type { CounterPoint, HistogramOptions, HistogramPoint, MetricsSink, MetricsSnapshot, Tags } from './types.js';

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Values are bucketed from 1e-3 upward (µs resolution for ms values). */
const MIN_VALUE = 1e-3;

/** A histogram with log-spaced buckets for percentiles, and optional explicit buckets. */
export class Histogram {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private zero = 0;
  private buckets: number[] = [];
  /** Explicit upper bounds (ascending), or null. */
  readonly bounds: Float64Array | null;
  /** Observations per explicit bucket (not cumulative); values above the last bound are only in `count`. */
  private readonly boundCounts: Float64Array | null;

  constructor(bounds: Float64Array | null = null) {
    this.bounds = bounds;
    this.boundCounts = bounds === null ? null : new Float64Array(bounds.length);
  }

  record(v: number): void {
    // NaN and ±Infinity would poison sum/min/max, and Infinity would grow the bucket array forever.
    if (!(v > -Infinity && v < Infinity)) return;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const bounds = this.bounds;
    if (bounds !== null) {
      // first bound >= v (binary search; bucket lists are short but may be long)
      let lo = 0;
      let hi = bounds.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (bounds[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      if (lo < bounds.length) this.boundCounts![lo]!++;
    }
    if (v < MIN_VALUE) { this.zero++; return; }
    const i = Math.floor(Math.log(v / MIN_VALUE) / LOG_GROWTH);
    const b = this.buckets;
    while (b.length <= i) b.push(0);
    b[i]!++;
  }

  /** The value at quantile q (0..1), clamped to [min, max]. */
  quantile(q: number): number {
    return this.atRank(Math.ceil(q * this.count));
  }

  /**
   * The value at percentile p (0..100), clamped to [min, max]: what the snapshot reports. The rank is computed from
   * p as given (`99.9 × 1000 / 100` is 999, where `0.999 × 1000` is `999.0000000000001`).
   */
  percentile(p: number): number {
    return this.atRank(Math.ceil((p * this.count) / 100));
  }

  /** The value of the observation at `rank` (1-based) in sorted order, approximately. */
  private atRank(r: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, r);
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

  /** Cumulative `{ le, count }` per explicit bound, or undefined when none are configured. */
  bucketPoints(): Array<{ le: number; count: number }> | undefined {
    const bounds = this.bounds;
    if (bounds === null) return undefined;
    const out: Array<{ le: number; count: number }> = [];
    let running = 0;
    for (let i = 0; i < bounds.length; i++) {
      running += this.boundCounts![i]!;
      out.push({ le: bounds[i]!, count: running });
    }
    return out;
  }
}

/**
 * Validate explicit histogram bounds: a non-empty array of finite numbers, no duplicates. Returned sorted.
 * @internal shared with the `metrics` middleware, which validates its `buckets` option at construction.
 */
export function toBounds(buckets: unknown, where: string): Float64Array {
  if (!Array.isArray(buckets) || buckets.length === 0) throw new ConfigError(`${where} must be a non-empty array of numbers`);
  const sorted = new Float64Array(buckets.length);
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i];
    if (typeof b !== 'number' || !Number.isFinite(b)) throw new ConfigError(`${where}[${i}] must be a finite number`);
    sorted[i] = b;
  }
  sorted.sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new ConfigError(`${where} has the bound ${sorted[i]} twice`);
  }
  return sorted;
}

/**
 * Validate extra percentiles (numbers strictly between 0 and 100, no duplicates) and name them for the snapshot:
 * `'p'` followed by the number as JavaScript writes it (`95` → `p95`, `99.9` → `p99.9`). Returned ascending.
 * @internal shared with the `metrics` middleware, which validates its `percentiles` option at construction.
 */
export function toPercentiles(percentiles: unknown, where: string): ReadonlyArray<readonly [`p${number}`, number]> {
  if (!Array.isArray(percentiles) || percentiles.length === 0) throw new ConfigError(`${where} must be a non-empty array of numbers`);
  const out: Array<readonly [`p${number}`, number]> = [];
  for (let i = 0; i < percentiles.length; i++) {
    const p: unknown = percentiles[i];
    if (typeof p !== 'number' || !(p > 0 && p < 100)) throw new ConfigError(`${where}[${i}] must be a number between 0 and 100 (exclusive)`);
    if (out.some(([, q]) => q === p)) throw new ConfigError(`${where} has the percentile ${p} twice`);
    out.push([`p${p}`, p]);
  }
  return Object.freeze(out.sort((a, b) => a[1] - b[1]));
}

/** Validate a `{ [metricName]: number[] }` record of bucket bounds. @internal */
export function toBucketMap(buckets: unknown, where: string): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  if (buckets === undefined) return out;
  if (buckets === null || typeof buckets !== 'object' || Array.isArray(buckets)) {
    throw new ConfigError(`${where} must be an object: { [histogramName]: number[] }`);
  }
  for (const [name, list] of Object.entries(buckets)) out.set(name, toBounds(list, `${where}.${name}`));
  return out;
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

/** Options of `new MetricsStore(...)`. */
export interface MetricsStoreOptions {
  /**
   * Explicit bucket upper bounds per histogram name, e.g. `{ latency_ms: [100, 250, 500, 1000, 2500] }`: those
   * histograms also report cumulative `buckets: [{ le, count }]` in the snapshot. Percentiles are unaffected.
   * @default none: log-bucket histograms with percentiles only
   */
  buckets?: Record<string, readonly number[]>;
}

/**
 * In-memory metrics: what `fiber.metrics.snapshot()` reads.
 * @example
 * const store = new MetricsStore({ buckets: { latency_ms: [100, 500, 1000] } });
 * const fiber = new Fiber({ metrics: store }); // also recorded in fiber.metrics
 * store.snapshot().latency_ms?.[0]?.buckets   // [{ le: 100, count }, { le: 500, count }, { le: 1000, count }]
 */
export class MetricsStore implements MetricsSink {
  private byIdentity = new WeakMap<Tags, Series>();
  private readonly byKey = new Map<string, Series>();
  private readonly bounds: Map<string, Float64Array>;
  /** Histogram name → extra `[key, percentile]` pairs reported in the snapshot. */
  private readonly percentiles = new Map<string, ReadonlyArray<readonly [`p${number}`, number]>>();
  private lastTags: Tags | null = null;
  private lastSeries: Series | null = null;

  constructor(options: MetricsStoreOptions = {}) {
    if (options === null || typeof options !== 'object') throw new ConfigError('MetricsStore: options must be an object');
    for (const k of Object.keys(options)) if (k !== 'buckets') throw new ConfigError(`MetricsStore: unknown option "${k}"`);
    this.bounds = toBucketMap(options.buckets, 'MetricsStore: buckets');
  }

  private series(tags: Tags): Series {
    // A call records ~8 updates with one tags object in a row: remember the last one.
    if (tags === this.lastTags) return this.lastSeries!;
    let s = this.byIdentity.get(tags);
    if (s !== undefined) {
      this.lastTags = tags;
      this.lastSeries = s;
      return s;
    }
    const key = canonicalKey(tags);
    s = this.byKey.get(key);
    if (s === undefined) {
      s = { tags: { ...tags }, counters: new Map(), histograms: new Map() };
      this.byKey.set(key, s);
    }
    this.byIdentity.set(tags, s);
    this.lastTags = tags;
    this.lastSeries = s;
    return s;
  }

  increment(name: string, value: number, tags: Tags): void {
    if (!(value > -Infinity && value < Infinity)) return;
    const c = this.series(tags).counters;
    c.set(name, (c.get(name) ?? 0) + value);
  }

  observe(name: string, value: number, tags: Tags): void {
    const h = this.series(tags).histograms;
    let hist = h.get(name);
    if (hist === undefined) {
      hist = new Histogram(this.bounds.get(name) ?? null);
      h.set(name, hist);
    }
    hist.record(value);
  }

  /**
   * Configure the histogram `name`: count it into explicit `buckets` too, and/or report extra `percentiles`
   * (`[95, 99.9]` → `p95`, `p99.9`). A series' buckets are fixed when it first records, so they apply to series of
   * `name` created afterwards (the `metrics` middleware calls this before its first observation; prefer the
   * constructor's `buckets` option); percentiles apply to every series of `name` from the next snapshot on.
   */
  defineHistogram(name: string, options: HistogramOptions): void {
    if (typeof name !== 'string' || name === '') throw new ConfigError('MetricsStore.defineHistogram: name must be a non-empty string');
    const where = `MetricsStore.defineHistogram(${name})`;
    if (options === null || typeof options !== 'object') throw new ConfigError(`${where}: options must be an object`);
    if (options.buckets === undefined && options.percentiles === undefined) throw new ConfigError(`${where}: give buckets, percentiles or both`);
    const bounds = options.buckets === undefined ? undefined : toBounds(options.buckets, `${where}: buckets`);
    const percentiles = options.percentiles === undefined ? undefined : toPercentiles(options.percentiles, `${where}: percentiles`);
    if (bounds !== undefined) this.bounds.set(name, bounds);
    if (percentiles !== undefined) this.percentiles.set(name, percentiles);
  }

  /**
   * `{ [name]: [{ tags, value }] }` for counters, `{ [name]: [{ tags, count, sum, min, max, p50, p90, p99 }] }` for
   * histograms (plus the extra percentiles defined for them, `p95`, and `buckets: [{ le, count }]` for those with
   * explicit buckets).
   */
  snapshot(): MetricsSnapshot {
    const out: Record<string, Array<CounterPoint | HistogramPoint>> = {};
    for (const s of this.byKey.values()) {
      for (const [name, value] of s.counters) (out[name] ??= []).push({ tags: { ...s.tags }, value });
      for (const [name, h] of s.histograms) {
        const point: HistogramPoint = {
          tags: { ...s.tags }, count: h.count, sum: h.sum, min: h.min, max: h.max,
          p50: h.percentile(50), p90: h.percentile(90), p99: h.percentile(99),
        };
        const extra = this.percentiles.get(name);
        if (extra !== undefined) for (const [key, p] of extra) point[key] = h.percentile(p);
        const buckets = h.bucketPoints();
        if (buckets !== undefined) point.buckets = buckets;
        (out[name] ??= []).push(point);
      }
    }
    return out;
  }

  /** Forget everything recorded so far (bucket configuration stays). */
  reset(): void {
    this.byKey.clear();
    this.byIdentity = new WeakMap();
    this.lastTags = null;
    this.lastSeries = null;
  }
}

const warned = new WeakSet<object>();

/**
 * A sink threw: report it once per sink as a process warning, never as a failed call. A metrics backend that is
 * down must not take the LLM calls it observes down with it, and must not flood stderr either.
 * @internal
 */
export function reportSinkError(sink: object, err: unknown): void {
  if (warned.has(sink)) return;
  warned.add(sink);
  const message = err instanceof Error ? err.message : String(err);
  process.emitWarning(`llm-fiber: a metrics sink failed (${message}); further failures of this sink are not reported`, {
    code: 'LLM_FIBER_METRICS_SINK',
  });
}

/**
 * Fan a record out to several sinks, in order. A sink that throws (`defineHistogram` included) is reported (once,
 * as a process warning) and does not keep the others from recording.
 * @example new MultiSink([fiber.metrics, statsdSink]).increment('request_count', 1, tags)
 */
export class MultiSink implements MetricsSink {
  private readonly sinks: readonly MetricsSink[];

  constructor(sinks: readonly MetricsSink[]) {
    if (!Array.isArray(sinks)) throw new ConfigError('MultiSink: expected an array of sinks');
    sinks.forEach((s, i) => {
      if (!isMetricsSink(s)) throw new ConfigError(`MultiSink: sink ${i} must have increment() and observe()`);
    });
    this.sinks = sinks.slice();
  }

  increment(name: string, value: number, tags: Tags): void {
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.increment(name, value, tags);
      } catch (err) {
        reportSinkError(sinks[i]!, err);
      }
    }
  }

  observe(name: string, value: number, tags: Tags): void {
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.observe(name, value, tags);
      } catch (err) {
        reportSinkError(sinks[i]!, err);
      }
    }
  }

  defineHistogram(name: string, options: HistogramOptions): void {
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) {
      try {
        sinks[i]!.defineHistogram?.(name, options);
      } catch (err) {
        reportSinkError(sinks[i]!, err);
      }
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush?.()));
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close?.()));
  }
}

/** Whether `v` has a sink's two recording methods. @internal */
export function isMetricsSink(v: unknown): v is MetricsSink {
  return v !== null && typeof v === 'object'
    && typeof (v as MetricsSink).increment === 'function' && typeof (v as MetricsSink).observe === 'function';
}

/**
 * One sink from the `metrics` option forms: a sink, or an array of sinks (fanned out through `MultiSink`).
 * @internal used by the Fiber and the `metrics` middleware
 */
export function toSink(v: MetricsSink | readonly MetricsSink[], where: string): MetricsSink {
  if (Array.isArray(v)) {
    if (v.length === 1 && isMetricsSink(v[0])) return v[0];
    v.forEach((s, i) => {
      if (!isMetricsSink(s)) throw new ConfigError(`${where}[${i}] must be a MetricsSink (increment and observe)`);
    });
    return new MultiSink(v);
  }
  if (!isMetricsSink(v)) throw new ConfigError(`${where} must be a MetricsSink (increment and observe) or an array of them`);
  return v;
}
