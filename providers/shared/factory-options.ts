/**
 * The option checks every built-in adapter factory makes, once, when it is called (STYLE §3: validate in the
 * factory, never per request). Each factory checks its own options in between, in its own order.
 */
import { ConfigError } from '../../src/errors.js';
import { validateHeaders } from '../../src/headers.js';
import { validateBaseUrl } from '../../src/validate-base-url.js';

/** The connection settings an adapter keeps as `Provider.options`; absent ones fall back to the Fiber's. */
export interface AdapterConnection {
  apiKey?: string;
  baseUrl?: string;
  headers?: Record<string, string>;
}

/**
 * Throws `ConfigError` unless `options` is a plain object whose keys are all `known` (an unknown key is a typo,
 * never ignored).
 *
 * @param factory - the factory's name, for the message (`'openai'`)
 * @example
 * checkFactoryOptions('openai', options, KNOWN_OPTIONS);
 */
export function checkFactoryOptions(factory: string, options: unknown, known: ReadonlySet<string>): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ConfigError(`${factory}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new ConfigError(`${factory}: unknown option '${key.slice(0, 50)}'`);
  }
}

/** Throws `ConfigError` unless the adapter's `name` is a non-empty string. */
export function checkAdapterName(factory: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new ConfigError(`${factory}: \`name\` must be a non-empty string`);
}

/** Throws `ConfigError` unless `apiKey` is absent or a non-empty string. Never echoes the key. */
export function checkApiKey(label: string, apiKey: unknown): asserts apiKey is string | undefined {
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) throw new ConfigError(`${label}: \`apiKey\` must be a non-empty string`);
}

/**
 * The adapter's own connection settings, validated: `baseUrl` (normalized, no credentials; no query string with
 * `noQuery`) and `headers` (lower-cased names, no CR/LF). Only the given ones are set.
 *
 * @param label - the adapter's name, for messages
 * @param apiKey - already checked with `checkApiKey`
 * @param options.noQuery - refuse a base URL with a query string (a key there would leak into logs)
 * @param options.headersLabel - how messages name the headers option @default `<label>: \`headers\``
 */
export function adapterConnection(
  label: string,
  apiKey: string | undefined,
  baseUrl: unknown,
  headers: unknown,
  options: { noQuery?: boolean; headersLabel?: string } = {},
): AdapterConnection {
  const url = baseUrl === undefined ? undefined : validateBaseUrl(baseUrl, `${label}: \`baseUrl\``, { noQuery: options.noQuery === true });
  const checkedHeaders = headers === undefined ? undefined : validateHeaders(headers, options.headersLabel ?? `${label}: \`headers\``);
  const connection: AdapterConnection = {};
  if (apiKey !== undefined) connection.apiKey = apiKey;
  if (url !== undefined) connection.baseUrl = url;
  if (checkedHeaders !== undefined) connection.headers = checkedHeaders;
  return connection;
}
