/**
 * The `metrics` middleware: per-call counters and histograms with the contract's names, and the recording logic the
 * StatsD integration reuses (`recordingMiddleware`).
 *
 * Cost: a record resolves its tags through a tree of Maps (provider → model → one level per allow-listed metadata
 * key) whose leaves hold frozen tag objects, so the sink sees the same object for the same series every time and
 * nothing is allocated per call. Values only pass through normalisation (truncation, cardinality cap, credential
 * check) the first time they are seen; the check against the Fiber's own API keys runs on every call (a few
 * `includes`), because one middleware may serve Fibers with different keys.
 */
import { defineMiddleware } from '../src/compose.js';
import { secretsOf, type CallContext } from '../src/context.js';
import { AbortError, ConfigError, type FiberError, scrubSecrets, toFiberError } from '../src/errors.js';
import { reportSinkError, toBucketMap, toPercentiles, toSink } from '../src/metrics.js';
import type { ChatResult, FiberContext, HistogramOptions, MetricsSink, Middleware, Next, Tags } from '../src/types.js';

export interface MetricsOptions {
  /**
   * Where to record: a sink or several (fanned out in order). Given a sink, this middleware records there only,
   * next to whatever else records.
   * @default the Fiber's sinks (`fiber.metrics` plus its `metrics` option)
   */
  sink?: MetricsSink | MetricsSink[];
  /**
   * Per-call `metadata` keys that become metric tags (an allow-list: other keys never do). Absent or empty values
   * leave the tag out. Values are truncated to `maxTagLength`, capped at `maxTagValues` distinct values per key
   * (later ones are tagged `'other'`), and a value that contains one of the Fiber's own API keys, or looks like an
   * email address or an API key (`sk-…`, `AIza…`, `Bearer …`), is tagged `'redacted'`. The shape check is a safety
   * net, not a redactor: only allow-list keys whose values are safe to export.
   * @default [] (tags are provider and model, plus error on `error_count`)
   */
  tags?: string[];
  /**
   * Distinct values per metadata tag key before new values become `'other'` (bounds the number of series).
   * @default 100
   */
  maxTagValues?: number;
  /**
   * Metadata tag values longer than this are truncated.
   * @default 64
   */
  maxTagLength?: number;
  /**
   * Explicit bucket upper bounds per histogram name (`latency_ms`, `ttfb_ms`; another name is a `ConfigError`),
   * e.g. `{ latency_ms: [100, 250, 500, 1000, 2500, 5000] }`. Passed to every sink with `defineHistogram()` before
   * the first observation: `fiber.metrics` then reports `buckets: [{ le, count }]` (cumulative) next to the
   * percentiles. Sinks that bucket on their side (StatsD servers) ignore it.
   * @default none: percentiles only
   */
  buckets?: Record<string, number[]>;
  /**
   * Extra percentiles for every histogram this records, each strictly between 0 and 100, e.g. `[95, 99.9]`: each
   * histogram row of `fiber.metrics.snapshot()` then also has `p95` and `p99.9` (`'p'` and the number as JavaScript
   * writes it), computed like `p50`, `p90` and `p99`, which are always there. Passed to every sink with
   * `defineHistogram()` before the first observation; sinks that aggregate on their side (StatsD) ignore it.
   * @default none: p50, p90 and p99 only
   */
  percentiles?: number[];
}

/** The contract's names (CONTRACT.md, Metrics). */
const REQUEST_COUNT = 'request_count';
const ERROR_COUNT = 'error_count';
const RETRY_COUNT = 'retry_count';
const LATENCY_MS = 'latency_ms';
const TTFB_MS = 'ttfb_ms';
const TOKENS_PROMPT = 'tokens_prompt';
const TOKENS_COMPLETION = 'tokens_completion';
const TOKENS_TOTAL = 'tokens_total';
const COST_USD = 'estimated_cost_usd';

/** The histograms this middleware records: the only names `buckets` accepts. */
const HISTOGRAMS = [LATENCY_MS, TTFB_MS] as const;
/** Tag value standing in for a metadata value that must not be exported. */
const REDACTED = 'redacted';

const RESERVED_TAGS = new Set(['provider', 'model', 'error']);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Tag keys go verbatim into StatsD packets and OTel attributes: keep them to a portable alphabet. */
const TAG_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/**
 * Values that must not become a tag even when their key is allow-listed: email addresses, provider API keys
 * (`sk-`, `sk-ant-`, `gsk_`, `xai-`, Google `AIza`), bearer tokens. Checked once per distinct value.
 */
const LOOKS_SECRET = /[^\s@]+@[^\s@]+\.[^\s@]|(?:^|[^A-Za-z0-9])(?:sk|pk|rk|gsk|xai)[-_][A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{16,}|\bBearer\s/i;
/** Guard against unbounded provider/model names (they come from requests): the tree is rebuilt past this. */
const MAX_NODES = 50_000;

/** Validated, precomputed options shared by `metrics()` and the integrations built on it. @internal */
export interface RecorderConfig {
  tagKeys: readonly string[];
  maxTagValues: number;
  maxTagLength: number;
  /** `[name, options]` for `defineHistogram()` (buckets and/or percentiles), or null when none are configured. */
  histograms: ReadonlyArray<readonly [string, HistogramOptions]> | null;
}

/**
 * Validate the tag, bucket and percentile options of `metrics()` (also `statsd()`), throwing `ConfigError` at
 * construction.
 * @internal
 */
export function recorderConfig(options: Pick<MetricsOptions, 'tags' | 'maxTagValues' | 'maxTagLength' | 'buckets' | 'percentiles'>, where: string): RecorderConfig {
  const tags = options.tags ?? [];
  if (!Array.isArray(tags)) throw new ConfigError(`${where}: tags must be an array of metadata keys`);
  const seen = new Set<string>();
  for (const k of tags) {
    if (typeof k !== 'string' || !TAG_KEY.test(k) || FORBIDDEN_KEYS.has(k)) {
      throw new ConfigError(`${where}: tag key ${JSON.stringify(k)} must match ${TAG_KEY}`);
    }
    if (RESERVED_TAGS.has(k)) throw new ConfigError(`${where}: tag key "${k}" is reserved (provider, model and error are always tags)`);
    if (seen.has(k)) throw new ConfigError(`${where}: tag key "${k}" is listed twice`);
    seen.add(k);
  }
  const positiveInt = (v: unknown, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${where}: ${name} must be a positive integer`);
    return v;
  };
  const bucketMap = toBucketMap(options.buckets, `${where}: buckets`);
  for (const name of bucketMap.keys()) {
    if (!(HISTOGRAMS as readonly string[]).includes(name)) {
      throw new ConfigError(`${where}: buckets has no histogram "${name}" (it records ${HISTOGRAMS.join(' and ')})`);
    }
  }
  const percentiles = options.percentiles === undefined ? null : toPercentiles(options.percentiles, `${where}: percentiles`).map(([, p]) => p);
  const histograms: Array<readonly [string, HistogramOptions]> = [];
  for (const name of HISTOGRAMS) {
    const b = bucketMap.get(name);
    if (b === undefined && percentiles === null) continue;
    const o: HistogramOptions = {};
    if (b !== undefined) o.buckets = Array.from(b);
    if (percentiles !== null) o.percentiles = percentiles;
    histograms.push([name, Object.freeze(o)] as const);
  }
  return {
    tagKeys: tags.slice(),
    maxTagValues: positiveInt(options.maxTagValues, 'maxTagValues', 100),
    maxTagLength: positiveInt(options.maxTagLength, 'maxTagLength', 64),
    histograms: histograms.length === 0 ? null : histograms,
  };
}

/** One series' tags, and the children that add the next allow-listed metadata key. */
interface TagNode {
  readonly tags: Tags;
  /** Raw metadata value → child (a bounded cache in front of `byValue`). */
  next: Map<string, TagNode> | null;
  /** Normalised value → child: raw values that normalise alike share one series. */
  byValue: Map<string, TagNode> | null;
  /** Child for calls without this metadata key (same tags). */
  absent: TagNode | null;
  /** Leaves: error class name → tags of `error_count`. */
  errors: Map<string, Tags> | null;
}

/** The per-middleware cache of frozen tag objects. */
class TagTree {
  private providers = new Map<string, Map<string, TagNode>>();
  private nodes = 0;
  /** Admitted (normalised) values per metadata key: persists across rebuilds, so the cap holds for the process. */
  private readonly admitted: Array<Set<string>>;
  private readonly rawCap: number;

  constructor(private readonly cfg: RecorderConfig) {
    this.admitted = cfg.tagKeys.map(() => new Set<string>());
    this.rawCap = cfg.maxTagValues * 4;
  }

  /**
   * The leaf for this call's provider, model and allow-listed metadata. Allocation-free once seen. A model or
   * metadata value holding one of `secrets` (the Fiber's own API keys) is tagged `'redacted'`, checked before any
   * cache lookup: the caches are shared by every Fiber this middleware serves, and a value may be a key of one
   * Fiber and not of another.
   */
  leaf(provider: string, model: string, metadata: Readonly<Record<string, string>>, secrets: readonly string[] | undefined): TagNode {
    // The model name comes from the request too (`model: 'gpt-' + key` reaches the provider and comes back tagged).
    if (secrets !== undefined && scrubSecrets(model, secrets) !== model) model = REDACTED;
    let models = this.providers.get(provider);
    if (models === undefined) {
      if (this.nodes > MAX_NODES) this.rebuild();
      models = new Map();
      this.providers.set(provider, models);
    }
    let n: TagNode | undefined = models.get(model);
    if (n === undefined) {
      if (this.nodes > MAX_NODES) { this.rebuild(); return this.leaf(provider, model, metadata, secrets); }
      n = this.node(Object.freeze({ provider, model }));
      models.set(model, n);
    }
    const keys = this.cfg.tagKeys;
    for (let i = 0; i < keys.length; i++) {
      const v = metadata[keys[i]!];
      if (typeof v !== 'string' || v === '') {
        n = n.absent ??= this.node(n.tags);
        continue;
      }
      // scrubSecrets returns its input unchanged (no allocation) unless a key of 8+ characters occurs in it.
      if (secrets !== undefined && scrubSecrets(v, secrets) !== v) {
        n = this.valueChild(n, i, REDACTED);
        continue;
      }
      const c: TagNode | undefined = n.next === null ? undefined : n.next.get(v);
      n = c !== undefined ? c : this.child(n, i, v);
    }
    return n;
  }

  /** Tags of `error_count` for a leaf and an error class name. */
  errorTags(leaf: TagNode, error: string): Tags {
    const errors = (leaf.errors ??= new Map());
    let t = errors.get(error);
    if (t === undefined) {
      t = Object.freeze({ ...leaf.tags, error });
      if (errors.size < 256) errors.set(error, t);
    }
    return t;
  }

  private child(n: TagNode, i: number, raw: string): TagNode {
    const c = this.valueChild(n, i, this.normalise(i, raw));
    const next = (n.next ??= new Map());
    // Raw values beyond the cap are normalised on every call instead of growing the cache without bound.
    if (next.size < this.rawCap) next.set(raw, c);
    return c;
  }

  /** The child of `n` for the normalised value `value` of the `i`th metadata key. */
  private valueChild(n: TagNode, i: number, value: string): TagNode {
    const byValue = (n.byValue ??= new Map());
    let c = byValue.get(value);
    if (c === undefined) {
      c = this.node(Object.freeze({ ...n.tags, [this.cfg.tagKeys[i]!]: value }));
      byValue.set(value, c);
    }
    return c;
  }

  private normalise(i: number, raw: string): string {
    if (LOOKS_SECRET.test(raw)) return REDACTED;
    const v = raw.length > this.cfg.maxTagLength ? raw.slice(0, this.cfg.maxTagLength) : raw;
    const admitted = this.admitted[i]!;
    if (admitted.has(v)) return v;
    if (admitted.size >= this.cfg.maxTagValues) return 'other';
    admitted.add(v);
    return v;
  }

  private node(tags: Tags): TagNode {
    this.nodes++;
    return { tags, next: null, byValue: null, absent: null, errors: null };
  }

  private rebuild(): void {
    this.providers = new Map();
    this.nodes = 0;
  }
}

/** What `recordingMiddleware` needs besides the tag/bucket options. @internal */
export interface RecordingSpec {
  /** Middleware name (`ctx.state` key, logs). */
  name: string;
  config: RecorderConfig;
  /** The sink to record to, or null for the Fiber's (`ctx.runtime.sink`). */
  sink: MetricsSink | null;
  /**
   * Called at the start of each call; a returned promise is awaited before the call proceeds (the StatsD
   * integration loads its client on first use). Return null when ready.
   */
  ready?: () => Promise<void> | null;
}

/**
 * Build a recording middleware: `metrics()` and `statsd()` are this with different sinks. @internal
 *
 * When several of them record to the Fiber's own sinks (`sink: null`), only the innermost one records each call,
 * so `fiber.use(metrics({ tags: ['tenant'] }))` on the prod preset (which already has a `metrics()`) replaces the
 * preset's recording instead of counting every call twice. It claims the call in `ctx.state.metrics`; a call that
 * fails before reaching it (bad input) is still recorded by the outer one.
 */
export function recordingMiddleware(spec: RecordingSpec): Middleware {
  const { name, config, sink: own, ready } = spec;
  const tree = new TagTree(config);
  const token = own === null ? Object.freeze({ name }) : null;
  const histograms = config.histograms;
  const defined = new WeakSet<MetricsSink>();
  let lastSink: MetricsSink | null = null;

  const sinkOf = (ctx: CallContext): MetricsSink => {
    const sink = own ?? ctx.runtime.sink;
    if (histograms !== null && sink !== lastSink) {
      // Once per sink, before its first observation from here (a sink fixes a series' buckets when it is created).
      // A sink whose defineHistogram throws is reported like any sink failure and still gets the records.
      if (!defined.has(sink)) {
        defined.add(sink);
        for (const [h, o] of histograms) {
          try {
            if (typeof sink.defineHistogram === 'function') sink.defineHistogram(h, o);
          } catch (err) {
            reportSinkError(sink, err);
          }
        }
      }
      lastSink = sink;
    }
    return sink;
  };
  const mine = (ctx: CallContext): boolean => token === null || ctx.state.metrics === token;
  const leafOf = (ctx: CallContext): TagNode => tree.leaf(ctx.provider || 'unknown', ctx.model || ctx.modelName || 'unknown', ctx.metadata, secretsOf(ctx));

  const success = (ctx: CallContext, result: ChatResult): void => {
    if (!mine(ctx)) return;
    const sink = sinkOf(ctx);
    try {
      const tags = leafOf(ctx).tags;
      sink.increment(REQUEST_COUNT, 1, tags);
      if (result.attempts > 1) sink.increment(RETRY_COUNT, result.attempts - 1, tags);
      sink.observe(LATENCY_MS, result.latencyMs, tags);
      if (ctx.kind === 'stream' && result.ttfbMs !== null) sink.observe(TTFB_MS, result.ttfbMs, tags);
      const u = result.usage;
      sink.increment(TOKENS_PROMPT, u.prompt, tags);
      sink.increment(TOKENS_COMPLETION, u.completion, tags);
      sink.increment(TOKENS_TOTAL, u.total, tags);
      if (u.costEstimate !== null) sink.increment(COST_USD, u.costEstimate, tags);
    } catch (err) {
      reportSinkError(sink, err);
    }
  };

  /**
   * A failed call. A stream the consumer left early (`break`: `AbortError`, code `consumer_closed`) is a
   * cancellation, not a failure, as for `otel()` and `logging()`: it counts in request_count and the histograms but
   * not in error_count. `stream.abort()` and the caller's signal stay `AbortError`s.
   */
  const failure = (ctx: CallContext, err: FiberError): void => {
    if (!mine(ctx)) return;
    const sink = sinkOf(ctx);
    try {
      const leaf = leafOf(ctx);
      const tags = leaf.tags;
      sink.increment(REQUEST_COUNT, 1, tags);
      const attempts = ctx.attempt > 1 ? ctx.attempt : 1;
      if (attempts > 1) sink.increment(RETRY_COUNT, attempts - 1, tags);
      sink.observe(LATENCY_MS, performance.now() - ctx.timing.startedAt, tags);
      if (ctx.kind === 'stream' && ctx.timing.ttfbMs !== null) sink.observe(TTFB_MS, ctx.timing.ttfbMs, tags);
      const closed = err instanceof AbortError && err.code === 'consumer_closed';
      if (!closed) sink.increment(ERROR_COUNT, 1, tree.errorTags(leaf, err.name));
    } catch (e) {
      reportSinkError(sink, e);
    }
  };

  const record = async (ctx: FiberContext, next: Next): Promise<void> => {
    const c = ctx as CallContext;
    if (token !== null) c.state.metrics = token;
    try {
      await next();
    } catch (e) {
      failure(c, toFiberError(e));
      throw e;
    }
    // Streams are recorded when they end (done / onError); a chat has its result now.
    if (c.kind === 'chat' && c.result !== undefined) success(c, c.result);
  };

  return defineMiddleware({
    name,
    handle: ready === undefined
      ? record
      : (ctx, next) => {
        const wait = ready();
        return wait === null ? record(ctx, next) : wait.then(() => record(ctx, next));
      },
    events: ['done'],
    onEvent(event, ctx) {
      if (event.type === 'done') success(ctx as CallContext, event.result);
      return undefined;
    },
    onError(err, ctx) {
      failure(ctx as CallContext, err);
    },
  });
}

const OPTION_KEYS = new Set(['sink', 'tags', 'maxTagValues', 'maxTagLength', 'buckets', 'percentiles']);

/**
 * Record per-call metrics with the contract's names, tagged by provider and model (and error class on
 * `error_count`): `request_count`, `error_count`, `retry_count`, `latency_ms`, `ttfb_ms` (streams),
 * `tokens_prompt`, `tokens_completion`, `tokens_total`, `estimated_cost_usd` (when a price is known). A stream
 * the consumer left early (`break`) is counted as a request, not as an error. Allow-listed `metadata` keys become
 * tags too (bounded cardinality, see `tags`). Tag objects are cached per series, so a record costs a few Map
 * lookups and no allocation. The prod and dev presets include `metrics()`; a `metrics()` added with `fiber.use()`
 * that records to the Fiber's sinks takes over from it (no double count). See `docs/features/observability.md`.
 * @example
 * const fiber = new Fiber().use(metrics({ tags: ['tenant'], buckets: { latency_ms: [250, 1000, 5000] } }));
 * await fiber.chat({ model: 'gpt-4o-mini', messages: 'hi', metadata: { tenant: 'acme' } });
 * fiber.metrics.snapshot().request_count  // [{ tags: { provider: 'openai', model: 'gpt-4o-mini', tenant: 'acme' }, value: 1 }]
 */
export function metrics(options: MetricsOptions = {}): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('metrics: options must be an object');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new ConfigError(`metrics: unknown option "${k}"`);
  const sink = options.sink === undefined ? null : toSink(options.sink, 'metrics: sink');
  return recordingMiddleware({ name: 'metrics', config: recorderConfig(options, 'metrics'), sink });
}
