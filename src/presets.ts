import { fallback } from '../middleware/fallback.js';
import { metrics } from '../middleware/metrics.js';
import { normalize } from '../middleware/normalize.js';
import { retry, type RetryOptions } from '../middleware/retry.js';
import { route } from '../middleware/route.js';
import { timeout } from '../middleware/timeout.js';
import type { Timeouts, TimeoutsInit } from './timeouts.js';
import type { Middleware } from './types.js';

export interface PresetOptions {
  /** Retry policy, or false for a single attempt. @default 2 retries, jittered exponential backoff */
  retry?: RetryOptions | false;
  /** Timeouts applied over the Fiber's. @default the Fiber's `timeouts` */
  timeouts?: Timeouts | TimeoutsInit;
}

/**
 * Ready-made stacks. Order is outside-in: metrics wraps everything (it sees bad input, retries and the final
 * outcome), then validation and routing, then the call's timeouts and retry policy for the attempt loop.
 */
export const presets = {
  /**
   * The stack for production: metrics, normalize, route, timeout, retry, fallback (for per-call `fallback` lists).
   * @example new Fiber({ preset: 'none', middleware: presets.prod({ retry: { retries: 4 } }) })
   */
  prod(options: PresetOptions = {}): Middleware[] {
    return [metrics(), normalize(), route(), timeout(options.timeouts), retry(options.retry ?? {}), fallback()];
  },
  /**
   * The stack for development: the prod stack (debug logging of bodies arrives with the logging middleware).
   * @example new Fiber({ preset: 'dev' })
   */
  dev(options: PresetOptions = {}): Middleware[] {
    return presets.prod(options);
  },
};
