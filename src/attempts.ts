/**
 * The request/attempt boundary.
 *
 * The request-scope middleware run once per call; their innermost `next` is `runAttempts`, which runs the
 * attempt-scope middleware and the provider terminal once per HTTP attempt, following the retry policy that the
 * `retry()` middleware left on `ctx.retry`. Everything here happens before commit: for a stream the terminal
 * resolves when the first event is buffered (not delivered), so every failure the loop sees is a rejection and a
 * retry can never repeat text the caller already has. The call's one deadline (`ctx` clock) bounds attempts and
 * backoff sleeps alike: a wait that would pass it fails at once with the error that caused it.
 */
import { run } from './compose.js';
import type { CallContext } from './context.js';
import {
  AbortError, AuthError, BadRequestError, ConfigError, ConnectionError, ContentFilterError, FiberError, NotFoundError, OverloadedError, RateLimitError,
  ServerError, TimeoutError, toFiberError,
} from './errors.js';
import type { Middleware, RetryPolicy } from './types.js';

export interface AttemptRunner {
  attemptStack: readonly Middleware[];
  terminal: (ctx: CallContext) => Promise<void>;
}

/**
 * Run the call: the current model with its retries, then (when the `fallback` policy is on the context) each
 * fallback model in order, for failures that another model could fix. A model whose circuit breaker is open is
 * skipped while another candidate remains. Attempts are counted across models; the deadline is the call's.
 */
export async function runAttempts(ctx: CallContext, runner: AttemptRunner): Promise<void> {
  const plan = ctx.fallback;
  // The per-call list works with or without the fallback() middleware (which adds defaults and the breaker).
  const models = ctx.input.fallback ?? (plan === null ? EMPTY : plan.models);
  if (models.length === 0) {
    await runModel(ctx, runner);
    return;
  }
  const breaker = plan === null ? null : plan.breaker;
  const candidates: Array<{ name: string; provider: string; model: string; key: string }> = [
    { name: ctx.modelName, provider: ctx.provider, model: ctx.model, key: `${ctx.provider}:${ctx.model}` },
  ];
  const rt = ctx.runtime;
  for (const name of models) {
    const r = rt.registry.resolve(name, { known: rt.known });
    candidates.push({ name, provider: r.provider, model: r.model, key: `${r.provider}:${r.model}` });
  }
  // The breaker only steers between alternatives. With every candidate cooling down, the first (preferred) one is
  // tried. Otherwise a model is skipped while it cools down and a later candidate remains; `allows()` is asked
  // only right before a model would be tried, so a half-open probe is claimed only by a call that makes it.
  const allOpen = breaker !== null && candidates.every((c) => breaker.state(c.key) === 'open');
  let lastError: FiberError | null = null;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const isLast = i === candidates.length - 1;
    if (allOpen ? i > 0 : breaker !== null && !isLast && !breaker.allows(c.key)) {
      if (!allOpen) ctx.log('warn', `skipping ${c.key}: circuit breaker open`, { kind: 'breaker_skip', provider: c.provider, model: c.model });
      continue;
    }
    if (c.provider !== ctx.provider || c.model !== ctx.model) {
      ctx.log('warn', `falling back to ${c.key}${lastError ? ` after ${reasonOf(lastError)}` : ''}`, {
        kind: 'fallback', provider: c.provider, model: c.model, from: `${ctx.provider}:${ctx.model}`,
        reason: lastError ? reasonOf(lastError) : 'breaker open',
      });
      ctx.provider = c.provider;
      ctx.model = c.model;
      ctx.modelName = c.name;
      ctx.request = { ...ctx.request, model: c.model };
    }
    try {
      await runModel(ctx, runner);
      breaker?.success(c.key);
      return;
    } catch (e) {
      const err = e as FiberError;
      if (ctx.abortReason !== null || ctx.committed) { breaker?.settle(c.key); throw err; }
      if (!canFallBack(err)) {
        breaker?.settle(c.key);
        throw err;
      }
      breaker?.failure(c.key);
      lastError = err;
      if (allOpen) throw err;
    }
  }
  throw lastError!;
}

const EMPTY: readonly string[] = Object.freeze([]);

/** Failures another model could fix: retryable or provider-side; never the caller's (400/401/403/404/422). */
export function canFallBack(err: FiberError): boolean {
  if (err instanceof AbortError || err instanceof ConfigError) return false;
  if (err instanceof TimeoutError) return err.phase !== 'total';
  if (err instanceof BadRequestError || err instanceof AuthError || err instanceof NotFoundError || err instanceof ContentFilterError) return false;
  // A host that cannot be reached at all (DNS, a rejected TLS certificate) is not worth retrying, but another
  // provider's host may well work.
  if (err instanceof ConnectionError) return err.code !== 'closed';
  return err.retryable === true || (err.status !== undefined && err.status >= 500) || err instanceof RateLimitError || err instanceof OverloadedError || err instanceof ServerError;
}

/** One model's attempts: retry per the policy until success, a final error, or the deadline. */
async function runModel(ctx: CallContext, runner: AttemptRunner): Promise<void> {
  const { attemptStack, terminal } = runner;
  const last = () => terminal(ctx);
  for (let tries = 1; ; tries++) {
    ctx.attempt++;
    try {
      if (attemptStack.length === 0) await terminal(ctx);
      else await run(attemptStack, ctx, last);
      return;
    } catch (e) {
      const err = toFiberError(e, { provider: ctx.provider, model: ctx.model });
      err.attempts = ctx.attempt;
      // A cancelled call reports why it was cancelled (total deadline, caller abort), not the symptom.
      if (ctx.abortReason !== null) { ctx.abortReason.attempts = ctx.attempt; throw ctx.abortReason; }
      const policy = ctx.retry;
      if (policy === null || ctx.committed || tries > policy.retries || !isRetryable(err)) throw err;
      if (policy.retryIf !== undefined && !policy.retryIf(err, ctx.attempt)) throw err;
      const serverWait = retryAfterOf(err);
      const delayMs = serverWait ?? backoffMs(policy, tries);
      const facts = { attempt: ctx.attempt, delayMs, reason: reasonOf(err), error: err.name, httpStatus: err.status, code: err.code };
      if (delayMs >= ctx.remainingMs()) {
        ctx.log('warn', `not retrying: the wait (${Math.round(delayMs)} ms) would pass the call's deadline`, { kind: 'retry_skipped', ...facts });
        throw err;
      }
      if (policy.budget !== undefined && !policy.budget.withdraw()) {
        ctx.log('warn', `not retrying ${reasonOf(err)}: the retry budget is spent (too many retries for the traffic)`, { kind: 'retry_skipped', budget: true, ...facts });
        throw err;
      }
      ctx.log('warn', `retrying in ${Math.round(delayMs)} ms after ${reasonOf(err)}`, { kind: 'retry', ...facts, serverRequested: serverWait !== undefined });
      if (delayMs > 0) await ctx.sleep(delayMs);
      else if (ctx.abortReason !== null) throw ctx.abortReason;
    }
  }
}

/** Whether an error may be retried at all (before the policy's own limits). */
export function isRetryable(err: FiberError): boolean {
  if (err instanceof AbortError) return false;
  if (err instanceof TimeoutError && err.phase === 'total') return false;
  return err.retryable === true;
}

function retryAfterOf(err: FiberError): number | undefined {
  const v = (err as RateLimitError).retryAfterMs;
  return typeof v === 'number' && v >= 0 ? v : undefined;
}

/** Capped exponential backoff with jitter in [base/2, base]. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * Math.pow(policy.factor, attempt - 1));
  return policy.jitter ? base / 2 + Math.random() * (base / 2) : base;
}

/** A short human reason for logs: "429 rate_limit_exceeded", "TimeoutError (first_event)", "ConnectionError ECONNRESET". */
export function reasonOf(err: FiberError): string {
  if (err instanceof TimeoutError) return `TimeoutError (${err.phase})`;
  const parts: string[] = [];
  if (err.status !== undefined) parts.push(String(err.status));
  else parts.push(err.name);
  if (err.code) parts.push(err.code);
  return parts.join(' ');
}
