/**
 * The Anthropic Messages adapter factory. The stages live beside it: `prepare.ts` (request), `parse.ts` (JSON
 * body), `stream.ts` (SSE decoder), `errors.ts` (error responses), `wire.ts` (wire types).
 */
import { ConfigError } from '../../src/errors.js';
import type { NormalizedRequest, Provider, ProviderEnv, ResponseInfo } from '../../src/types.js';
import { adapterConnection, checkAdapterName, checkApiKey, checkFactoryOptions } from '../shared/factory-options.js';
import { anthropicError } from './errors.js';
import { parseMessage } from './parse.js';
import { ANTHROPIC_VERSION, type AnthropicPrepareConfig, DEFAULT_MAX_TOKENS, prepareMessages } from './prepare.js';
import { AnthropicStreamDecoder } from './stream.js';

export { anthropicError, anthropicStreamError } from './errors.js';
export { mapStopReason, mapUsage, parseMessage } from './parse.js';
export { ANTHROPIC_VERSION, type AnthropicPrepareConfig, DEFAULT_MAX_TOKENS, prepareMessages } from './prepare.js';
export { AnthropicStreamDecoder } from './stream.js';

/** Options of `anthropic()`. Anything left out falls back to the Fiber's `apiKeys` / `baseUrls` / `headers`. */
export interface AnthropicOptions {
  /** API key, sent as `x-api-key`; absent → the Fiber's `apiKeys.anthropic` (or `ANTHROPIC_API_KEY` with `Fiber.fromEnv`). */
  apiKey?: string;
  /**
   * Base URL without the version path, as the official SDK takes it (requests go to `{baseUrl}/v1/messages`).
   * @default 'https://api.anthropic.com'
   */
  baseUrl?: string;
  /** Headers sent on every request of this adapter (e.g. `anthropic-beta`). */
  headers?: Record<string, string>;
  /**
   * Name the adapter registers under (an adapter named like a built-in replaces it).
   * @default 'anthropic'
   */
  name?: string;
  /**
   * The `anthropic-version` header.
   * @default '2023-06-01'
   */
  version?: string;
  /**
   * `max_tokens` for requests that set no `maxTokens`. The Messages API requires the field; see
   * `DEFAULT_MAX_TOKENS` for why 4096.
   * @default 4096
   */
  defaultMaxTokens?: number;
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['apiKey', 'baseUrl', 'headers', 'name', 'version', 'defaultMaxTokens']);
// RFC 9110 token characters for header names; values: visible ASCII, space and tab (no CR/LF, no non-ASCII).
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Create the Anthropic Messages API adapter.
 *
 * `idempotencyHeader` is null: the Messages API documents no idempotency key (the Errors and Messages references
 * name none), and the official SDKs send none (the Stainless client's `idempotencyHeader` is declared but never
 * set for Anthropic, in TypeScript and Python alike). A retried Anthropic call is therefore a second, separately
 * billed request; the call's `idempotencyKey` still appears on ctx, in logs and in spans.
 *
 * @example
 * import { Fiber } from 'llm-fiber';
 * import { anthropic } from 'llm-fiber/providers';
 * const fiber = new Fiber({ providers: [anthropic({ defaultMaxTokens: 8192, headers: { 'anthropic-beta': 'output-128k-2025-02-19' } })] });
 */
export function anthropic(options: AnthropicOptions = {}): Provider {
  checkFactoryOptions('anthropic', options, KNOWN_OPTIONS);
  const { apiKey, baseUrl, headers, name = 'anthropic', version = ANTHROPIC_VERSION, defaultMaxTokens = DEFAULT_MAX_TOKENS } = options;
  checkAdapterName('anthropic', name);
  const label = name;
  checkApiKey(label, apiKey);
  if (typeof version !== 'string' || version === '' || !HEADER_VALUE.test(version)) throw new ConfigError(`${label}: \`version\` must be a non-empty header value such as '2023-06-01'`);
  if (typeof defaultMaxTokens !== 'number' || !Number.isSafeInteger(defaultMaxTokens) || defaultMaxTokens < 1) {
    throw new ConfigError(`${label}: \`defaultMaxTokens\` must be a positive integer`);
  }
  const adapterOptions = adapterConnection(label, apiKey, baseUrl, headers);

  const config: AnthropicPrepareConfig = Object.freeze({ name, version, defaultMaxTokens });

  return {
    name,
    defaultBaseUrl: 'https://api.anthropic.com',
    envKeys: ['ANTHROPIC_API_KEY'],
    options: adapterOptions,
    idempotencyHeader: null,
    requestIdHeader: 'request-id',
    prepare: (req: NormalizedRequest, env: ProviderEnv) => prepareMessages(req, env, config),
    parse: parseMessage,
    stream: (res: ResponseInfo) => new AnthropicStreamDecoder(res),
    error: anthropicError,
  };
}
