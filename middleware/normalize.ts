import { defineMiddleware } from '../src/compose.js';
import type { CallContext } from '../src/context.js';
import { ConfigError } from '../src/errors.js';
import { normalizeRequest } from '../src/request.js';
import type { Middleware } from '../src/types.js';

/**
 * Validate the caller's request and normalize its messages, before any I/O. Bad input (unknown role, empty
 * messages, non-string content, a tool message without an id, no model and no default, unknown options, CR/LF in a
 * header) rejects with a `ConfigError` naming what is wrong. The Fiber adds it first when a stack lacks it.
 * @example fiber.use(normalize()) // already part of every preset
 */
export function normalize(options?: Record<string, never>): Middleware {
  if (options !== undefined && (options === null || typeof options !== 'object' || Object.keys(options).length > 0)) {
    throw new ConfigError('normalize: takes no options');
  }
  return defineMiddleware({
    name: 'normalize',
    handle(ctx, next) {
      const c = ctx as CallContext;
      const { request, modelName } = normalizeRequest(c.input, c.kind === 'stream', c.runtime.defaultModel);
      c.request = request;
      c.modelName = modelName;
      return next();
    },
  });
}
