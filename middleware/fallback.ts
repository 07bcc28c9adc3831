import { defineMiddleware } from '../src/compose.js';
import { ConfigError } from '../src/errors.js';
import type { FallbackPolicy, Middleware } from '../src/types.js';

/** Circuit breaker settings. See `docs/features/retries-and-budgets.md#fallbacks-and-circuit-breakers`. */
export interface BreakerOptions {
  /** Consecutive provider-side failures that open the breaker for a provider and model. @default 5 */
  failureThreshold?: number;
  /** How long an open breaker skips its model before one probe call is let through. @default 30_000 */
  cooldownMs?: number;
}

export interface FallbackOptions {
  /** Models to try, in order, once the current model's retries are spent; the per-call `fallback` replaces them. @default [] */
  models?: string[];
  /** Per provider-and-model circuit breaker, or false. @default { failureThreshold: 5, cooldownMs: 30_000 } */
  breaker?: BreakerOptions | false;
  /** @internal clock for tests */
  now?: () => number;
}

interface BreakerState {
  failures: number;
  openedAt: number;
  /** A half-open probe is in flight: everyone else keeps skipping. */
  probing: boolean;
}

/**
 * A per provider-and-model circuit breaker: `failureThreshold` consecutive provider-side failures open it; while
 * open, the attempt loop skips the model when another candidate remains; after `cooldownMs` one call probes it
 * (half-open) and its outcome closes or re-opens it.
 */
export class CircuitBreaker implements NonNullable<FallbackPolicy['breaker']> {
  private readonly states = new Map<string, BreakerState>();
  constructor(private readonly threshold: number, private readonly cooldownMs: number, private readonly now: () => number = Date.now) {}

  allows(key: string): boolean {
    const s = this.states.get(key);
    if (s === undefined || s.failures < this.threshold) return true;
    if (s.probing) return false;
    if (this.now() - s.openedAt < this.cooldownMs) return false;
    s.probing = true; // half-open: this caller is the probe
    return true;
  }

  success(key: string): void {
    this.states.delete(key);
  }

  failure(key: string): void {
    let s = this.states.get(key);
    if (s === undefined) {
      s = { failures: 0, openedAt: 0, probing: false };
      if (this.states.size > 1024) this.states.clear();
      this.states.set(key, s);
    }
    s.failures++;
    if (s.failures >= this.threshold) { s.openedAt = this.now(); s.probing = false; }
  }

  settle(key: string): void {
    const s = this.states.get(key);
    if (s !== undefined) s.probing = false;
  }

  /** `'closed' | 'open' | 'half-open'` for a provider:model key (diagnostics and tests). */
  state(key: string): 'closed' | 'open' | 'half-open' {
    const s = this.states.get(key);
    if (s === undefined || s.failures < this.threshold) return 'closed';
    if (s.probing || this.now() - s.openedAt >= this.cooldownMs) return 'half-open';
    return 'open';
  }
}

const KEYS = new Set(['models', 'breaker', 'now']);

/**
 * Fallback chains with cooldowns: when a call fails before its first event with a retryable or provider-side
 * error (never 400/401/403/404/422), and the current model's retries are spent, the next model is tried with the
 * same idempotency key and the same deadline. A model whose breaker is open is skipped while another remains.
 * Never after the first event reached the caller. Part of the prod preset (so the per-call `fallback` works).
 * @example fiber.use(fallback({ models: ['claude-3-5-haiku-latest', 'gemini-2.0-flash'] }))
 */
export function fallback(options: FallbackOptions = {}): Middleware & { breaker: CircuitBreaker | null } {
  if (options === null || typeof options !== 'object') throw new ConfigError('fallback: options must be an object');
  for (const k of Object.keys(options)) if (!KEYS.has(k)) throw new ConfigError(`fallback: unknown option "${k}"`);
  const models = options.models ?? [];
  if (!Array.isArray(models) || !models.every((m) => typeof m === 'string' && m !== '')) throw new ConfigError('fallback: models must be an array of model names');
  let breaker: CircuitBreaker | null = null;
  if (options.breaker !== false) {
    const b = options.breaker ?? {};
    if (b === null || typeof b !== 'object') throw new ConfigError('fallback: breaker must be an object or false');
    for (const k of Object.keys(b)) if (k !== 'failureThreshold' && k !== 'cooldownMs') throw new ConfigError(`fallback: unknown breaker option "${k}"`);
    const threshold = b.failureThreshold ?? 5;
    const cooldownMs = b.cooldownMs ?? 30_000;
    if (!Number.isInteger(threshold) || threshold < 1) throw new ConfigError('fallback: breaker.failureThreshold must be an integer >= 1');
    if (typeof cooldownMs !== 'number' || !(cooldownMs >= 0)) throw new ConfigError('fallback: breaker.cooldownMs must be a number >= 0');
    breaker = new CircuitBreaker(threshold, cooldownMs, options.now);
  }
  const policy: FallbackPolicy = Object.freeze({ models: Object.freeze([...models]), breaker });
  const mw = defineMiddleware({
    name: 'fallback',
    handle(ctx, next) {
      ctx.fallback = policy;
      return next();
    },
  });
  return Object.assign(mw, { breaker });
}
