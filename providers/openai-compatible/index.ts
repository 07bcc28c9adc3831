/**
 * OpenAI-compatible endpoints: Azure OpenAI, Ollama, vLLM, Groq, OpenRouter, Together, LM Studio and anything else
 * that speaks Chat Completions. One adapter with options for the places where servers differ (`quirks`), never a
 * fork: request building, parsing, streaming and error mapping are the OpenAI adapter's.
 * See `docs/features/providers.md#openai-compatible`.
 */
import { ConfigError } from '../../src/errors.js';
import { validateHeaders } from '../../src/headers.js';
import type { NormalizedRequest, Provider, ProviderEnv, ResponseInfo } from '../../src/types.js';
import { validateBaseUrl } from '../../src/validate-base-url.js';
import { openaiError } from '../openai/errors.js';
import { parseChat } from '../openai/parse.js';
import { prepareChat, type ChatDialect } from '../openai/prepare.js';
import { OpenAIStreamDecoder } from '../openai/stream.js';

/** Where a server departs from OpenAI's own wire. Every field has the default most compatible servers want. */
export interface OpenAICompatibleQuirks {
  /** Send `stream_options: { include_usage: true }` on streams (some servers reject unknown fields). @default true */
  streamUsage?: boolean;
  /** Body field for `maxTokens`. @default 'max_tokens' */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** How the API key is sent: `Authorization: Bearer`, an `api-key` header (Azure), or not at all. @default 'bearer' */
  auth?: 'bearer' | 'api-key' | 'none';
  /** Query parameters added to every request URL (Azure: `{ 'api-version': '2024-10-21' }`). @default {} */
  query?: Record<string, string>;
  /** Path after the base URL. @default '/chat/completions' */
  path?: string;
  /**
   * The server never sends `data: [DONE]`: a chunk with a `finish_reason` ends the stream instead. A stream cut
   * before any finish reason is still a `StreamError`. @default false
   */
  doneOptional?: boolean;
  /** Header carrying the idempotency key, or null when the server takes none. @default null */
  idempotencyHeader?: string | null;
  /** Header carrying the server's request id. @default 'x-request-id' */
  requestIdHeader?: string;
}

export interface OpenAICompatibleOptions {
  /** Provider name the registry routes to (`'groq'`, `'ollama'`, `'azure'` …). */
  name: string;
  /**
   * Base URL, as the server documents it for OpenAI SDKs (`http://localhost:11434/v1` for Ollama). `{model}` is
   * replaced by the call's model, for deployment-style URLs (Azure:
   * `https://<resource>.openai.azure.com/openai/deployments/{model}`).
   */
  baseUrl: string;
  /** API key; absent → the Fiber's `apiKeys[name]`. */
  apiKey?: string;
  /** Headers sent on every request of this provider. */
  headers?: Record<string, string>;
  quirks?: OpenAICompatibleQuirks;
}

const OPTION_KEYS = new Set(['name', 'baseUrl', 'apiKey', 'headers', 'quirks']);
const QUIRK_KEYS = new Set(['streamUsage', 'maxTokensField', 'auth', 'query', 'path', 'doneOptional', 'idempotencyHeader', 'requestIdHeader']);
const BUILT_IN = new Set(['openai', 'anthropic', 'gemini']);

/**
 * An adapter for an OpenAI-compatible server, registered under its own name.
 * @example
 * const fiber = new Fiber({
 *   providers: [openaiCompatible({ name: 'ollama', baseUrl: 'http://127.0.0.1:11434/v1', quirks: { auth: 'none' } })],
 *   defaultModel: 'ollama:llama3.2',
 * });
 */
export function openaiCompatible(options: OpenAICompatibleOptions): Provider {
  if (options === null || typeof options !== 'object') throw new ConfigError('openaiCompatible: options must be an object');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new ConfigError(`openaiCompatible: unknown option "${k}"`);
  const { name, apiKey, quirks = {} } = options;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9_.-]{0,63}$/i.test(name)) {
    throw new ConfigError('openaiCompatible: `name` must be 1-64 letters, digits, "_", "." or "-"');
  }
  if (BUILT_IN.has(name)) throw new ConfigError(`openaiCompatible: "${name}" is a built-in provider name; pick another (e.g. "${name}-compat")`);
  const label = `openaiCompatible(${name})`;
  const baseUrl = validateBaseUrl(options.baseUrl, `${label}: \`baseUrl\``);
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) throw new ConfigError(`${label}: \`apiKey\` must be a non-empty string`);
  const headers = options.headers === undefined ? undefined : validateHeaders(options.headers, `${label}: \`headers\``);
  if (quirks === null || typeof quirks !== 'object') throw new ConfigError(`${label}: \`quirks\` must be an object`);
  for (const k of Object.keys(quirks)) if (!QUIRK_KEYS.has(k)) throw new ConfigError(`${label}: unknown quirk "${k}" (known: ${[...QUIRK_KEYS].join(', ')})`);

  const auth = quirks.auth ?? 'bearer';
  if (auth !== 'bearer' && auth !== 'api-key' && auth !== 'none') throw new ConfigError(`${label}: quirks.auth must be 'bearer', 'api-key' or 'none'`);
  const maxTokensField = quirks.maxTokensField ?? 'max_tokens';
  if (maxTokensField !== 'max_tokens' && maxTokensField !== 'max_completion_tokens') throw new ConfigError(`${label}: quirks.maxTokensField must be 'max_tokens' or 'max_completion_tokens'`);
  const path = quirks.path ?? '/chat/completions';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new ConfigError(`${label}: quirks.path must start with "/"`);
  let search = '';
  if (quirks.query !== undefined) {
    if (quirks.query === null || typeof quirks.query !== 'object') throw new ConfigError(`${label}: quirks.query must be an object of strings`);
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(quirks.query)) {
      if (typeof v !== 'string') throw new ConfigError(`${label}: quirks.query.${k} must be a string`);
      params.append(k, v);
    }
    const q = params.toString();
    if (q !== '') search = '?' + q;
  }
  const templated = baseUrl.includes('{model}');
  // The URL is fixed per adapter unless it names the model; then it is built per call (cached per model).
  const urls = new Map<string, string>();
  const dialect: ChatDialect = {
    maxTokensField,
    streamUsage: quirks.streamUsage ?? true,
    auth,
    url: (base, model) => {
      if (!templated) return base + path + search;
      let u = urls.get(model);
      if (u === undefined) {
        u = base.replace('{model}', encodeURIComponent(model)) + path + search;
        if (urls.size > 256) urls.clear();
        urls.set(model, u);
      }
      return u;
    },
  };
  const doneOptional = quirks.doneOptional ?? false;
  const adapterOptions: { apiKey?: string; baseUrl?: string; headers?: Record<string, string> } = { baseUrl };
  if (apiKey !== undefined) adapterOptions.apiKey = apiKey;
  if (headers !== undefined) adapterOptions.headers = headers;

  return {
    name,
    defaultBaseUrl: baseUrl,
    options: adapterOptions,
    idempotencyHeader: quirks.idempotencyHeader ?? null,
    requestIdHeader: quirks.requestIdHeader ?? 'x-request-id',
    prepare: (req: NormalizedRequest, env: ProviderEnv) => prepareChat(req, env, name, dialect),
    parse: parseChat,
    stream: (res: ResponseInfo) => new OpenAIStreamDecoder(res, doneOptional),
    error: openaiError,
  };
}
