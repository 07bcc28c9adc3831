import { defineMiddleware } from '../src/compose.js';
import type { CallContext } from '../src/context.js';
import { ConfigError } from '../src/errors.js';
import { ModelRegistry } from '../src/routing.js';
import type { Middleware } from '../src/types.js';

export interface RouteOptions {
  /** Registry to resolve models with. @default the Fiber's `registry` */
  registry?: ModelRegistry;
}

/**
 * Resolve the request's model to a provider and wire model (`ModelRegistry` rules, `provider:model` names, the
 * per-call `provider` override). Sets `ctx.provider`, `ctx.model` and `ctx.request.model`.
 * @example fiber.use(route({ registry: new ModelRegistry().route({ prefix: 'llama', provider: 'ollama' }) }))
 */
export function route(options: RouteOptions = {}): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('route: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'registry') throw new ConfigError(`route: unknown option "${k}"`);
  const own = options.registry;
  if (own !== undefined && !(own instanceof ModelRegistry)) throw new ConfigError('route: `registry` must be a ModelRegistry');
  return defineMiddleware({
    name: 'route',
    handle(ctx, next) {
      const c = ctx as CallContext;
      const rt = c.runtime;
      const { provider, model } = (own ?? rt.registry).resolve(c.modelName, { provider: c.input.provider, known: rt.known });
      if (!rt.known.has(provider)) {
        throw new ConfigError(`route: model "${c.modelName}" routes to provider "${provider}", which is not registered (registered: ${[...rt.known].join(', ')})`, { provider, model });
      }
      c.provider = provider;
      c.model = model;
      if (c.request.model !== model) c.request = { ...c.request, model };
      return next();
    },
  });
}
