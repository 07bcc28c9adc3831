import { defineMiddleware } from '../src/compose.js';
import { ConfigError } from '../src/errors.js';
import { Timeouts, type TimeoutsInit } from '../src/timeouts.js';
import type { Middleware } from '../src/types.js';

/**
 * Per-phase timeouts for the calls passing through it: connect, headers/read, first event, idle between content
 * events, and total (one deadline for the whole call, retries and backoff included). `init` replaces the Fiber's
 * `timeouts` field by field; a per-call `timeout` still wins. The deadline itself is enforced by the call's clock
 * (`src/context.ts`), which aborts the request rather than racing it. Without `init` it keeps the Fiber's timeouts.
 * @example fiber.use(timeout({ firstEventMs: 5_000, idleMs: 10_000 }))
 */
export function timeout(init?: TimeoutsInit | Timeouts | number): Middleware {
  let over: Timeouts | null = null;
  if (init !== undefined) {
    if (typeof init !== 'number' && (init === null || typeof init !== 'object')) throw new ConfigError('timeout: expected a TimeoutsInit object or a number of ms');
    over = init instanceof Timeouts ? init : typeof init === 'number' ? new Timeouts({ totalMs: init }) : new Timeouts(init);
  }
  const explicit = over === null ? null : init instanceof Timeouts || typeof init === 'number' ? over.toInit() : (init as TimeoutsInit);
  return defineMiddleware({
    name: 'timeout',
    handle(ctx, next) {
      if (explicit !== null) {
        // this middleware's fields over the Fiber's, the caller's per-call `timeout` over both
        const perCall = ctx.input.timeout;
        ctx.timeouts = ctx.timeouts.merge(explicit).merge(perCall);
      }
      return next();
    },
  });
}
