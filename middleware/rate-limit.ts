/**
 * `rateLimit()`: client-side pacing against requests-per-minute and tokens-per-minute limits, so calls wait their
 * turn instead of collecting 429s.
 *
 * Two token buckets per key (a provider, or a provider and model): one of requests, one of tokens. Each refills
 * continuously at its per-minute rate up to its capacity (`burst`). Before each HTTP attempt the middleware takes
 * one request and an estimate of the attempt's tokens from both buckets at once (all or nothing); when they hold
 * too little it sleeps for the time the store says and asks again. After the attempt it settles the token bucket
 * with the real usage (`result.usage.total`; for a stream at `done`), so an estimate that was too high is given
 * back and one too low is charged. A failed attempt keeps its reservation: providers count failed requests
 * against the limit too.
 *
 * It also listens to the provider: `x-ratelimit-remaining-requests` / `-tokens` with `x-ratelimit-reset-*`
 * (OpenAI and most OpenAI-compatible servers; Go durations such as `1s`, `6m0s`, `20ms`) and
 * `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}` (RFC 3339 times). When the
 * server says what is left is at or below `headroom`, the key is paused until the reset time, and a 429 that says
 * how long to wait (`retryAfterMs`) pauses it too, so the calls running beside the throttled one slow down before
 * they hit the limit as well.
 *
 * Scope: attempt. Each HTTP attempt is a request the provider counts, and the response headers belong to an
 * attempt. A wait never passes the call's deadline: when the store asks for longer than the time left, the attempt
 * fails at once with `RateLimitError` (code `local_rate_limit`, `retryAfterMs` = the wait). Waits sleep on the
 * call's clock, so the caller's abort and the total deadline cut them short.
 *
 * Stores. The default keeps the buckets in this process (`memoryRateLimitStore()`); `redisStore()` from
 * `llm-fiber/redis` shares them between processes with one atomic Lua script. Both read the clock the middleware
 * passes (`Date.now()`), so processes sharing a store need synchronised clocks (NTP is plenty).
 */
import { defineMiddleware } from '../src/compose.js';
import type { CallContext } from '../src/context.js';
import { ConfigError, FiberError, RateLimitError } from '../src/errors.js';
import type { FiberContext, Middleware, NormalizedRequest } from '../src/types.js';

declare module '../src/types.js' {
  interface FiberState {
    /** Set by `rateLimit()` per attempt: the key and token estimate to settle when the usage is known. */
    rateLimit?: { key: string; estimate: number; settled: boolean };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The store interface

/** What one attempt takes from the buckets. A cost of 0 leaves that bucket alone. */
export interface RateLimitCosts {
  requests: number;
  tokens: number;
}

/** One bucket's limit: it refills `perMinute` units a minute, up to `capacity`. */
export interface BucketLimit {
  perMinute: number;
  capacity: number;
}

/** The buckets a key has; an absent one is not limited. */
export interface RateLimits {
  requests?: BucketLimit;
  tokens?: BucketLimit;
}

/** The outcome of `take`: granted, or how long to wait before asking again (nothing was taken). */
export type TakeResult =
  | { ok: true }
  | { ok: false; waitMs: number; reason?: 'requests' | 'tokens' | 'paused' };

/**
 * Where the buckets live. `take` must be atomic for a key: refill both buckets to `nowMs`, then take both costs or
 * neither. A cost larger than a bucket's capacity is granted once the bucket is full (the level goes negative, and
 * later takes wait for it to refill), so an oversized request is slowed, never refused.
 */
export interface RateLimitStore {
  take(key: string, costs: RateLimitCosts, limits: RateLimits, nowMs: number): Promise<TakeResult>;
  /** Charge (`tokenDelta > 0`) or give back (`< 0`) tokens once the real usage is known. */
  settle?(key: string, tokenDelta: number): Promise<void>;
  /** Grant nothing for `key` until `untilMs` (the server said its limit is spent). */
  pause?(key: string, untilMs: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// The in-memory store

/** One key's buckets: levels as of `ts` (ms), and the end of a server-requested pause. */
export interface BucketState {
  requests: number;
  tokens: number;
  ts: number;
  pausedUntil: number;
}

/**
 * Refill `state` to `nowMs` and try to take `costs`, in place. The reference algorithm: the Redis store's Lua
 * script does exactly this, so both stores grant the same.
 * @internal exported for the store tests
 */
export function takeFromBuckets(state: BucketState, costs: RateLimitCosts, limits: RateLimits, nowMs: number): TakeResult {
  const elapsed = Math.max(0, nowMs - state.ts);
  state.ts = Math.max(state.ts, nowMs);
  const r = limits.requests;
  const t = limits.tokens;
  if (r !== undefined) state.requests = Math.min(r.capacity, state.requests + elapsed * (r.perMinute / 60_000));
  if (t !== undefined) state.tokens = Math.min(t.capacity, state.tokens + elapsed * (t.perMinute / 60_000));
  if (state.pausedUntil > nowMs) return { ok: false, waitMs: Math.ceil(state.pausedUntil - nowMs), reason: 'paused' };
  let waitMs = 0;
  let reason: 'requests' | 'tokens' = 'requests';
  if (r !== undefined && costs.requests > 0) {
    const need = Math.min(costs.requests, r.capacity);
    if (state.requests < need) waitMs = (need - state.requests) / (r.perMinute / 60_000);
  }
  if (t !== undefined && costs.tokens > 0) {
    const need = Math.min(costs.tokens, t.capacity);
    if (state.tokens < need) {
      const w = (need - state.tokens) / (t.perMinute / 60_000);
      if (w > waitMs) { waitMs = w; reason = 'tokens'; }
    }
  }
  if (waitMs > 0) return { ok: false, waitMs: Math.ceil(waitMs), reason };
  if (r !== undefined) state.requests -= costs.requests;
  if (t !== undefined) state.tokens -= costs.tokens;
  return { ok: true };
}

/**
 * The default store: buckets in this process's memory. Pass one instance to several `rateLimit()` middleware
 * (or Fibers) to make them share limits.
 * @example const store = memoryRateLimitStore(); fiberA.use(rateLimit({ requestsPerMinute: 500, store })); fiberB.use(rateLimit({ requestsPerMinute: 500, store }))
 */
export function memoryRateLimitStore(): RateLimitStore {
  const buckets = new Map<string, BucketState>();
  const stateOf = (key: string, limits: RateLimits | null, nowMs: number): BucketState => {
    let s = buckets.get(key);
    if (s === undefined) {
      // A new key starts with full buckets.
      s = { requests: limits?.requests?.capacity ?? 0, tokens: limits?.tokens?.capacity ?? 0, ts: nowMs, pausedUntil: 0 };
      buckets.set(key, s);
    }
    return s;
  };
  return {
    take(key, costs, limits, nowMs) {
      return Promise.resolve(takeFromBuckets(stateOf(key, limits, nowMs), costs, limits, nowMs));
    },
    settle(key, tokenDelta) {
      const s = buckets.get(key);
      // Above capacity is fine for a moment: the next take clamps it while refilling.
      if (s !== undefined) s.tokens -= tokenDelta;
      return Promise.resolve();
    },
    pause(key, untilMs) {
      const s = buckets.get(key);
      if (s !== undefined) s.pausedUntil = Math.max(s.pausedUntil, untilMs);
      // No buckets yet: levels refill to full at the first take, whatever its clock.
      else buckets.set(key, { requests: Infinity, tokens: Infinity, ts: -Infinity, pausedUntil: untilMs });
      return Promise.resolve();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The middleware

/** Options of `rateLimit()`. See `docs/features/retries-and-budgets.md#rate-limits`. */
export interface RateLimitOptions {
  /** Requests a minute, per key. Absent: requests are not counted (server headers still apply). */
  requestsPerMinute?: number;
  /** Tokens (prompt + completion) a minute, per key. Absent: tokens are not counted. */
  tokensPerMinute?: number;
  /**
   * Bucket capacities: how much may go at once after a quiet spell. Providers enforce per-minute limits over
   * shorter windows too (OpenAI: "60,000 requests/minute may be enforced as 1,000 requests/second"), hence one
   * second's worth by default.
   * @default { requests: ceil(requestsPerMinute / 60), tokens: ceil(tokensPerMinute / 60) }
   */
  burst?: { requests?: number; tokens?: number };
  /**
   * Where the buckets live; share a store to share limits.
   * @default a new memoryRateLimitStore() per middleware
   */
  store?: RateLimitStore;
  /**
   * What a bucket is keyed by: the provider name, or `provider:model`.
   * @default 'provider'
   */
  key?: 'provider' | 'model';
  /**
   * Tokens an attempt will use, reserved before it is sent and settled with the real usage afterwards.
   * @default characters of the messages' text / 4, plus `maxTokens` when set
   */
  estimateTokens?: (request: NormalizedRequest) => number;
  /**
   * Pause the key until the server's reset time when its remaining count is at or below this.
   * @default { requests: 0, tokens: 0 }
   */
  headroom?: { requests?: number; tokens?: number };
  /**
   * Read the provider's rate-limit headers (and 429 waits) to pause before the limit is hit.
   * @default true
   */
  serverHeaders?: boolean;
  /**
   * When the store fails to take (Redis unreachable): `'fail'` fails the attempt with a `FiberError`
   * (`rate_limit_store_failed`, not retryable); `'allow'` logs a warn record and sends the call unlimited, as a
   * proxy that would rather over-send than go down with its limiter.
   * @default 'fail'
   */
  onStoreError?: 'fail' | 'allow';
  /**
   * How long a store call may take before it counts as a store failure (`rate_limit_store_failed`, or a pass with
   * `onStoreError: 'allow'`). A Redis client that queues commands while it reconnects would otherwise hold calls
   * until their deadline. Store calls never outlive the call's own deadline or signal either.
   * @default 1000
   */
  storeTimeoutMs?: number;
}

const KEYS = new Set(['requestsPerMinute', 'tokensPerMinute', 'burst', 'store', 'key', 'estimateTokens', 'headroom', 'serverHeaders', 'onStoreError', 'storeTimeoutMs']);

/**
 * Pace calls to a requests-per-minute and tokens-per-minute limit with token buckets (waiting on the call's
 * clock, failing fast with `RateLimitError` code `local_rate_limit` when the wait would pass the deadline), and
 * pause when the provider's `x-ratelimit-*` / `anthropic-ratelimit-*` headers say the limit is nearly spent.
 * @example fiber.use(rateLimit({ requestsPerMinute: 500, tokensPerMinute: 200_000, store: redisStore(client) }))
 */
export function rateLimit(options: RateLimitOptions = {}): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('rateLimit: options must be an object');
  for (const k of Object.keys(options)) {
    if (!KEYS.has(k)) throw new ConfigError(`rateLimit: unknown option "${k}" (known: ${[...KEYS].join(', ')})`);
  }
  const positive = (name: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`rateLimit: ${name} must be a finite number > 0`);
    return v;
  };
  const rpm = positive('requestsPerMinute', options.requestsPerMinute);
  const tpm = positive('tokensPerMinute', options.tokensPerMinute);
  const burst = objectOption('burst', options.burst, ['requests', 'tokens']);
  const headroomOpt = objectOption('headroom', options.headroom, ['requests', 'tokens']);
  const limits: RateLimits = {};
  if (rpm !== undefined) limits.requests = { perMinute: rpm, capacity: positive('burst.requests', burst.requests) ?? Math.ceil(rpm / 60) };
  else if (burst.requests !== undefined) throw new ConfigError('rateLimit: burst.requests needs requestsPerMinute');
  if (tpm !== undefined) limits.tokens = { perMinute: tpm, capacity: positive('burst.tokens', burst.tokens) ?? Math.ceil(tpm / 60) };
  else if (burst.tokens !== undefined) throw new ConfigError('rateLimit: burst.tokens needs tokensPerMinute');
  Object.freeze(limits);
  const headroom = { requests: nonNegative('headroom.requests', headroomOpt.requests), tokens: nonNegative('headroom.tokens', headroomOpt.tokens) };
  const store = options.store ?? memoryRateLimitStore();
  if (store === null || typeof store !== 'object' || typeof store.take !== 'function') {
    throw new ConfigError('rateLimit: `store` must be a RateLimitStore (an object with take())');
  }
  const keyMode = options.key ?? 'provider';
  if (keyMode !== 'provider' && keyMode !== 'model') throw new ConfigError("rateLimit: `key` must be 'provider' or 'model'");
  const estimate = options.estimateTokens ?? estimateRequestTokens;
  if (typeof estimate !== 'function') throw new ConfigError('rateLimit: `estimateTokens` must be a function');
  const serverHeaders = options.serverHeaders ?? true;
  if (typeof serverHeaders !== 'boolean') throw new ConfigError('rateLimit: `serverHeaders` must be a boolean');
  const onStoreError = options.onStoreError ?? 'fail';
  if (onStoreError !== 'fail' && onStoreError !== 'allow') throw new ConfigError("rateLimit: `onStoreError` must be 'fail' or 'allow'");
  const storeTimeoutMs = positive('storeTimeoutMs', options.storeTimeoutMs) ?? 1_000;

  /** A store call, bounded by `storeTimeoutMs` and by the call's signal (its deadline, the caller's abort). */
  const storeCall = <T>(ctx: FiberContext, what: string, op: () => Promise<T> | T): Promise<T> => {
    const signal = ctx.signal;
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) { reject(signal.reason); return; }
      const cleanup = () => { clearTimeout(timer); signal.removeEventListener('abort', onAbort); };
      const onAbort = () => { cleanup(); reject(signal.reason); };
      const timer = setTimeout(() => {
        cleanup();
        reject(new FiberError(`rate limit: the store did not answer ${what} within ${storeTimeoutMs} ms`, { code: 'rate_limit_store_failed' }));
      }, storeTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve().then(op).then((v) => { cleanup(); resolve(v); }, (e: unknown) => { cleanup(); reject(e); });
    });
  };
  const countTokens = limits.tokens !== undefined;
  const requestCost = limits.requests !== undefined ? 1 : 0;
  const canPause = serverHeaders && typeof store.pause === 'function';
  const canSettle = countTokens && typeof store.settle === 'function';

  const keyOf = keyMode === 'model' ? (ctx: FiberContext) => `${ctx.provider}:${ctx.model}` : (ctx: FiberContext) => ctx.provider;

  /** Take this attempt's costs, waiting as long as the store says, but never past the deadline. */
  const acquire = async (ctx: CallContext, key: string, costs: RateLimitCosts): Promise<boolean> => {
    for (;;) {
      let r: Awaited<ReturnType<RateLimitStore['take']>>;
      try {
        r = await storeCall(ctx, 'take', () => store.take(key, costs, limits, Date.now()));
      } catch (e) {
        if (onStoreError === 'fail') throw e;
        ctx.log('warn', `rate limit: the store failed; "${key}" goes unlimited for this attempt`, { key, error: errorText(e) });
        return false;
      }
      if (r.ok) return true;
      const waitMs = Math.max(0, r.waitMs);
      const reason = r.reason ?? 'limit';
      const remaining = remainingMsOf(ctx);
      if (waitMs >= remaining) {
        ctx.log('warn', `rate limit: not waiting ${waitMs} ms for "${key}" (${reason}): it would pass the call's deadline`, {
          key, waitMs, reason, remainingMs: Math.round(remaining),
        });
        // Retryable, so a fallback policy may try another model; the attempt loop itself will not retry it, as
        // the wait it names is longer than the time left.
        throw new RateLimitError(
          `${ctx.provider} ${ctx.model}: local rate limit of "${key}" (${reason}) needs a ${waitMs} ms wait, past the call's deadline`,
          { code: 'local_rate_limit', retryable: true, retryAfterMs: waitMs, provider: ctx.provider, model: ctx.model, attempts: ctx.attempt },
        );
      }
      ctx.log(reason === 'paused' ? 'warn' : 'info', `rate limit: waiting ${waitMs} ms for "${key}" (${reason})`, {
        key, waitMs, reason, requests: costs.requests, tokens: costs.tokens,
      });
      await sleepOn(ctx, waitMs);
    }
  };

  /** Settle the reservation with the real usage (once). A failing store must not fail a call that succeeded. */
  const settle = async (ctx: FiberContext, total: number): Promise<void> => {
    const st = ctx.state.rateLimit;
    if (st === undefined || st.settled || !canSettle) return;
    st.settled = true;
    // A usage of 0 means the provider reported none: keep the estimate rather than refund it all.
    if (!(total > 0)) return;
    const delta = total - st.estimate;
    if (delta === 0) return;
    try {
      await storeCall(ctx, 'settle', () => store.settle!(st.key, delta));
    } catch (e) {
      ctx.log('warn', 'rate limit: could not settle the token reservation', { key: st.key, error: errorText(e) });
    }
  };

  /** Pause the key when the response headers (or a 429's wait) say the server's limit is spent. */
  const observe = async (ctx: FiberContext, key: string, before: FiberContext['responseHeaders'], err: unknown): Promise<void> => {
    if (!canPause) return;
    const nowMs = Date.now();
    let untilMs = 0;
    let why = '';
    const header = ctx.responseHeaders;
    if (header !== undefined && header !== before) {
      const hit = serverLimitHit(header, headroom, nowMs);
      if (hit !== null) { untilMs = hit.untilMs; why = hit.why; }
    }
    if (err instanceof RateLimitError && err.status === 429 && typeof err.retryAfterMs === 'number' && nowMs + err.retryAfterMs > untilMs) {
      untilMs = nowMs + err.retryAfterMs;
      why = `429 with a ${err.retryAfterMs} ms wait`;
    }
    if (untilMs <= nowMs) return;
    const pauseMs = untilMs - nowMs;
    ctx.log('warn', `rate limit: pausing "${key}" for ${pauseMs} ms: ${why}`, { key, pauseMs, reason: why });
    try {
      await storeCall(ctx, 'pause', () => store.pause!(key, untilMs));
    } catch (e) {
      ctx.log('warn', 'rate limit: could not pause the key in the store', { key, error: errorText(e) });
    }
  };

  return defineMiddleware({
    name: 'rateLimit',
    scope: 'attempt',
    async handle(ctx, next) {
      const c = ctx as CallContext;
      const key = keyOf(ctx);
      let tokens = 0;
      if (countTokens) {
        tokens = estimate(ctx.request);
        if (typeof tokens !== 'number' || !Number.isFinite(tokens) || tokens < 0) {
          throw new ConfigError(`rateLimit: estimateTokens returned ${String(tokens)}; expected a finite number >= 0`, { provider: ctx.provider, model: ctx.model });
        }
        tokens = Math.ceil(tokens);
      }
      const reserved = await acquire(c, key, { requests: requestCost, tokens });
      // Without a reservation (a store failure let the call through) there is nothing to settle afterwards.
      ctx.state.rateLimit = { key, estimate: tokens, settled: !reserved };
      const before = ctx.responseHeaders;
      try {
        await next();
      } catch (e) {
        await observe(ctx, key, before, e);
        throw e;
      }
      await observe(ctx, key, before, undefined);
      if (ctx.kind === 'chat' && ctx.result !== undefined) await settle(ctx, ctx.result.usage.total);
    },
    events: ['done'],
    onEvent(event, ctx) {
      if (event.type !== 'done' || !canSettle) return undefined;
      // Returns a promise only for `done`: one store round trip at the end of a stream, none per chunk.
      return settle(ctx, event.result.usage.total).then(() => undefined);
    },
  });
}

/**
 * The default token estimate: the characters of the messages' text and tool-call arguments / 4 (a rough English
 * average), plus `maxTokens` when set, as the completion may use that many.
 */
export function estimateRequestTokens(request: NormalizedRequest): number {
  let chars = 0;
  for (const m of request.messages) {
    const content = m.content;
    if (typeof content === 'string') chars += content.length;
    else for (const part of content) if (part.type === 'text') chars += part.text.length;
    if (m.toolCalls !== undefined) {
      for (const tc of m.toolCalls) chars += tc.name.length + JSON.stringify(tc.arguments ?? {}).length;
    }
  }
  return Math.ceil(chars / 4) + (request.maxTokens ?? 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Server headers

/** [remaining header, reset header, bucket kind, reset format]. Lower-case names, as `responseHeaders` wants. */
const OPENAI_HEADERS = [
  ['x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'requests'],
  ['x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens', 'tokens'],
] as const;
const ANTHROPIC_HEADERS = [
  ['anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset', 'requests'],
  ['anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-reset', 'tokens'],
  ['anthropic-ratelimit-input-tokens-remaining', 'anthropic-ratelimit-input-tokens-reset', 'tokens'],
  ['anthropic-ratelimit-output-tokens-remaining', 'anthropic-ratelimit-output-tokens-reset', 'tokens'],
] as const;

/**
 * When the server says a limit is spent (remaining at or below the headroom), the time it resets (ms since the
 * epoch) and why; null otherwise. Reads the reset header only when needed: a healthy response costs two lookups.
 * @internal exported for tests
 */
export function serverLimitHit(
  header: (name: string) => string | undefined,
  headroom: { requests: number; tokens: number },
  nowMs: number,
): { untilMs: number; why: string } | null {
  let untilMs = 0;
  let why = '';
  let sawOpenAI = false;
  for (const [remainingName, resetName, kind] of OPENAI_HEADERS) {
    const remaining = header(remainingName);
    if (remaining === undefined) continue;
    sawOpenAI = true;
    const left = Number(remaining);
    if (!(left <= headroom[kind])) continue;
    const reset = header(resetName);
    const ms = reset === undefined ? null : parseDurationMs(reset);
    if (ms !== null && nowMs + ms > untilMs) {
      untilMs = nowMs + ms;
      why = `${remainingName}: ${remaining}, ${resetName}: ${reset}`;
    }
  }
  if (sawOpenAI) return untilMs > nowMs ? { untilMs, why } : null;
  for (const [remainingName, resetName, kind] of ANTHROPIC_HEADERS) {
    const remaining = header(remainingName);
    if (remaining === undefined) continue;
    const left = Number(remaining);
    if (!(left <= headroom[kind])) continue;
    const reset = header(resetName);
    const at = reset === undefined ? NaN : Date.parse(reset);
    if (Number.isFinite(at) && at > untilMs) {
      untilMs = at;
      why = `${remainingName}: ${remaining}, ${resetName}: ${reset}`;
    }
  }
  return untilMs > nowMs ? { untilMs, why } : null;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000_001 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;

/**
 * A Go-style duration as OpenAI sends it (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) in ms; a bare number is seconds.
 * @internal exported for tests
 */
export function parseDurationMs(value: string): number | null {
  const v = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(v)) return Number(v) * 1_000;
  if (!DURATION.test(v)) return null;
  let ms = 0;
  for (const m of v.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function objectOption(name: string, v: unknown, keys: readonly string[]): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`rateLimit: ${name} must be an object`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new ConfigError(`rateLimit: unknown option "${name}.${k}" (known: ${keys.join(', ')})`);
  return v as Record<string, unknown>;
}

function nonNegative(name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`rateLimit: ${name} must be a finite number >= 0`);
  return v;
}

/** Time left before the call's total deadline (Infinity when the context has no clock). */
function remainingMsOf(ctx: CallContext): number {
  return typeof ctx.remainingMs === 'function' ? ctx.remainingMs() : Infinity;
}

/** Sleep on the call's clock, so its abort and deadline cut the wait short. */
function sleepOn(ctx: CallContext, ms: number): Promise<void> {
  if (typeof ctx.sleep === 'function') return ctx.sleep(ms);
  const signal = (ctx as FiberContext).signal;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    const onAbort = () => { clearTimeout(timer); reject(signal.reason); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function errorText(e: unknown): string {
  return e instanceof FiberError || e instanceof Error ? e.message : String(e);
}
