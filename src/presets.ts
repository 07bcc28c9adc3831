import { fallback } from '../middleware/fallback.js';
import { logging } from '../middleware/logging.js';
import { metrics } from '../middleware/metrics.js';
import { normalize } from '../middleware/normalize.js';
import { retry, type RetryOptions } from '../middleware/retry.js';
import { route } from '../middleware/route.js';
import { timeout } from '../middleware/timeout.js';
import type { Timeouts, TimeoutsInit } from './timeouts.js';
import type { LoggerLike, Middleware } from './types.js';

export interface PresetOptions {
  /** Retry policy, or false for a single attempt. @default 2 retries, jittered exponential backoff */
  retry?: RetryOptions | false;
  /** Timeouts applied over the Fiber's. @default the Fiber's `timeouts` */
  timeouts?: Timeouts | TimeoutsInit;
  /** pino-compatible logger: adds `logging()` outermost (prod: info lines; dev: debug with redacted bodies). */
  logger?: LoggerLike;
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
    const log = options.logger ? [logging({ logger: options.logger })] : [];
    return [...log, metrics(), normalize(), route(), timeout(options.timeouts), retry(options.retry ?? {}), fallback()];
  },
  /**
   * The stack for development: the prod stack, with debug logging of (redacted) request and response bodies.
   * @example new Fiber({ preset: 'dev' })
   */
  dev(options: PresetOptions = {}): Middleware[] {
    const { logger, ...rest } = options;
    const log = logger ? [logging({ logger, level: 'debug', bodies: true })] : [];
    return [...log, ...presets.prod(rest)];
  },
};
