import { defineMiddleware } from '../src/compose.js';
import type { CallContext } from '../src/context.js';
import { ConfigError, FiberError, toFiberError } from '../src/errors.js';
import type { ChatResult, MetricsSink, Middleware, Tags } from '../src/types.js';

export interface MetricsOptions {
  /** Where to record. @default the Fiber's sinks (`fiber.metrics` plus the `metrics` option) */
  sink?: MetricsSink;
}

/**
 * Record per-call metrics with the contract's names, tagged by provider and model (and error class on
 * `error_count`): `request_count`, `error_count`, `retry_count`, `latency_ms`, `ttfb_ms` (streams),
 * `tokens_prompt`, `tokens_completion`, `tokens_total`, `estimated_cost_usd` (when a price is known).
 * Tag objects are cached per series, so a record costs a few Map lookups and no allocation.
 * @example new Fiber({ preset: 'none', middleware: [metrics()] }).metrics.snapshot()
 */
export function metrics(options: MetricsOptions = {}): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('metrics: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'sink') throw new ConfigError(`metrics: unknown option "${k}"`);
  const own = options.sink;
  if (own !== undefined && (typeof own.increment !== 'function' || typeof own.observe !== 'function')) {
    throw new ConfigError('metrics: `sink` must have increment() and observe()');
  }
  const tagCache = new Map<string, Tags>();
  const errTagCache = new Map<string, Tags>();
  const tagsOf = (provider: string, model: string): Tags => {
    const key = provider + '\u0000' + model;
    let t = tagCache.get(key);
    if (t === undefined) {
      t = Object.freeze({ provider, model });
      if (tagCache.size > 4096) tagCache.clear();
      tagCache.set(key, t);
    }
    return t;
  };
  const errTagsOf = (provider: string, model: string, error: string): Tags => {
    const key = provider + '\u0000' + model + '\u0000' + error;
    let t = errTagCache.get(key);
    if (t === undefined) {
      t = Object.freeze({ provider, model, error });
      if (errTagCache.size > 4096) errTagCache.clear();
      errTagCache.set(key, t);
    }
    return t;
  };

  const sinkOf = (ctx: CallContext): MetricsSink => own ?? ctx.runtime.sink;
  const names = (ctx: CallContext): [string, string] => [ctx.provider || 'unknown', ctx.model || ctx.modelName || 'unknown'];

  const success = (ctx: CallContext, result: ChatResult): void => {
    const sink = sinkOf(ctx);
    const [p, m] = names(ctx);
    const tags = tagsOf(p, m);
    sink.increment('request_count', 1, tags);
    if (result.attempts > 1) sink.increment('retry_count', result.attempts - 1, tags);
    sink.observe('latency_ms', result.latencyMs, tags);
    if (ctx.kind === 'stream' && result.ttfbMs !== null) sink.observe('ttfb_ms', result.ttfbMs, tags);
    const u = result.usage;
    sink.increment('tokens_prompt', u.prompt, tags);
    sink.increment('tokens_completion', u.completion, tags);
    sink.increment('tokens_total', u.total, tags);
    if (u.costEstimate !== null) sink.increment('estimated_cost_usd', u.costEstimate, tags);
  };

  const failure = (ctx: CallContext, err: FiberError): void => {
    const sink = sinkOf(ctx);
    const [p, m] = names(ctx);
    const tags = tagsOf(p, m);
    sink.increment('request_count', 1, tags);
    const attempts = Math.max(ctx.attempt, 1);
    if (attempts > 1) sink.increment('retry_count', attempts - 1, tags);
    sink.observe('latency_ms', performance.now() - ctx.timing.startedAt, tags);
    if (ctx.kind === 'stream' && ctx.timing.ttfbMs !== null) sink.observe('ttfb_ms', ctx.timing.ttfbMs, tags);
    sink.increment('error_count', 1, errTagsOf(p, m, err.name));
  };

  return defineMiddleware({
    name: 'metrics',
    async handle(ctx, next) {
      const c = ctx as CallContext;
      try {
        await next();
      } catch (e) {
        failure(c, toFiberError(e));
        throw e;
      }
      // Streams are recorded when they end (done / onError); a chat has its result now.
      if (c.kind === 'chat' && c.result !== undefined) success(c, c.result);
    },
    onEvent(event, ctx) {
      if (event.type === 'done') success(ctx as CallContext, event.result);
      return undefined;
    },
    onError(err, ctx) {
      failure(ctx as CallContext, err);
    },
  });
}
