import { defineMiddleware } from '../src/compose.js';
import { ConfigError, type FiberError } from '../src/errors.js';
import type { Middleware, RetryPolicy } from '../src/types.js';

/** Retry settings. See `docs/features/transport.md#retries`. */
export interface RetryOptions {
  /** Extra attempts after the first. @default 2 */
  retries?: number;
  /** First backoff in ms (before jitter). @default 500 */
  minDelayMs?: number;
  /** Backoff cap in ms. @default 8_000 */
  maxDelayMs?: number;
  /** Exponential growth per attempt. @default 2 */
  factor?: number;
  /** Jitter the backoff within [delay/2, delay]. @default true */
  jitter?: boolean;
  /** Return false to stop retrying an error the defaults would retry. */
  retryIf?: (error: FiberError, attempt: number) => boolean;
  /** Send the call's idempotency key as the provider's idempotency header. @default true */
  idempotencyHeader?: boolean;
  /**
   * Cap retries at a share of this client's traffic, so an outage does not multiply the load on a provider:
   * each call earns `ratio` of a retry, each retry spends one, and `minPerSecond` retries are always allowed.
   * `false` turns it off. @default { ratio: 0.1, minPerSecond: 10 }
   */
  budget?: { ratio?: number; minPerSecond?: number } | false;
}

/**
 * A retry budget (Finagle's `RetryBudget`): each call deposits `ratio` of a retry into a balance (capped), each
 * retry withdraws one; a reserve of `minPerSecond` × 10 s, refilling at `minPerSecond`, lets a quiet client retry.
 * Under a full outage a busy client adds at most about `ratio` extra load.
 */
export class RetryBudget {
  private balance = 0;
  private reserve: number;
  private reserveAt: number;
  constructor(private readonly ratio: number, private readonly minPerSecond: number, private readonly now: () => number = Date.now) {
    this.reserve = minPerSecond * RESERVE_WINDOW_S;
    this.reserveAt = now();
  }
  deposit(): void {
    // Cap: what 1,000 calls earn, so a long quiet success streak cannot bank an unbounded retry storm.
    this.balance = Math.min(this.balance + this.ratio, this.ratio * 1000);
  }
  withdraw(): boolean {
    if (this.balance >= 1) { this.balance -= 1; return true; }
    const t = this.now();
    this.reserve = Math.min(this.minPerSecond * RESERVE_WINDOW_S, this.reserve + ((t - this.reserveAt) / 1000) * this.minPerSecond);
    this.reserveAt = t;
    if (this.reserve >= 1) { this.reserve -= 1; return true; }
    return false;
  }
}

/** The reserve holds this many seconds of `minPerSecond`. */
const RESERVE_WINDOW_S = 10;

const KEYS = new Set(['retries', 'minDelayMs', 'maxDelayMs', 'factor', 'jitter', 'retryIf', 'idempotencyHeader', 'budget']);

/** Validate options into a policy (once, at construction). */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  if (options === null || typeof options !== 'object') throw new ConfigError('retry: options must be an object or false');
  for (const k of Object.keys(options)) if (!KEYS.has(k)) throw new ConfigError(`retry: unknown option "${k}" (known: ${[...KEYS].join(', ')})`);
  const num = (name: keyof RetryOptions, v: unknown, def: number, min: number, int = false): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || Number.isNaN(v) || v < min || (int && !Number.isInteger(v))) {
      throw new ConfigError(`retry: ${name} must be ${int ? 'an integer' : 'a number'} >= ${min}`);
    }
    return v;
  };
  if (options.retryIf !== undefined && typeof options.retryIf !== 'function') throw new ConfigError('retry: retryIf must be a function');
  const policy: RetryPolicy = {
    retries: num('retries', options.retries, 2, 0, true),
    minDelayMs: num('minDelayMs', options.minDelayMs, 500, 0),
    maxDelayMs: num('maxDelayMs', options.maxDelayMs, 8_000, 0),
    factor: num('factor', options.factor, 2, 1),
    jitter: options.jitter ?? true,
    idempotencyHeader: options.idempotencyHeader ?? true,
  };
  if (options.retryIf) policy.retryIf = options.retryIf;
  if (options.budget !== false) {
    const b = options.budget ?? {};
    if (b === null || typeof b !== 'object') throw new ConfigError('retry: budget must be an object or false');
    for (const k of Object.keys(b)) if (k !== 'ratio' && k !== 'minPerSecond') throw new ConfigError(`retry: unknown budget option "${k}"`);
    const ratio = num('budget' as keyof RetryOptions, b.ratio, 0.1, 0);
    const minPerSecond = num('budget' as keyof RetryOptions, b.minPerSecond, 10, 0);
    policy.budget = new RetryBudget(ratio, minPerSecond);
  }
  return Object.freeze(policy);
}

/**
 * Retry failed attempts: 408, 409, 429 (not `insufficient_quota`), 5xx, 529 and connection failures before the
 * first response byte; capped jittered exponential backoff unless the server says how long (`retry-after`,
 * `retry-after-ms`); never once the first event reached the caller; never past the call's deadline. The attempt
 * loop in `src/attempts.ts` runs the policy this sets, so `next()` is still called once.
 * @example fiber.use(retry({ retries: 4, retryIf: (err) => err.status !== 503 }))
 */
export function retry(options: RetryOptions | false = {}): Middleware {
  const policy = options === false ? null : retryPolicy(options);
  return defineMiddleware({
    name: 'retry',
    handle(ctx, next) {
      ctx.retry = policy;
      policy?.budget?.deposit();
      return next();
    },
  });
}
