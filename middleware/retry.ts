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
}

const KEYS = new Set(['retries', 'minDelayMs', 'maxDelayMs', 'factor', 'jitter', 'retryIf', 'idempotencyHeader']);

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
      return next();
    },
  });
}
