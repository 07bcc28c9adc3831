/**
 * `llm-fiber/statsd`: the call metrics (`request_count`, `latency_ms`, ...) sent to a StatsD or DogStatsD agent.
 *
 * `statsd()` is the `metrics` middleware's recording logic with a StatsD sink: counters → `increment`, `*_ms`
 * histograms → `timing`, other histograms → `histogram` (DogStatsD) or `timing` (plain StatsD); `histogramType`
 * sends every histogram with `histogram` or `distribution` instead. DogStatsD gets tags
 * (`provider:openai,model:gpt-4o-mini`); plain StatsD has none, so the tag values are folded into the name
 * (`llm_fiber.request_count.openai.gpt-4o-mini`). This is the only file that names `hot-shots`, and only as a type:
 * the module is loaded on the first call, when no `client` was given. See `docs/features/observability.md`.
 */
import type { ClientOptions, StatsD } from 'hot-shots';
import { ConfigError } from '../errors.js';
import { loadPeer } from '../load-peer.js';
import type { MetricsSink, Middleware, Tags } from '../types.js';
import { recorderConfig, recordingMiddleware, type MetricsOptions } from '../../middleware/metrics.js';

/**
 * The client methods `statsd()` uses: a hot-shots `StatsD` has them (so do its child clients), and any other client
 * with the same call shapes works too.
 */
export interface StatsdClientLike {
  increment(stat: string, value: number, tags?: string[]): void;
  timing(stat: string, value: number, tags?: string[]): void;
  /** Histograms (`|h`, DogStatsD and Telegraf); `timing` is used when absent, unless `histogramType: 'histogram'`. */
  histogram?(stat: string, value: number, tags?: string[]): void;
  /** DogStatsD distributions (`|d`); needed for `histogramType: 'distribution'`. */
  distribution?(stat: string, value: number, tags?: string[]): void;
  flush?(callback?: (error?: Error) => void): void;
  close?(callback?: (error?: Error) => void): void;
}

export interface StatsdOptions extends Pick<MetricsOptions, 'tags' | 'maxTagValues' | 'maxTagLength'> {
  /**
   * Your own client (a hot-shots `StatsD`, or anything shaped like `StatsdClientLike`). Its own prefix, global
   * tags, buffering and error handler apply as configured; `close()` of this middleware flushes it but never
   * closes it. Without one, a hot-shots client is created on the first call (`npm install hot-shots`; when it
   * is missing, that call and the next ones reject with `ConfigError`, code `missing_peer`, before any request).
   * @default a hot-shots client for `host`:`port` over UDP
   */
  client?: StatsdClientLike;
  /** Agent host (not with `client`). @default '127.0.0.1' */
  host?: string;
  /** Agent UDP port (not with `client`). @default 8125 */
  port?: number;
  /** Prepended to every metric name, after the client's own prefix. Letters, digits, `_`, `-`, `.`. @default 'llm_fiber.' */
  prefix?: string;
  /**
   * DogStatsD tags (`|#provider:openai,model:gpt-4o-mini`); false for plain StatsD, where tag values are folded
   * into the metric name in a fixed order (provider, model, error, then `tags` in order, `none` when absent) with
   * every character but letters, digits, `_` and `-` replaced by `_`.
   * @default true
   */
  dogstatsd?: boolean;
  /**
   * How histograms (`latency_ms`, `ttfb_ms`) are sent, named after the hot-shots method used:
   * - `'timing'`: `*_ms` histograms as timings (`|ms`, which every StatsD server aggregates); any other histogram as
   *   `|h` with DogStatsD, `|ms` with plain StatsD (which has no `|h`);
   * - `'histogram'`: every histogram as `|h` (DogStatsD, Telegraf);
   * - `'distribution'`: every histogram as a DogStatsD distribution (`|d`, aggregated server-side across hosts);
   *   needs `dogstatsd: true`.
   * With your own `client`, it must have the `histogram()` / `distribution()` method chosen.
   * @default 'timing'
   */
  histogramType?: 'timing' | 'histogram' | 'distribution';
  /** Tags added to every metric (DogStatsD only; per-call tags of the same key win). @default {} */
  globalTags?: Record<string, string>;
  /**
   * Told about send failures (socket errors, a closed or throwing client). Metrics failures never fail a call.
   * @default the first failure is reported as a process warning (`LLM_FIBER_STATSD`), later ones are not
   */
  onError?: (error: Error) => void;
}

/** The `statsd()` middleware, with the lifecycle of the client it sends through. */
export interface StatsdMiddleware extends Middleware {
  /** Hand anything the client buffered to the socket. */
  flush(): Promise<void>;
  /**
   * Flush, then close the client if `statsd()` created it (a `client` you passed is flushed, never closed).
   * Calls made afterwards still work; their metrics are dropped. The created client's UDP socket is unref'd, so
   * an unclosed one never keeps the process alive, and with no buffering each metric is sent when recorded.
   */
  close(): Promise<void>;
}

const OPTION_KEYS = new Set([
  'client', 'host', 'port', 'prefix', 'dogstatsd', 'histogramType', 'globalTags', 'tags', 'maxTagValues', 'maxTagLength', 'onError',
]);
const HISTOGRAM_TYPES = ['timing', 'histogram', 'distribution'] as const;
type HistogramType = (typeof HISTOGRAM_TYPES)[number];
const PREFIX = /^[A-Za-z0-9_.-]*$/;
const GLOBAL_TAG_KEY = /^[A-Za-z_][A-Za-z0-9_.\-/]{0,199}$/;
/** Characters that break a DogStatsD tag value (hot-shots replaces the same ones; a foreign client may not). */
const TAG_VALUE_UNSAFE = /[|,#@\n\r]/g;
/** Plain StatsD names: `.` separates path segments, so a value keeps letters, digits, `_` and `-` only. */
const SEGMENT_UNSAFE = /[^A-Za-z0-9_-]/g;
/** Fixed leading order of folded tag values; the allow-listed metadata keys follow. */
const LEADING = ['provider', 'model', 'error'] as const;

type HotShotsModule = { StatsD?: new (options?: ClientOptions) => StatsD; default?: unknown };

/** A `MetricsSink` writing to a StatsD client. */
class StatsdSink implements MetricsSink {
  client: StatsdClientLike | null;
  closed = false;
  private loading: Promise<void> | null = null;
  private warned = false;
  /** Metric name → prefixed name (DogStatsD). */
  private readonly names = new Map<string, string>();
  /** Tags object → `key:value` list (DogStatsD), per the recorder's frozen tag objects. */
  private readonly lists = new WeakMap<Tags, readonly string[]>();
  /** Tags object → metric name → folded name (plain StatsD). */
  private readonly folded = new WeakMap<Tags, Map<string, string>>();

  constructor(
    client: StatsdClientLike | null,
    private readonly owned: boolean,
    private readonly create: () => Promise<StatsdClientLike>,
    private readonly prefix: string,
    private readonly dogstatsd: boolean,
    /** How `*_ms` histograms are sent (`histogramType`); the others follow from it and `dogstatsd`. */
    private readonly msType: HistogramType,
    private readonly globalTags: Readonly<Record<string, string>> | null,
    private readonly metadataKeys: readonly string[],
    private readonly onError: ((error: Error) => void) | undefined,
  ) {
    this.client = client;
  }

  /** Null when the client is there (or never will be); otherwise a promise that creates it. */
  ready(): Promise<void> | null {
    if (this.client !== null || this.closed) return null;
    return (this.loading ??= this.create().then(
      (client) => {
        if (this.closed) close(client, (e) => this.report(e));
        else this.client = client;
      },
      (err) => {
        this.loading = null; // a missing peer fails this call; the next one tries again
        throw err;
      },
    ));
  }

  increment(name: string, value: number, tags: Tags): void {
    const c = this.client;
    if (c === null) return;
    try {
      if (this.dogstatsd) c.increment(this.nameOf(name), value, this.tagList(tags) as string[]);
      else c.increment(this.foldedName(name, tags), value);
    } catch (err) {
      this.report(err);
    }
  }

  observe(name: string, value: number, tags: Tags): void {
    const c = this.client;
    if (c === null) return;
    try {
      let type = this.msType;
      // Only DogStatsD has `|h` for the non-ms histograms when timings are asked for.
      if (type === 'timing' && this.dogstatsd && !name.endsWith('_ms')) type = 'histogram';
      // A client of your own without histogram() gets timings (histogramType: 'histogram' requires the method).
      if (type === 'histogram' && typeof c.histogram !== 'function') type = 'timing';
      if (this.dogstatsd) {
        const stat = this.nameOf(name);
        const list = this.tagList(tags) as string[];
        if (type === 'timing') c.timing(stat, value, list);
        else if (type === 'histogram') c.histogram!(stat, value, list);
        else c.distribution!(stat, value, list);
      } else {
        const stat = this.foldedName(name, tags);
        if (type === 'timing') c.timing(stat, value);
        else c.histogram!(stat, value);
      }
    } catch (err) {
      this.report(err);
    }
  }

  flush(): Promise<void> {
    const c = this.client;
    if (c === null || typeof c.flush !== 'function') return Promise.resolve();
    return new Promise<void>((resolve) => {
      try {
        c.flush!((err) => {
          if (err) this.report(err);
          resolve();
        });
      } catch (err) {
        this.report(err);
        resolve();
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    const c = this.client;
    this.client = null;
    if (c !== null && this.owned) await new Promise<void>((resolve) => close(c, (e) => this.report(e), resolve));
  }

  report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.onError !== undefined) {
      try {
        this.onError(error);
      } catch {
        // The user's error handler failing must not fail the call that is being measured.
      }
      return;
    }
    if (this.warned) return;
    this.warned = true;
    process.emitWarning(`llm-fiber statsd: sending metrics failed (${error.message}); later failures are not reported (pass onError to see them)`, {
      code: 'LLM_FIBER_STATSD',
    });
  }

  private nameOf(name: string): string {
    let s = this.names.get(name);
    if (s === undefined) {
      s = this.prefix + name;
      this.names.set(name, s);
    }
    return s;
  }

  private tagList(tags: Tags): readonly string[] {
    let list = this.lists.get(tags);
    if (list === undefined) {
      const merged = this.globalTags === null ? tags : { ...this.globalTags, ...tags };
      list = Object.freeze(Object.keys(merged).map((k) => `${k}:${merged[k]!.replace(TAG_VALUE_UNSAFE, '_')}`));
      this.lists.set(tags, list);
    }
    return list;
  }

  private foldedName(name: string, tags: Tags): string {
    let byName = this.folded.get(tags);
    if (byName === undefined) {
      byName = new Map();
      this.folded.set(tags, byName);
    }
    let s = byName.get(name);
    if (s === undefined) {
      s = this.prefix + name;
      const done = new Set<string>();
      const add = (key: string, fill: boolean) => {
        if (done.has(key)) return;
        done.add(key);
        const v = tags[key];
        if (v === undefined && !fill) return;
        const seg = v === undefined || v === '' ? 'none' : v.replace(SEGMENT_UNSAFE, '_');
        s += '.' + seg;
      };
      for (const k of LEADING) add(k, false);
      for (const k of this.metadataKeys) add(k, true);
      for (const k of Object.keys(tags).sort()) add(k, false);
      byName.set(name, s);
    }
    return s;
  }
}

function close(client: StatsdClientLike, report: (e: unknown) => void, done?: () => void): void {
  if (typeof client.close !== 'function') { done?.(); return; }
  try {
    client.close((err) => {
      if (err) report(err);
      done?.();
    });
  } catch (err) {
    report(err);
    done?.();
  }
}

/**
 * Send the call metrics to a StatsD / DogStatsD agent: the `metrics` middleware's names and tags (provider, model,
 * error class on `error_count`, and the allow-listed `metadata` keys of `tags`), recorded through a StatsD client.
 * Sending never fails or slows a call beyond a UDP write; failures go to `onError`.
 * @example
 * import { statsd } from 'llm-fiber/statsd';
 * const metricsOut = statsd({ host: '127.0.0.1', port: 8125, tags: ['tenant'] });
 * const fiber = new Fiber().use(metricsOut);
 * // ... on shutdown:
 * await metricsOut.close();
 */
export function statsd(options: StatsdOptions = {}): StatsdMiddleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('statsd: options must be an object');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new ConfigError(`statsd: unknown option "${k}"`);
  const { client, host, port, onError } = options;
  const prefix = options.prefix ?? 'llm_fiber.';
  const dogstatsd = options.dogstatsd ?? true;
  const histogramType = options.histogramType ?? 'timing';
  if (!(HISTOGRAM_TYPES as readonly unknown[]).includes(histogramType)) {
    throw new ConfigError(`statsd: histogramType must be ${HISTOGRAM_TYPES.map((t) => `'${t}'`).join(', ')}`);
  }
  if (client !== undefined) {
    if (client === null || typeof client !== 'object' || typeof client.increment !== 'function' || typeof client.timing !== 'function') {
      throw new ConfigError('statsd: client must be a StatsD client (a hot-shots StatsD, with increment() and timing())');
    }
    if (host !== undefined || port !== undefined) throw new ConfigError('statsd: pass either client or host/port, not both');
    if (histogramType !== 'timing' && typeof client[histogramType] !== 'function') {
      throw new ConfigError(`statsd: histogramType '${histogramType}' needs a client with ${histogramType}()`);
    }
  }
  if (host !== undefined && (typeof host !== 'string' || host === '')) throw new ConfigError('statsd: host must be a non-empty string');
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new ConfigError('statsd: port must be an integer from 1 to 65535');
  }
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new ConfigError('statsd: prefix may hold letters, digits, "_", "-" and "." only');
  if (typeof dogstatsd !== 'boolean') throw new ConfigError('statsd: dogstatsd must be a boolean');
  if (histogramType === 'distribution' && !dogstatsd) {
    throw new ConfigError("statsd: histogramType 'distribution' needs DogStatsD (plain StatsD has no |d); use 'timing' or 'histogram'");
  }
  if (onError !== undefined && typeof onError !== 'function') throw new ConfigError('statsd: onError must be a function');
  let globalTags: Record<string, string> | null = null;
  if (options.globalTags !== undefined) {
    const g = options.globalTags;
    if (g === null || typeof g !== 'object' || Array.isArray(g)) throw new ConfigError('statsd: globalTags must be an object of strings');
    if (!dogstatsd && Object.keys(g).length > 0) {
      throw new ConfigError('statsd: globalTags need DogStatsD (plain StatsD has no tags); put static dimensions in `prefix`');
    }
    globalTags = {};
    for (const [k, v] of Object.entries(g)) {
      if (!GLOBAL_TAG_KEY.test(k) || k === '__proto__') throw new ConfigError(`statsd: globalTags key ${JSON.stringify(k)} is not a valid tag key`);
      if (typeof v !== 'string') throw new ConfigError(`statsd: globalTags.${k} must be a string`);
      globalTags[k] = v;
    }
    if (Object.keys(globalTags).length === 0) globalTags = null;
  }
  const config = recorderConfig(options, 'statsd');

  let sink!: StatsdSink;
  const create = async (): Promise<StatsdClientLike> => {
    const mod = await loadPeer<HotShotsModule>('hot-shots', 'statsd()');
    const StatsDClass = mod.StatsD ?? (mod.default as HotShotsModule | undefined)?.StatsD;
    if (typeof StatsDClass !== 'function') throw new ConfigError('statsd(): the installed "hot-shots" has no StatsD export (hot-shots >= 10 is needed)');
    const clientOptions: ClientOptions = {
      host: host ?? '127.0.0.1',
      port: port ?? 8125,
      protocol: 'udp',
      // Socket errors (an unresolvable host, a full buffer) go here instead of being thrown or emitted.
      errorHandler: (err) => sink.report(err),
    };
    if (!dogstatsd) {
      // Plain StatsD: no `|#` section at all, not even the DD_* environment tags or origin detection.
      clientOptions.datadog = false;
      clientOptions.includeDataDogTags = false;
    }
    try {
      return new StatsDClass(clientOptions);
    } catch (err) {
      throw new ConfigError(`statsd(): could not create the StatsD client: ${err instanceof Error ? err.message : String(err)}`, { code: 'statsd_client', cause: err });
    }
  };
  sink = new StatsdSink(client ?? null, client === undefined, create, prefix, dogstatsd, histogramType, globalTags, config.tagKeys, onError);

  const mw = recordingMiddleware({ name: 'statsd', config, sink, ready: () => sink.ready() });
  Object.defineProperties(mw, {
    flush: { value: () => sink.flush() },
    close: { value: () => sink.close() },
  });
  return mw as StatsdMiddleware;
}
