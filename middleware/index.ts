/**
 * The built-in middleware factories (`llm-fiber/middleware`). Each is also re-exported from `llm-fiber`.
 * See `docs/adrs/0001-onion-middleware.md` for where each sits in the onion.
 */
export { normalize } from './normalize.js';
export { route, type RouteOptions } from './route.js';
export { timeout } from './timeout.js';
export { retry, retryPolicy, RetryBudget, type RetryOptions } from './retry.js';
export { metrics, type MetricsOptions } from './metrics.js';
export { logging, type LoggingOptions } from './logging.js';
export { redaction, type RedactionOptions, type RedactionState, type RedactionPatternName } from './redaction.js';
export { fallback, CircuitBreaker, type FallbackOptions, type BreakerOptions } from './fallback.js';
export { concurrency, type ConcurrencyOptions, type ConcurrencyMiddleware, type ConcurrencyStats } from './concurrency.js';
export {
  rateLimit, memoryRateLimitStore, estimateRequestTokens, type RateLimitOptions, type RateLimitStore, type RateLimits,
  type RateLimitCosts, type BucketLimit, type TakeResult,
} from './rate-limit.js';
