/**
 * The Gemini adapter factory. The stages live beside it: `prepare.ts` (request), `parse.ts` (JSON body),
 * `stream.ts` (SSE decoder), `errors.ts` (error responses), `wire.ts` (wire types).
 */
import { ConfigError } from '../../src/errors.js';
import type { NormalizedRequest, Provider, ProviderEnv, ResponseInfo } from '../../src/types.js';
import { adapterConnection, checkAdapterName, checkApiKey, checkFactoryOptions } from '../shared/factory-options.js';
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
  checkFactoryOptions('gemini', options, KNOWN_OPTIONS);
  const { apiKey, baseUrl, headers, name = 'gemini', apiVersion = 'v1beta' } = options;
  checkAdapterName('gemini', name);
  const label = name;
  if (apiVersion !== 'v1beta' && apiVersion !== 'v1') throw new ConfigError(`${label}: \`apiVersion\` must be 'v1beta' or 'v1'`);
  checkApiKey(label, apiKey);
  // No query string: a `?key=` there would put the key in every URL.
  const adapterOptions = adapterConnection(label, apiKey, baseUrl, headers, { noQuery: true, headersLabel: `${label}() headers` });

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
