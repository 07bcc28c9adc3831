/**
 * `concurrency()`: a p-limit style cap on calls in flight, one limiter per provider (or per `provider:model`, or
 * one for everything).
 *
 * Placement. It runs in request scope, so a call holds its slot for the whole call: every retry, every backoff
 * sleep and, for streams, until the stream ends. Retrying inside the slot is deliberate: releasing it between
 * attempts would let queued calls overtake a call the provider already throttled, and the retry would then queue
 * behind them with its deadline running.
 *
 * Streams. `next()` resolves at the first event, long before the stream ends, so a stream's slot is released by
 * the stream's end instead: `onEvent(done)`, `onError` (a failed stream, `stream.abort()`, and a consumer `break`,
 * which the core reports as an `AbortError` with code `consumer_closed`), or the call's signal (a stream closed
 * while the onion was still running gets no hook, but its context is aborted). A release is idempotent, so two of
 * these firing is harmless. A stream the caller abandons without `break`, `abort()` or reading it to the end holds
 * its slot until the call's total deadline aborts it.
 *
 * Waiting. A call that finds no free slot queues (FIFO). It leaves the queue without taking a slot when its
 * signal aborts, with the abort reason: the caller's abort, or the call's total deadline (`TimeoutError`, phase
 * 'total'). A released slot is handed straight to the first waiter, so a burst of new calls cannot starve the
 * queue.
 */
import { defineMiddleware } from '../src/compose.js';
import { AbortError, ConfigError, FiberError, RateLimitError } from '../src/errors.js';
import type { FiberContext, Middleware } from '../src/types.js';

declare module '../src/types.js' {
  interface FiberState {
    /** Set by `concurrency()` on streams: releases the call's slot (idempotent). */
    concurrency?: { release(): void };
  }
}

/** Options of `concurrency()`. See `docs/features/retries-and-budgets.md#concurrency`. */
export interface ConcurrencyOptions {
  /** Calls in flight at once, per limiter. */
  max: number;
  /**
   * One limiter per provider (true) or one for every call through this middleware (false).
   * @default true
   */
  perProvider?: boolean;
  /**
   * With `perProvider`, what a limiter is keyed by: the provider name, or `provider:model`.
   * @default 'provider'
   */
  key?: 'provider' | 'model';
  /**
   * Calls allowed to wait per limiter; one more fails at once with `RateLimitError` (code `local_queue_full`).
   * `0` means never wait.
   * @default Infinity
   */
  maxQueue?: number;
  /**
   * Longest wait for a slot, in ms; past it the call fails with `RateLimitError` (code `local_queue_timeout`).
   * The call's total deadline and signal always apply as well.
   * @default no limit of its own
   */
  queueTimeoutMs?: number;
}

/** What a limiter is doing right now. */
export interface ConcurrencyStats {
  /** Slots held. */
  active: number;
  /** Calls waiting for a slot. */
  queued: number;
}

/** The middleware, plus a read-only view of its limiters (for health checks, metrics and tests). */
export interface ConcurrencyMiddleware extends Middleware {
  /** Limiters with a slot held or a call waiting, by key (`'openai'`, `'openai:gpt-4o'`, or `'*'`). */
  stats(): Record<string, ConcurrencyStats>;
}

interface Waiter {
  /** Hand this waiter a slot (the releaser's slot; `active` does not change). */
  grant(): void;
}

/** One limiter: the slots in use and the FIFO of waiters (a Set keeps insertion order and deletes in O(1)). */
interface Limiter {
  active: number;
  readonly waiting: Set<Waiter>;
}

const KEYS = new Set(['max', 'perProvider', 'key', 'maxQueue', 'queueTimeoutMs']);
const GLOBAL_KEY = '*';

/**
 * Cap the calls in flight: at most `max` per provider (default), per `provider:model` (`key: 'model'`) or in
 * total (`perProvider: false`). A call holds its slot for its whole life, retries included; a stream until it
 * ends, fails or the consumer leaves it. Waiting calls honour their signal and the call's deadline and never keep
 * a slot they did not get. Share one instance between Fibers to share its limits.
 * @example fiber.use(concurrency({ max: 8, maxQueue: 100 }))
 */
export function concurrency(options: ConcurrencyOptions): ConcurrencyMiddleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('concurrency: options must be an object with `max`');
  for (const k of Object.keys(options)) {
    if (!KEYS.has(k)) throw new ConfigError(`concurrency: unknown option "${k}" (known: ${[...KEYS].join(', ')})`);
  }
  const { max, perProvider = true, key = 'provider', maxQueue = Infinity, queueTimeoutMs } = options;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new ConfigError('concurrency: `max` must be an integer >= 1');
  if (typeof perProvider !== 'boolean') throw new ConfigError('concurrency: `perProvider` must be a boolean');
  if (key !== 'provider' && key !== 'model') throw new ConfigError("concurrency: `key` must be 'provider' or 'model'");
  if (!perProvider && options.key !== undefined) throw new ConfigError('concurrency: `key` applies only with `perProvider: true`');
  if (typeof maxQueue !== 'number' || Number.isNaN(maxQueue) || maxQueue < 0 || (maxQueue !== Infinity && !Number.isInteger(maxQueue))) {
    throw new ConfigError('concurrency: `maxQueue` must be an integer >= 0 (or Infinity)');
  }
  if (queueTimeoutMs !== undefined && (typeof queueTimeoutMs !== 'number' || !Number.isFinite(queueTimeoutMs) || queueTimeoutMs < 0)) {
    throw new ConfigError('concurrency: `queueTimeoutMs` must be a finite number of ms >= 0');
  }

  const limiters = new Map<string, Limiter>();
  const keyOf: (ctx: FiberContext) => string = !perProvider
    ? () => GLOBAL_KEY
    : key === 'model' ? (ctx) => `${ctx.provider}:${ctx.model}` : (ctx) => ctx.provider;

  const release = (name: string, limiter: Limiter): void => {
    const first = limiter.waiting.values().next();
    if (!first.done) {
      limiter.waiting.delete(first.value);
      first.value.grant();
      return;
    }
    limiter.active--;
    // Idle limiters go, so `key: 'model'` with many model names does not grow the map forever.
    if (limiter.active === 0 && limiters.get(name) === limiter) limiters.delete(name);
  };

  /** Queue for a slot of `limiter`; resolves holding one, rejects without one. */
  const wait = (ctx: FiberContext, name: string, limiter: Limiter): Promise<void> => {
    if (limiter.waiting.size >= maxQueue) {
      return Promise.reject(new RateLimitError(
        `${ctx.provider} ${ctx.model}: concurrency queue is full (${limiter.waiting.size} calls waiting for ${max} slots of "${name}")`,
        // Not retryable: this is load shedding, and a retry would only refill the queue it was shed from.
        { code: 'local_queue_full', retryable: false, provider: ctx.provider, model: ctx.model },
      ));
    }
    const signal = ctx.signal;
    if (signal.aborted) return Promise.reject(abortReasonOf(signal));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const cleanup = () => {
        signal.removeEventListener('abort', onAbort);
        if (timer !== null) { clearTimeout(timer); timer = null; }
      };
      const leave = (err: FiberError) => {
        limiter.waiting.delete(waiter);
        cleanup();
        reject(err);
      };
      const onAbort = () => leave(abortReasonOf(signal));
      const waiter: Waiter = { grant: () => { cleanup(); resolve(); } };
      signal.addEventListener('abort', onAbort, { once: true });
      if (queueTimeoutMs !== undefined) {
        timer = setTimeout(() => leave(new RateLimitError(
          `${ctx.provider} ${ctx.model}: no concurrency slot of "${name}" within ${queueTimeoutMs} ms`,
          { code: 'local_queue_timeout', retryable: false, provider: ctx.provider, model: ctx.model },
        )), queueTimeoutMs);
      }
      limiter.waiting.add(waiter);
    });
  };

  const mw = defineMiddleware({
    name: 'concurrency',
    async handle(ctx, next) {
      const name = keyOf(ctx);
      let limiter = limiters.get(name);
      if (limiter === undefined) {
        limiter = { active: 0, waiting: new Set() };
        limiters.set(name, limiter);
      }
      if (limiter.active < max && limiter.waiting.size === 0) {
        limiter.active++;
      } else {
        const queuedAt = performance.now();
        const ahead = limiter.waiting.size;
        await wait(ctx, name, limiter);
        const waitedMs = performance.now() - queuedAt;
        ctx.log('info', `concurrency: waited ${Math.round(waitedMs)} ms for a slot of "${name}"`, { key: name, waitedMs, ahead, max });
      }
      // From here on this call holds a slot: every path below must release it exactly once.
      const held = limiter;
      let released = false;
      const releaseOnce = (): void => {
        if (released) return;
        released = true;
        release(name, held);
      };
      if (ctx.kind !== 'stream') {
        try {
          await next();
        } finally {
          releaseOnce();
        }
        return;
      }
      try {
        await next();
      } catch (e) {
        releaseOnce();
        throw e;
      }
      if (ctx.source === undefined && ctx.result === undefined) { releaseOnce(); return; }
      // The stream is open: the slot goes with its end (done / onError) or with the call's abort.
      const signal = ctx.signal;
      if (signal.aborted) { releaseOnce(); return; }
      const onAbort = (): void => releaseOnce();
      signal.addEventListener('abort', onAbort, { once: true });
      ctx.state.concurrency = {
        release() {
          signal.removeEventListener('abort', onAbort);
          releaseOnce();
        },
      };
    },
    events: ['done'],
    onEvent(event, ctx) {
      if (event.type === 'done') ctx.state.concurrency?.release();
      return undefined;
    },
    onError(_err, ctx) {
      ctx.state.concurrency?.release();
    },
  });

  const stats = (): Record<string, ConcurrencyStats> => {
    const out: Record<string, ConcurrencyStats> = {};
    for (const [name, l] of limiters) out[name] = { active: l.active, queued: l.waiting.size };
    return out;
  };
  Object.defineProperty(mw, 'stats', { value: stats, enumerable: true });
  return mw as ConcurrencyMiddleware;
}

function abortReasonOf(signal: AbortSignal): FiberError {
  const r: unknown = signal.reason;
  if (r instanceof FiberError) return r;
  return new AbortError('llm-fiber: call aborted while waiting for a concurrency slot', { code: 'aborted', cause: r });
}
