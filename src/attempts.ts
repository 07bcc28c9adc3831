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
import { AbortError, FiberError, RateLimitError, TimeoutError, toFiberError } from './errors.js';
import type { Middleware, RetryPolicy } from './types.js';

export interface AttemptRunner {
  attemptStack: readonly Middleware[];
  terminal: (ctx: CallContext) => Promise<void>;
}

/** Run attempts until one succeeds, the policy says stop, or the deadline passes. */
export async function runAttempts(ctx: CallContext, runner: AttemptRunner): Promise<void> {
  const { attemptStack, terminal } = runner;
  const last = () => terminal(ctx);
  for (;;) {
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
      if (policy === null || ctx.committed || ctx.attempt > policy.retries || !isRetryable(err)) throw err;
      if (policy.retryIf !== undefined && !policy.retryIf(err, ctx.attempt)) throw err;
      const serverWait = retryAfterOf(err);
      const delayMs = serverWait ?? backoffMs(policy, ctx.attempt);
      if (delayMs >= ctx.remainingMs()) {
        ctx.log('warn', `not retrying: the wait (${Math.round(delayMs)} ms) would pass the call's deadline`, {
          kind: 'retry_skipped', attempt: ctx.attempt, delayMs, reason: reasonOf(err), error: err.name, status: err.status, code: err.code,
        });
        throw err;
      }
      ctx.log('warn', `retrying in ${Math.round(delayMs)} ms after ${reasonOf(err)}`, {
        kind: 'retry', attempt: ctx.attempt, delayMs, reason: reasonOf(err), error: err.name, status: err.status, code: err.code,
        serverRequested: serverWait !== undefined,
      });
      if (delayMs > 0) {
        try {
          await ctx.sleep(delayMs);
        } catch (abortErr) {
          throw abortErr;
        }
      } else if (ctx.abortReason !== null) {
        throw ctx.abortReason;
      }
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
