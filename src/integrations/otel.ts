/**
 * `llm-fiber/otel`: OpenTelemetry traces and metrics for every call, following the OpenTelemetry GenAI semantic
 * conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/).
 *
 * `otel()` is a bundle of two middleware: a request-scope part that owns the call span (once per call, retries and
 * backoff included, as the conventions ask) and an attempt-scope part that opens a child span per HTTP attempt and,
 * when asked, injects the trace context into that attempt's request headers. Retries reach the call span through
 * `ctx.onLog` (the attempt loop's `warn` records carry `delayMs` and `reason`). A stream's call span ends at `done`
 * (`onEvent`) or at the one `onError`; the stream hook does nothing for other events unless content capture is on.
 *
 * `@opentelemetry/api` is an optional peer: it is named here only as a type, and loaded through `loadPeer` at the
 * first call that runs through the middleware, so importing `llm-fiber` (or even this file) loads no OTel code and
 * a Fiber without `otel()` pays nothing.
 */
import type * as OtelApi from '@opentelemetry/api';
import type {
  Attributes, Context, Counter, Histogram, Meter, MeterProvider, Span, Tracer, TracerProvider,
} from '@opentelemetry/api';
import { defineMiddleware } from '../compose.js';
import { AbortError, ConfigError, type FiberError, toFiberError } from '../errors.js';
import { modelForTelemetry } from '../context.js';
import { callScrubber } from '../../middleware/redaction.js';
import { loadPeer } from '../load-peer.js';
import { mapStrings } from '../map-strings.js';
import type { ChatMessage, ChatResult, ContentPart, FiberContext, FinishReason, LogListener, Middleware } from '../types.js';

type Api = typeof OtelApi;

/** Options of `otel()`. See `docs/features/observability.md`. */
export interface OtelOptions {
  /** Where spans go. @default the global tracer provider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider;
  /** Where metrics go. @default the global meter provider (`metrics.getMeterProvider()`), read at the first call */
  meterProvider?: MeterProvider;
  /** A ready tracer; wins over `tracerProvider`. @default `tracerProvider.getTracer('llm-fiber')` */
  tracer?: Tracer;
  /** A ready meter; wins over `meterProvider`. @default `meterProvider.getMeter('llm-fiber')` */
  meter?: Meter;
  /**
   * Record the prompt and the completion on the call span as `gen_ai.input.messages` / `gen_ai.output.messages`
   * (JSON strings in the conventions' message schema). Off by default: content is sensitive. Text is redacted (the
   * call's `redaction()` patterns, or their defaults, and the Fiber's keys) before it is cut. Headers are never
   * recorded; binary parts (`data`) are recorded by media type only.
   * @default false
   */
  captureContent?: boolean;
  /** With `captureContent`: at most this many characters of message text per attribute (newest first). @default 16_384 */
  maxContentChars?: number;
  /**
   * Send the trace context with each attempt: the global propagator's headers (`propagation.inject`), or, when
   * none is registered, a W3C `traceparent` (and `tracestate`) naming the attempt span as the parent.
   * @default false
   */
  propagateTraceContext?: boolean;
}

const OPTION_KEYS = new Set(['tracerProvider', 'meterProvider', 'tracer', 'meter', 'captureContent', 'maxContentChars', 'propagateTraceContext']);

// Bucket advice from the GenAI metric conventions (seconds and tokens); ours in ms for the llm_fiber.* histograms.
const DURATION_BUCKETS_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const MS_BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000];

/** At most this many messages go into `gen_ai.input.messages` (the newest ones). */
const MAX_CAPTURED_MESSAGES = 64;
/** Span status descriptions are capped: error messages are key-free by contract, but need not be long. */
const MAX_STATUS_CHARS = 256;

/** `gen_ai.provider.name` well-known values for the adapters whose name differs from the conventions'. */
const PROVIDER_NAMES: Record<string, string> = { gemini: 'gcp.gemini', mistral: 'mistral_ai', xai: 'x_ai' };

interface Runtime {
  api: Api;
  tracer: Tracer;
  duration: Histogram;
  tokens: Histogram;
  timeToFirstChunk: Histogram;
  requests: Counter;
  errors: Counter;
  retries: Counter;
  latency: Histogram;
  ttfb: Histogram;
  cost: Counter;
}

/** Per-call state, kept in `ctx.state.otel`. */
interface CallState {
  span: Span;
  /** The caller's context with the call span set: parent of the attempt spans. */
  spanCtx: Context;
  /** The metric attribute sets of this call's provider (as the conventions spell it) and requested model. */
  series: Series;
  /** A stream's successful attempt span stays open until the stream ends. */
  attemptSpan: Span | null;
  ended: boolean;
  /** Streams with content capture: the text that passed this middleware, capped. */
  output: string | null;
}

/** The frozen metric attribute sets of one (provider, model) series, built once and reused by every record. */
class Series {
  readonly base: Attributes;
  private readonly byResponseModel = new Map<string, { attrs: Attributes; input: Attributes; output: Attributes }>();
  private readonly byError = new Map<string, Attributes>();

  constructor(system: string, model: string) {
    this.base = Object.freeze({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': system, 'gen_ai.request.model': model });
  }

  /** Success: plus `gen_ai.response.model`, and the two `gen_ai.token.type` variants for token usage. */
  ok(responseModel: string): { attrs: Attributes; input: Attributes; output: Attributes } {
    let o = this.byResponseModel.get(responseModel);
    if (o === undefined) {
      const attrs = { ...this.base, 'gen_ai.response.model': responseModel };
      o = Object.freeze({
        attrs: Object.freeze(attrs),
        input: Object.freeze({ ...attrs, 'gen_ai.token.type': 'input' }),
        output: Object.freeze({ ...attrs, 'gen_ai.token.type': 'output' }),
      });
      if (this.byResponseModel.size > 64) this.byResponseModel.clear();
      this.byResponseModel.set(responseModel, o);
    }
    return o;
  }

  /** Failure: plus `error.type` (an error class name: a small, closed set). */
  error(errorType: string): Attributes {
    let a = this.byError.get(errorType);
    if (a === undefined) {
      a = Object.freeze({ ...this.base, 'error.type': errorType });
      if (this.byError.size > 64) this.byError.clear();
      this.byError.set(errorType, a);
    }
    return a;
  }
}

const stateOf = (ctx: FiberContext): CallState | undefined => ctx.state.otel as CallState | undefined;

/**
 * OpenTelemetry for llm-fiber: a span per call and a child span per attempt, GenAI metrics plus ours, opt-in trace
 * context propagation and opt-in content capture. Pass the result to `fiber.use()`; it places its two parts
 * (request and attempt scope) itself. Nothing from `@opentelemetry/api` loads until the first call.
 *
 * **Call span** `chat {model}` (kind CLIENT), from the call's start to its end (a stream's `done` or failure):
 * `gen_ai.operation.name` = `chat`, `gen_ai.provider.name` and (deprecated, kept for older backends)
 * `gen_ai.system` — the adapter name, with `gemini` → `gcp.gemini`, `mistral` → `mistral_ai`, `xai` → `x_ai` —,
 * `gen_ai.request.model`, `gen_ai.request.stream`, `gen_ai.request.temperature`, `gen_ai.request.max_tokens`,
 * `gen_ai.request.seed`, `gen_ai.request.stop_sequences`; on success `gen_ai.response.model`, `gen_ai.response.id`,
 * `gen_ai.response.finish_reasons` (array, llm-fiber's normalized reason), `gen_ai.usage.input_tokens`,
 * `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`,
 * `gen_ai.usage.reasoning.output_tokens` (when reported); streams add `gen_ai.response.time_to_first_chunk` (s).
 * Ours: `llm_fiber.attempts`, `llm_fiber.idempotency_key`, `llm_fiber.cached`, `llm_fiber.ttfb_ms` (streams: ms
 * to the first content event), `llm_fiber.usage.cost_usd` (when a price is known), `llm_fiber.metadata.<key>` per
 * `metadata` entry (redacted, and set when the call ends, so samplers do not see it). On failure: status ERROR with
 * the redacted message, `error.type` = the error class (`BadRequestError`),
 * `llm_fiber.error.code`, `http.response.status_code` when the error carries one. A consumer leaving a `for await`
 * loop early is a cancellation, not a failure: `llm_fiber.consumer_closed` = true, status left unset.
 * Events: `llm_fiber.first_chunk` (streams, stamped when the first content event arrived, with `llm_fiber.ttfb_ms`);
 * `llm_fiber.retry` per retry (`llm_fiber.attempt` that failed, `llm_fiber.retry.delay_ms`, `llm_fiber.retry.reason`,
 * `llm_fiber.retry.server_requested`, `error.type`, `http.response.status_code`, `llm_fiber.error.code`);
 * `llm_fiber.retry_skipped` when a retry was not made because its wait would pass the deadline.
 * With `captureContent`: `gen_ai.input.messages`, `gen_ai.output.messages` (JSON strings, message text redacted,
 * then capped).
 *
 * **Attempt spans** `chat {model} attempt {n}` (kind INTERNAL, so an HTTP instrumentation's CLIENT span can sit
 * below it), children of the call span: `llm_fiber.attempt`, `gen_ai.operation.name`, `gen_ai.provider.name`,
 * `gen_ai.request.model` (the attempt's model: a fallback changes it); on failure status ERROR, `error.type`,
 * `http.response.status_code`, `llm_fiber.error.code`. A stream's successful attempt ends with the stream.
 *
 * **Metrics** (instruments are created once, at the first call): `gen_ai.client.operation.duration` (histogram,
 * `s`), `gen_ai.client.token.usage` (histogram, `{token}`, `gen_ai.token.type` = `input` | `output`; not recorded
 * for cache hits, which used no tokens), `gen_ai.client.operation.time_to_first_chunk` (histogram, `s`, streams),
 * each with `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`, and `gen_ai.response.model`
 * (success) or `error.type` (failure). Ours mirror the contract's names with the same three attributes:
 * `llm_fiber.request_count` (counter, one per call), `llm_fiber.error_count` (counter, plus `error.type`),
 * `llm_fiber.retry_count` (counter, attempts − 1), `llm_fiber.latency_ms` (histogram, `ms`, every call),
 * `llm_fiber.ttfb_ms` (histogram, `ms`, streams), `llm_fiber.estimated_cost_usd` (counter, `{USD}`, when a price is
 * known, not for cache hits). Metadata never becomes a metric attribute (cardinality).
 *
 * @example
 * import { otel } from 'llm-fiber/otel';
 * const fiber = new Fiber({ defaultModel: 'gpt-4o-mini' }).use(otel({ propagateTraceContext: true }));
 */
export function otel(options: OtelOptions = {}): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('otel: options must be an object');
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.has(k)) throw new ConfigError(`otel: unknown option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
  }
  const { tracerProvider, meterProvider, tracer, meter } = options;
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') throw new ConfigError('otel: tracerProvider must have getTracer()');
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') throw new ConfigError('otel: meterProvider must have getMeter()');
  if (tracer !== undefined && typeof tracer?.startSpan !== 'function') throw new ConfigError('otel: tracer must be an OpenTelemetry Tracer');
  if (meter !== undefined && (typeof meter?.createHistogram !== 'function' || typeof meter?.createCounter !== 'function')) {
    throw new ConfigError('otel: meter must be an OpenTelemetry Meter');
  }
  for (const k of ['captureContent', 'propagateTraceContext'] as const) {
    if (options[k] !== undefined && typeof options[k] !== 'boolean') throw new ConfigError(`otel: ${k} must be a boolean`);
  }
  const maxContentChars = options.maxContentChars ?? 16_384;
  if (typeof maxContentChars !== 'number' || !Number.isInteger(maxContentChars) || maxContentChars < 0) {
    throw new ConfigError('otel: maxContentChars must be an integer >= 0');
  }
  const capture = options.captureContent === true;
  const propagate = options.propagateTraceContext === true;

  // -- lazy runtime: the API and the instruments, once per otel() ----------------------------------------------

  let rt: Runtime | null = null;
  let loading: Promise<Runtime> | null = null;
  const init = (): Promise<Runtime> => {
    loading ??= loadPeer<Api>('@opentelemetry/api', 'otel()').then(
      (api) => (rt = buildRuntime(api, { tracerProvider, meterProvider, tracer, meter })),
      (err: unknown) => { loading = null; throw err; },
    );
    return loading;
  };

  // -- metric attributes: one Series per (provider, model), found once per call, so a record allocates nothing --

  const seriesCache = new Map<string, Series>();
  const seriesOf = (system: string, model: string): Series => {
    const key = system + '\u0000' + model;
    let s = seriesCache.get(key);
    if (s === undefined) {
      s = new Series(system, model);
      if (seriesCache.size > 1024) seriesCache.clear();
      seriesCache.set(key, s);
    }
    return s;
  };
  const metaKeys = new Map<string, string>();
  const metaKey = (k: string): string => {
    let s = metaKeys.get(k);
    if (s === undefined) {
      s = 'llm_fiber.metadata.' + k;
      if (metaKeys.size > 1024) metaKeys.clear();
      metaKeys.set(k, s);
    }
    return s;
  };

  // -- ending a call ------------------------------------------------------------------------------------------

  const succeed = (r: Runtime, ctx: FiberContext, st: CallState, result: ChatResult): void => {
    st.ended = true;
    const span = st.span;
    const u = result.usage;
    const responseModel = modelForTelemetry(ctx, result.model);
    const ttfbMs = ctx.kind === 'stream' ? result.ttfbMs : null;
    // Span work first, guarded on its own: a span processor that throws must not cost the call its metrics.
    guarded(ctx, 'call span', () => {
      // A span the sampler dropped records nothing: skip building its attributes (and the content capture).
      if (span.isRecording()) {
        const a: Attributes = {
          'gen_ai.response.model': responseModel,
          'gen_ai.response.finish_reasons': [result.finishReason],
          'gen_ai.usage.input_tokens': u.prompt,
          'gen_ai.usage.output_tokens': u.completion,
          'llm_fiber.attempts': result.attempts,
          'llm_fiber.cached': result.cached,
        };
        if (result.id) a['gen_ai.response.id'] = result.id;
        if (u.cachedPrompt !== undefined) a['gen_ai.usage.cache_read.input_tokens'] = u.cachedPrompt;
        if (u.cacheWrite !== undefined) a['gen_ai.usage.cache_creation.input_tokens'] = u.cacheWrite;
        if (u.reasoning !== undefined) a['gen_ai.usage.reasoning.output_tokens'] = u.reasoning;
        if (u.costEstimate !== null) a['llm_fiber.usage.cost_usd'] = u.costEstimate;
        if (ttfbMs !== null) firstChunk(span, a, ctx, ttfbMs);
        // Most calls carry no metadata and capture nothing: then no scrubber is built.
        if (capture || hasEntries(ctx.metadata)) {
          const scrub = callScrubber(ctx);
          addMetadata(a, ctx, scrub, metaKey);
          if (capture) {
            const input = inputMessages(ctx, maxContentChars, scrub);
            if (input !== null) a['gen_ai.input.messages'] = input;
            a['gen_ai.output.messages'] = outputMessages(result, st.output, maxContentChars, scrub);
          }
        }
        span.setAttributes(a);
      }
      const attempt = st.attemptSpan;
      st.attemptSpan = null;
      if (attempt !== null) guarded(ctx, 'attempt span', () => attempt.end());
      span.end();
    });

    const ok = st.series.ok(responseModel);
    r.duration.record(result.latencyMs / 1000, ok.attrs);
    if (!result.cached) {
      r.tokens.record(u.prompt, ok.input);
      r.tokens.record(u.completion, ok.output);
      if (u.costEstimate !== null) r.cost.add(u.costEstimate, st.series.base);
    }
    if (ttfbMs !== null) r.timeToFirstChunk.record(ttfbMs / 1000, ok.attrs);
    recordOurs(r, st, result.attempts, result.latencyMs, ttfbMs, undefined);
  };

  const fail = (r: Runtime, ctx: FiberContext, st: CallState, err: FiberError): void => {
    st.ended = true;
    const span = st.span;
    const latencyMs = performance.now() - ctx.timing.startedAt;
    const attempts = Math.max(err.attempts || ctx.attempt, 1);
    const closed = err instanceof AbortError && err.code === 'consumer_closed';
    const scrub = callScrubber(ctx);
    const ttfbMs = ctx.kind === 'stream' ? ctx.timing.ttfbMs : null;
    guarded(ctx, 'call span', () => {
      // A span the sampler dropped records nothing: skip building its attributes (and the content capture).
      if (span.isRecording()) {
        const a: Attributes = { 'llm_fiber.attempts': attempts };
        if (closed) {
          a['llm_fiber.consumer_closed'] = true;
        } else {
          a['error.type'] = err.name;
          if (err.code) a['llm_fiber.error.code'] = err.code;
          if (err.status !== undefined) a['http.response.status_code'] = err.status;
        }
        if (ttfbMs !== null) firstChunk(span, a, ctx, ttfbMs);
        addMetadata(a, ctx, scrub, metaKey);
        if (capture) {
          const input = inputMessages(ctx, maxContentChars, scrub);
          if (input !== null) a['gen_ai.input.messages'] = input;
        }
        span.setAttributes(a);
      }
      if (!closed) span.setStatus({ code: r.api.SpanStatusCode.ERROR, message: clipStatus(scrub(err.message)) });
      const attempt = st.attemptSpan;
      st.attemptSpan = null;
      if (attempt !== null) {
        guarded(ctx, 'attempt span', () => {
          if (!closed) failSpan(r, attempt, err, scrub);
          attempt.end();
        });
      }
      span.end();
    });

    const errorType = closed ? undefined : err.name;
    const failed = errorType === undefined ? st.series.base : st.series.error(errorType);
    r.duration.record(latencyMs / 1000, failed);
    if (ttfbMs !== null) r.timeToFirstChunk.record(ttfbMs / 1000, failed);
    recordOurs(r, st, attempts, latencyMs, ttfbMs, errorType);
  };

  const recordOurs = (r: Runtime, st: CallState, attempts: number, latencyMs: number, ttfbMs: number | null, errorType: string | undefined): void => {
    const base = st.series.base;
    r.requests.add(1, base);
    if (attempts > 1) r.retries.add(attempts - 1, base);
    r.latency.record(latencyMs, base);
    if (ttfbMs !== null) r.ttfb.record(ttfbMs, base);
    if (errorType !== undefined) r.errors.add(1, st.series.error(errorType));
  };

  /**
   * Telemetry must never fail the call it reports on: a throwing exporter or a bad attribute is logged on the
   * call (a `warn` record, also a `log` event on streams) and the call goes on.
   */
  const guarded = (ctx: FiberContext, what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      ctx.log('warn', `otel: could not record the ${what}`, { error: e instanceof Error ? e.name : 'unknown' });
    }
  };

  // -- retries, from the attempt loop's log records ------------------------------------------------------------

  const onLog: LogListener = (level, _message, data, ctx) => {
    if (level !== 'warn' || data === undefined) return;
    const d = data as RetryLog;
    if (typeof d.delayMs !== 'number' || typeof d.reason !== 'string') return;
    const st = stateOf(ctx);
    if (st === undefined || st.ended) return;
    const a: Attributes = { 'llm_fiber.retry.delay_ms': d.delayMs, 'llm_fiber.retry.reason': d.reason };
    if (typeof d.attempt === 'number') a['llm_fiber.attempt'] = d.attempt;
    if (typeof d.error === 'string') a['error.type'] = d.error;
    if (typeof d.httpStatus === 'number') a['http.response.status_code'] = d.httpStatus;
    if (typeof d.code === 'string') a['llm_fiber.error.code'] = d.code;
    if (typeof d.serverRequested === 'boolean') a['llm_fiber.retry.server_requested'] = d.serverRequested;
    // The attempt loop tags its records: `retry` (a retry follows) or `retry_skipped` (the deadline or the retry
    // budget ruled it out).
    if (d.kind === 'retry_skipped' && (d as { budget?: boolean }).budget === true) a['llm_fiber.retry.budget_exhausted'] = true;
    try {
      st.span.addEvent(d.kind === 'retry_skipped' ? 'llm_fiber.retry_skipped' : 'llm_fiber.retry', a);
    } catch {
      // a broken span implementation: the retry is still in the logs and the metrics
    }
  };

  // -- the two parts --------------------------------------------------------------------------------------------

  const callPart = defineMiddleware({
    name: 'otel',
    async handle(ctx, next) {
      const r = rt ?? (await init());
      const st = startCall(r, ctx, seriesOf);
      ctx.state.otel = st;
      ctx.onLog(onLog);
      try {
        await r.api.context.with(st.spanCtx, next);
      } catch (e) {
        if (!st.ended) guarded(ctx, 'call span', () => fail(r, ctx, st, toFiberError(e, { provider: ctx.provider, model: ctx.model })));
        throw e;
      }
      // A stream has only started (its first event is buffered): it ends in onEvent(done) or onError.
      if (ctx.kind === 'chat' && !st.ended) {
        const result = ctx.result;
        guarded(ctx, 'call span', () => {
          if (result !== undefined) succeed(r, ctx, st, result);
          else { st.ended = true; st.span.end(); }
        });
      }
    },
    // Without content capture the hook acts on `done` alone: chunks pass it by without a call.
    events: capture ? undefined : ['done'],
    onEvent: capture
      ? (event, ctx) => {
        if (event.type === 'chunk') {
          const st = stateOf(ctx);
          if (st !== undefined && st.output !== null && st.output.length < maxContentChars) st.output += event.delta;
        } else if (event.type === 'done') {
          const st = stateOf(ctx);
          if (st !== undefined && !st.ended && rt !== null) { const r = rt; guarded(ctx, 'call span', () => succeed(r, ctx, st, event.result)); }
        }
        return undefined;
      }
      : (event, ctx) => {
        if (event.type === 'done') {
          const st = stateOf(ctx);
          if (st !== undefined && !st.ended && rt !== null) { const r = rt; guarded(ctx, 'call span', () => succeed(r, ctx, st, event.result)); }
        }
        return undefined;
      },
    onError(err, ctx) {
      const st = stateOf(ctx);
      if (st !== undefined && !st.ended && rt !== null) { const r = rt; guarded(ctx, 'call span', () => fail(r, ctx, st, err)); }
    },
  });

  const attemptPart = defineMiddleware({
    name: 'otel.attempt',
    scope: 'attempt',
    async handle(ctx, next) {
      const st = stateOf(ctx);
      const r = rt;
      if (st === undefined || st.ended || r === null) return next();
      let span: Span;
      let attemptCtx: Context;
      try {
        const model = modelOf(ctx);
        span = r.tracer.startSpan(`chat ${model} attempt ${ctx.attempt}`, {
          kind: r.api.SpanKind.INTERNAL,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': providerName(ctx.provider),
            'gen_ai.request.model': model,
            'llm_fiber.attempt': ctx.attempt,
          },
        }, st.spanCtx);
        attemptCtx = r.api.trace.setSpan(st.spanCtx, span);
      } catch (e) {
        ctx.log('warn', 'otel: could not start the attempt span', { error: e instanceof Error ? e.name : 'unknown' });
        return next();
      }
      if (propagate) {
        try {
          const carrier = traceHeaders(r.api, attemptCtx, span);
          // Per attempt, on a fresh object: the caller's headers are never touched.
          if (carrier !== null) ctx.request = { ...ctx.request, headers: { ...ctx.request.headers, ...carrier } };
        } catch (e) {
          // A propagator that throws: this attempt goes without trace headers, its span is still recorded.
          ctx.log('warn', 'otel: could not inject the trace context', { error: e instanceof Error ? e.name : 'unknown' });
        }
      }
      try {
        await r.api.context.with(attemptCtx, next);
      } catch (e) {
        guarded(ctx, 'attempt span', () => {
          failSpan(r, span, toFiberError(e), callScrubber(ctx));
          span.end();
        });
        throw e;
      }
      // A stream's attempt goes on delivering after next() resolves; the call part ends it with the stream.
      if (ctx.kind === 'stream' && ctx.source !== undefined && !st.ended) st.attemptSpan = span;
      else guarded(ctx, 'attempt span', () => span.end());
    },
  });

  const bundle = function otelBundle(): Promise<void> {
    return Promise.reject(new ConfigError('otel(): pass it to fiber.use() (or the `middleware` option), which places its request and attempt parts'));
  } as Middleware;
  Object.defineProperties(bundle, {
    parts: { value: Object.freeze([callPart, attemptPart]), enumerable: true },
    middlewareName: { value: 'otel', enumerable: true },
  });
  return bundle;
}

// ---------------------------------------------------------------------------------------------------------------

function buildRuntime(api: Api, o: Pick<OtelOptions, 'tracerProvider' | 'meterProvider' | 'tracer' | 'meter'>): Runtime {
  const tracer = o.tracer ?? (o.tracerProvider ?? api.trace.getTracerProvider()).getTracer('llm-fiber');
  const meter = o.meter ?? (o.meterProvider ?? api.metrics.getMeterProvider()).getMeter('llm-fiber');
  const hist = (name: string, unit: string, description: string, buckets: number[]) =>
    meter.createHistogram(name, { unit, description, advice: { explicitBucketBoundaries: buckets } });
  return {
    api,
    tracer,
    duration: hist('gen_ai.client.operation.duration', 's', 'GenAI operation duration.', DURATION_BUCKETS_S),
    tokens: hist('gen_ai.client.token.usage', '{token}', 'Number of input and output tokens used.', TOKEN_BUCKETS),
    timeToFirstChunk: hist('gen_ai.client.operation.time_to_first_chunk', 's', 'Time to receive the first chunk of a streaming response.', DURATION_BUCKETS_S),
    requests: meter.createCounter('llm_fiber.request_count', { unit: '{request}', description: 'Calls made (a retried call counts once).' }),
    errors: meter.createCounter('llm_fiber.error_count', { unit: '{error}', description: 'Calls that failed, by error class (error.type).' }),
    retries: meter.createCounter('llm_fiber.retry_count', { unit: '{retry}', description: 'Retried attempts.' }),
    latency: hist('llm_fiber.latency_ms', 'ms', 'Call latency, retries and backoff included.', MS_BUCKETS),
    ttfb: hist('llm_fiber.ttfb_ms', 'ms', 'Streams: time to the first content event.', MS_BUCKETS),
    cost: meter.createCounter('llm_fiber.estimated_cost_usd', { unit: '{USD}', description: 'Estimated cost of the calls, when a price is known.' }),
  };
}

/** Open the call span with what is known before the request goes out (samplers see these attributes). */
function startCall(r: Runtime, ctx: FiberContext, seriesOf: (system: string, model: string) => Series): CallState {
  const model = modelOf(ctx);
  const system = providerName(ctx.provider);
  const a: Attributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': system,
    'gen_ai.system': system,
    'gen_ai.request.model': model,
    'gen_ai.request.stream': ctx.kind === 'stream',
    'llm_fiber.idempotency_key': ctx.idempotencyKey,
  };
  // `request` is set by `normalize`, which the default stacks run first; a hand-built stack may place otel() before it.
  const req = ctx.request as FiberContext['request'] | undefined;
  if (req !== undefined) {
    if (req.temperature !== undefined) a['gen_ai.request.temperature'] = req.temperature;
    if (req.maxTokens !== undefined) a['gen_ai.request.max_tokens'] = req.maxTokens;
    if (req.seed !== undefined) a['gen_ai.request.seed'] = req.seed;
    if (req.stop !== undefined && req.stop.length > 0) a['gen_ai.request.stop_sequences'] = req.stop;
  }
  const parent = r.api.context.active();
  let span: Span;
  try {
    span = r.tracer.startSpan(`chat ${model}`, { kind: r.api.SpanKind.CLIENT, attributes: a, startTime: ctx.timing.startedAt }, parent);
  } catch (e) {
    // A span processor that throws in onStart (or a broken tracer): the call goes on untraced, metrics still count it.
    ctx.log('warn', 'otel: could not start the call span', { error: e instanceof Error ? e.name : 'unknown' });
    // The caller's span context, wrapped: attempts and trace headers stay in the caller's trace, and ending or
    // writing to this wrapper touches nothing.
    span = r.api.trace.wrapSpanContext(r.api.trace.getSpanContext(parent) ?? r.api.INVALID_SPAN_CONTEXT);
  }
  return {
    span,
    spanCtx: r.api.trace.setSpan(parent, span),
    series: seriesOf(system, model),
    attemptSpan: null,
    ended: false,
    // Content capture collects a stream's text here; a span the sampler dropped collects nothing.
    output: ctx.kind === 'stream' && span.isRecording() ? '' : null,
  };
}

function hasEntries(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/**
 * `llm_fiber.metadata.<key>` per metadata entry, redacted. Set when the call ends, not when it starts: a
 * `redaction()` placed inside `otel()` (the recommended order) has installed its patterns by then.
 */
function addMetadata(a: Attributes, ctx: FiberContext, scrub: (text: string) => string, metaKey: (k: string) => string): void {
  const meta = ctx.metadata;
  for (const k in meta) {
    const v = meta[k];
    if (typeof v === 'string') a[metaKey(k)] = scrub(v);
  }
}

/** The first-content-event marker: an attribute pair plus an event stamped when it arrived. */
function firstChunk(span: Span, a: Attributes, ctx: FiberContext, ttfbMs: number): void {
  a['llm_fiber.ttfb_ms'] = ttfbMs;
  a['gen_ai.response.time_to_first_chunk'] = ttfbMs / 1000;
  // `startedAt` is a performance.now() reading, which OTel's TimeInput accepts as such.
  span.addEvent('llm_fiber.first_chunk', { 'llm_fiber.ttfb_ms': ttfbMs }, ctx.timing.startedAt + ttfbMs);
}

function failSpan(r: Runtime, span: Span, err: FiberError, scrub: (text: string) => string): void {
  const a: Attributes = { 'error.type': err.name };
  if (err.status !== undefined) a['http.response.status_code'] = err.status;
  if (err.code) a['llm_fiber.error.code'] = err.code;
  span.setAttributes(a);
  span.setStatus({ code: r.api.SpanStatusCode.ERROR, message: clipStatus(scrub(err.message)) });
}

/**
 * The headers that carry the attempt span's context: whatever the global propagator injects, or, with none
 * registered (the API's default is a no-op), W3C Trace Context written here. Null when the span is not a real one.
 */
function traceHeaders(api: Api, attemptCtx: Context, span: Span): Record<string, string> | null {
  const carrier: Record<string, string> = {};
  api.propagation.inject(attemptCtx, carrier);
  if (Object.keys(carrier).length > 0) return carrier;
  const sc = span.spanContext();
  if (!api.isSpanContextValid(sc)) return null;
  carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
  const state = sc.traceState?.serialize();
  if (state) carrier.tracestate = state;
  return carrier;
}

function modelOf(ctx: FiberContext): string {
  return modelForTelemetry(ctx, ctx.model || (ctx.request as FiberContext['request'] | undefined)?.model || ctx.input.model || 'unknown');
}



function providerName(provider: string): string {
  return PROVIDER_NAMES[provider] ?? (provider || 'unknown');
}

function clipStatus(message: string): string {
  return message.length <= MAX_STATUS_CHARS ? message : message.slice(0, MAX_STATUS_CHARS) + '…';
}

interface RetryLog {
  kind?: unknown;
  attempt?: unknown;
  delayMs?: unknown;
  reason?: unknown;
  error?: unknown;
  httpStatus?: unknown;
  code?: unknown;
  serverRequested?: unknown;
}

// -- content capture (opt-in) -------------------------------------------------------------------------------------

/** A shared character budget for the text of one attribute. */
interface Budget { left: number }

/**
 * Past the kept part, a match cannot reach back into it by more than this: `redaction()`'s default longest match.
 * Only the kept part plus this margin is redacted, so a long history costs what the attribute keeps, not its size.
 */
const REDACT_MARGIN = 256;
const TRUNCATED = '…[truncated]';
/** Tool arguments nested deeper than this are recorded as a marker, never unredacted. */
const ARGUMENT_WALK = { maxDepth: 32, tooDeep: () => '[too deep]' };

/** Redacted first, then cut: a cut never leaves half of a match that redaction would have caught whole. */
function clip(raw: string, b: Budget, scrub: (text: string) => string): string {
  if (b.left <= 0) return TRUNCATED;
  const window = b.left + REDACT_MARGIN;
  let text = scrub(raw.length > window ? raw.slice(0, window) : raw);
  // Replacements shorter than what they replace can bring a cut window under the budget: then redact it all.
  if (raw.length > window && text.length <= b.left) text = scrub(raw);
  if (text.length <= b.left) { b.left -= text.length; return text; }
  const keep = b.left;
  b.left = 0;
  return text.slice(0, keep) + TRUNCATED;
}

/** Tool arguments: kept as they are (objects stay objects) when they fit, as a redacted, cut string when not. */
function clipValue(v: unknown, b: Budget, scrub: (text: string) => string): unknown {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  if (s.length <= b.left) { b.left -= s.length; return mapStrings(v, scrub, ARGUMENT_WALK); }
  return clip(s, b, scrub);
}

function partOf(p: ContentPart, b: Budget, scrub: (text: string) => string): Record<string, unknown> {
  if (p.type === 'text') return { type: 'text', content: clip(p.text, b, scrub) };
  const modality = p.type === 'file' ? undefined : p.type;
  // Inline data (base64) is never recorded: only what it is.
  if ('data' in p || p.url.startsWith('data:')) return { type: 'blob', modality, mime_type: p.mediaType ?? null };
  return { type: 'uri', modality, mime_type: p.mediaType ?? null, uri: clip(p.url, b, scrub) };
}

function messageParts(m: ChatMessage, b: Budget, scrub: (text: string) => string): Array<Record<string, unknown>> {
  const parts: Array<Record<string, unknown>> = [];
  if (m.role === 'tool') {
    parts.push({ type: 'tool_call_response', id: m.toolCallId ?? null, result: typeof m.content === 'string' ? clip(m.content, b, scrub) : m.content.map((p) => partOf(p, b, scrub)) });
    return parts;
  }
  if (typeof m.content === 'string') {
    if (m.content !== '') parts.push({ type: 'text', content: clip(m.content, b, scrub) });
  } else {
    for (const p of m.content) parts.push(partOf(p, b, scrub));
  }
  if (m.toolCalls) for (const tc of m.toolCalls) parts.push({ type: 'tool_call', id: tc.id, name: tc.name, arguments: clipValue(tc.arguments, b, scrub) });
  return parts;
}

/** `gen_ai.input.messages`: the newest messages get the budget first; order on the wire is kept. */
function inputMessages(ctx: FiberContext, maxChars: number, scrub: (text: string) => string): string | null {
  const req = ctx.request as FiberContext['request'] | undefined;
  if (req === undefined || !Array.isArray(req.messages)) return null;
  const msgs = req.messages;
  const b: Budget = { left: maxChars };
  const out: Array<Record<string, unknown>> = [];
  // Older messages are left out once the budget is spent, not recorded as empty placeholders.
  for (let i = msgs.length - 1; i >= 0 && out.length < MAX_CAPTURED_MESSAGES && b.left > 0; i--) {
    const m = msgs[i]!;
    out.push({ role: m.role, parts: messageParts(m, b, scrub) });
  }
  out.reverse();
  return JSON.stringify(out);
}

const FINISH: Record<FinishReason, string> = { stop: 'stop', length: 'length', tool_calls: 'tool_call', content_filter: 'content_filter', error: 'error', other: 'other' };

/** `gen_ai.output.messages`: one assistant message (reasoning, text, tool calls) with its finish reason. */
function outputMessages(result: ChatResult, streamed: string | null, maxChars: number, scrub: (text: string) => string): string {
  const b: Budget = { left: maxChars };
  const parts: Array<Record<string, unknown>> = [];
  const text = streamed ?? result.text;
  if (text !== '') parts.push({ type: 'text', content: clip(text, b, scrub) });
  if (result.reasoning) parts.push({ type: 'reasoning', content: clip(result.reasoning, b, scrub) });
  for (const tc of result.toolCalls) parts.push({ type: 'tool_call', id: tc.id, name: tc.name, arguments: clipValue(tc.arguments, b, scrub) });
  return JSON.stringify([{ role: 'assistant', parts, finish_reason: FINISH[result.finishReason] ?? result.finishReason }]);
}
