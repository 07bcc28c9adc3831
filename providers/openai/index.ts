/**
 * The OpenAI adapter factory. The stages live beside it: `prepare.ts` (request), `parse.ts` (JSON body),
 * `stream.ts` (SSE decoder), `errors.ts` (error responses), `wire.ts` (wire types) for Chat Completions, and the
 * same files under `responses/` for the Responses API. Both wires share `errors.ts`: their error bodies are alike.
 */
import { ConfigError } from '../../src/errors.js';
import type { NormalizedRequest, ProviderEnv, Provider, ResponseInfo } from '../../src/types.js';
import { adapterConnection, checkAdapterName, checkApiKey, checkFactoryOptions } from '../shared/factory-options.js';
import { openaiError } from './errors.js';
import { parseChat } from './parse.js';
import { prepareChat } from './prepare.js';
import { parseResponses } from './responses/parse.js';
import { prepareResponses, wireOf } from './responses/prepare.js';
import { ResponsesStreamDecoder } from './responses/stream.js';
import { OpenAIStreamDecoder } from './stream.js';

export { openaiError, openaiStreamError } from './errors.js';
export { parseChat } from './parse.js';
export { prepareChat } from './prepare.js';
export { parseResponses } from './responses/parse.js';
export { prepareResponses } from './responses/prepare.js';
export { ResponsesStreamDecoder } from './responses/stream.js';
export { OpenAIStreamDecoder } from './stream.js';

/** Options of `openai()`. Anything left out falls back to the Fiber's `apiKeys` / `baseUrls` / `headers`. */
export interface OpenAIOptions {
  /** API key; absent → the Fiber's `apiKeys.openai` (or `OPENAI_API_KEY` with `Fiber.fromEnv`). */
  apiKey?: string;
  /**
   * Base URL including the version path, as the official SDK takes it.
   * @default 'https://api.openai.com/v1'
   */
  baseUrl?: string;
  /** Headers sent on every request of this adapter. */
  headers?: Record<string, string>;
  /**
   * Which wire API to speak: `'chat'` (`POST /chat/completions`) or `'responses'` (`POST /responses`). Either
   * gives the same `ChatResult` and stream events for the same conversation. One call can use the other wire with
   * `providerOptions: { api: 'responses' }` (or `{ api: 'chat' }`).
   * @default 'chat'
   */
  api?: 'chat' | 'responses';
  /**
   * Name the adapter registers under (an adapter named like a built-in replaces it).
   * @default 'openai'
   */
  name?: string;
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['apiKey', 'baseUrl', 'headers', 'api', 'name']);

/**
 * Create the OpenAI adapter, speaking Chat Completions or the Responses API.
 *
 * Per call, `providerOptions.api` picks the wire (it is never sent as a body field). The stages then agree on it
 * without shared state: `prepare` builds that wire's request, `stream` reads the same `providerOptions.api` from
 * the request it is handed, and `parse` recognizes a Responses body by its `object: 'response'` (Chat Completions
 * bodies are `chat.completion`).
 *
 * @example
 * import { Fiber } from 'llm-fiber';
 * import { openai } from 'llm-fiber/providers';
 * const fiber = new Fiber({ providers: [openai({ baseUrl: 'https://my-proxy.example/v1' })] });
 */
export function openai(options: OpenAIOptions = {}): Provider {
  checkFactoryOptions('openai', options, KNOWN_OPTIONS);
  const { apiKey, baseUrl, headers, api = 'chat', name = 'openai' } = options;
  checkAdapterName('openai', name);
  const label = name;
  if (api !== 'chat' && api !== 'responses') throw new ConfigError(`${label}: \`api\` must be 'chat' or 'responses'`);
  checkApiKey(label, apiKey);
  const adapterOptions = adapterConnection(label, apiKey, baseUrl, headers);

  return {
    name,
    defaultBaseUrl: 'https://api.openai.com/v1',
    envKeys: ['OPENAI_API_KEY'],
    options: adapterOptions,
    idempotencyHeader: 'Idempotency-Key',
    requestIdHeader: 'x-request-id',
    prepare: (req: NormalizedRequest, env: ProviderEnv) =>
      wireOf(req, api, name) === 'responses' ? prepareResponses(req, env, name) : prepareChat(withoutApi(req), env, name),
    parse: (body: unknown, res: ResponseInfo) => (isResponsesBody(body) ? parseResponses(body, res) : parseChat(body, res)),
    stream: (res: ResponseInfo, req: NormalizedRequest) =>
      wireOf(req, api, name) === 'responses' ? new ResponsesStreamDecoder(res) : new OpenAIStreamDecoder(res),
    error: openaiError,
  };
}

/** A Responses API body: `object: 'response'` (or, from a server that omits `object`, `output` without `choices`). */
function isResponsesBody(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false;
  const b = body as { object?: unknown; output?: unknown; choices?: unknown };
  return b.object === 'response' || (b.object === undefined && Array.isArray(b.output) && b.choices === undefined);
}

/** The request without `providerOptions.api`, which picks the wire and must not reach the Chat Completions body. */
function withoutApi(req: NormalizedRequest): NormalizedRequest {
  const extra = req.providerOptions;
  if (extra === undefined || !Object.prototype.hasOwnProperty.call(extra, 'api')) return req;
  const { api: _api, ...rest } = extra;
  return { ...req, providerOptions: rest };
}
