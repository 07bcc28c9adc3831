import { ConfigError } from './errors.js';

const cache = new Map<string, Promise<unknown>>();

/**
 * Import an optional peer dependency on first use. The promise is cached per specifier; a missing module becomes a
 * `ConfigError` that says what to install. Only `src/integrations/*` call this, so importing `llm-fiber` never
 * loads a peer.
 * @example const api = await loadPeer<typeof import('@opentelemetry/api')>('@opentelemetry/api', 'otel()');
 */
export function loadPeer<T>(specifier: string, feature: string): Promise<T> {
  let p = cache.get(specifier);
  if (p === undefined) {
    p = import(specifier).catch((err: NodeJS.ErrnoException) => {
      cache.delete(specifier);
      if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') {
        throw new ConfigError(`${feature} needs the optional dependency "${specifier}": npm install ${specifier}`, { code: 'missing_peer', cause: err });
      }
      throw err;
    });
    cache.set(specifier, p);
  }
  return p as Promise<T>;
}
