/**
 * The Gemini adapter factory. The stages live beside it: `prepare.ts` (request), `parse.ts` (JSON body),
 * `stream.ts` (SSE decoder), `errors.ts` (error responses), `wire.ts` (wire types).
 */
import { ConfigError } from '../../src/errors.js';
import { validateHeaders } from '../../src/headers.js';
import { validateBaseUrl } from '../../src/validate-base-url.js';
import type { NormalizedRequest, Provider, ProviderEnv, ResponseInfo } from '../../src/types.js';
import { geminiError } from './errors.js';
import { parseGenerateContent } from './parse.js';
import { type GeminiApiVersion, prepareGenerateContent } from './prepare.js';
import { GeminiStreamDecoder } from './stream.js';

export { geminiError, geminiStreamError, retryDelayMs } from './errors.js';
export { mapFinishReason, mapUsage, parseGenerateContent } from './parse.js';
export { type GeminiApiVersion, prepareGenerateContent } from './prepare.js';
export { GeminiStreamDecoder } from './stream.js';

/** Options of `gemini()`. Anything left out falls back to the Fiber's `apiKeys` / `baseUrls` / `headers`. */
export interface GeminiOptions {
  /** API key, sent as `x-goog-api-key`; absent → the Fiber's `apiKeys.gemini` (or `GEMINI_API_KEY` / `GOOGLE_API_KEY` with `Fiber.fromEnv`). */
  apiKey?: string;
  /**
   * Base URL without the version path, as the official SDK takes it.
   * @default 'https://generativelanguage.googleapis.com'
   */
  baseUrl?: string;
  /** Headers sent on every request of this adapter. */
  headers?: Record<string, string>;
  /**
   * Name the adapter registers under (an adapter named like a built-in replaces it).
   * @default 'gemini'
   */
  name?: string;
  /**
   * API version path segment.
   * @default 'v1beta'
   */
  apiVersion?: GeminiApiVersion;
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['apiKey', 'baseUrl', 'headers', 'name', 'apiVersion']);

/**
 * Create the Gemini (`generateContent` / `streamGenerateContent`) adapter.
 *
 * @example
 * import { Fiber } from 'llm-fiber';
 * import { gemini } from 'llm-fiber/providers';
 * const fiber = new Fiber({ providers: [gemini({ apiVersion: 'v1' })] });
 */
export function gemini(options: GeminiOptions = {}): Provider {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new ConfigError('gemini: options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new ConfigError(`gemini: unknown option '${key.slice(0, 50)}'`);
  }
  const { apiKey, baseUrl, headers, name = 'gemini', apiVersion = 'v1beta' } = options;
  if (typeof name !== 'string' || name === '') throw new ConfigError('gemini: `name` must be a non-empty string');
  const label = name;
  if (apiVersion !== 'v1beta' && apiVersion !== 'v1') throw new ConfigError(`${label}: \`apiVersion\` must be 'v1beta' or 'v1'`);
  // Never echo the key: only say what is wrong with it.
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) throw new ConfigError(`${label}: \`apiKey\` must be a non-empty string`);
  const url = baseUrl === undefined ? undefined : validateBaseUrl(baseUrl, `${label}: \`baseUrl\``, { noQuery: true });
  const checkedHeaders = headers === undefined ? undefined : validateHeaders(headers, `${label}() headers`);

  const adapterOptions: { apiKey?: string; baseUrl?: string; headers?: Record<string, string> } = {};
  if (apiKey !== undefined) adapterOptions.apiKey = apiKey;
  if (url !== undefined) adapterOptions.baseUrl = url;
  if (checkedHeaders !== undefined) adapterOptions.headers = checkedHeaders;

  return {
    name,
    defaultBaseUrl: 'https://generativelanguage.googleapis.com',
    envKeys: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'],
    options: adapterOptions,
    // Gemini documents no idempotency header; sending one would only be noise.
    idempotencyHeader: null,
    // Gemini usually sends no request id; a proxy in front of it may.
    requestIdHeader: 'x-request-id',
    prepare: (req: NormalizedRequest, env: ProviderEnv) => prepareGenerateContent(req, env, name, apiVersion),
    parse: parseGenerateContent,
    stream: (res: ResponseInfo) => new GeminiStreamDecoder(res),
    error: geminiError,
  };
}
