/**
 * The shapes every part of llm-fiber speaks: requests, results, stream events, the middleware context and the
 * provider adapter interface. See `docs/adrs/0001-onion-middleware.md` for how they fit together.
 */
import type { FiberError } from './errors.js';
import type { Timeouts, TimeoutsInit } from './timeouts.js';

// ---------------------------------------------------------------------------------------------------------------
// Messages

/** A piece of message content. Text and images in this release; files and audio are mapped by later adapters. */
export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url: string; mediaType?: string }
  | { type: 'image'; data: string; mediaType: string }
  | { type: 'file'; url: string; mediaType?: string }
  | { type: 'file'; data: string; mediaType: string }
  | { type: 'audio'; data: string; mediaType: string };

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** One normalized conversation turn. Build them with `ChatMessage.user(...)` and friends or pass plain shapes. */
export interface ChatMessage {
  role: Role;
  /** Text, or content parts (user turns). */
  content: string | ContentPart[];
  /** Assistant turns: the tool calls the model made. */
  toolCalls?: ToolCall[];
  /** Tool turns: the id of the call this answers. */
  toolCallId?: string;
  /** Optional participant / tool name. */
  name?: string;
  /**
   * Provider-specific blocks that must travel back unchanged on the next turn (Anthropic thinking blocks with
   * their signature, Gemini thought signatures). Opaque to everything but the adapter that wrote them.
   */
  providerData?: Record<string, unknown>;
}

/** Anything `messages` accepts: a string, a message, a `[role, content]` tuple, or an array of those. */
export type MessageInput =
  | string
  | ChatMessage
  | { role: string; content: unknown; [k: string]: unknown }
  | readonly [string, string | ContentPart[]]
  | ReadonlyArray<string | ChatMessage | { role: string; content: unknown; [k: string]: unknown } | readonly [string, string | ContentPart[]]>;

/** A tool the model may call. `parameters` is a JSON Schema object (or a zod schema, converted by the caller). */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/** A tool call made by the model, with its arguments parsed. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error' | 'other';

/** Token counts for one call. `prompt` includes cached tokens, `completion` includes reasoning tokens. */
export interface Usage {
  prompt: number;
  completion: number;
  total: number;
  /** USD, when a price for the model is known; otherwise null. */
  costEstimate: number | null;
  cachedPrompt?: number;
  cacheWrite?: number;
  reasoning?: number;
}

export interface ReasoningOptions {
  effort?: 'none' | 'minimal' | 'low' | 'medium' | 'high';
  budgetTokens?: number;
  summary?: boolean;
}

/** What `fiber.chat()` / `fiber.chatStream()` take. */
export interface ChatRequest {
  /** Falls back to `defaultModel`; `'provider:model'` forces a provider. */
  model?: string;
  messages: MessageInput;
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  tools?: ToolSpec[];
  toolChoice?: 'auto' | 'none' | 'required' | { name: string };
  /** A number is the total ms for this call. */
  timeout?: number | TimeoutsInit;
  /** Generated per call when absent; the same on every attempt. */
  idempotencyKey?: string;
  /** Per-call routing override. */
  provider?: string;
  /** Models to try, in order, after the current model's retries are spent (needs the `fallback` policy). */
  fallback?: string[];
  budget?: unknown;
  signal?: AbortSignal;
  /** Flows to logs, spans and (allow-listed) metric tags. */
  metadata?: Record<string, string>;
  /** Extra request headers for this call; merged over the Fiber's `headers`. */
  headers?: Record<string, string>;
  reasoning?: ReasoningOptions;
  promptCache?: 'auto' | 'off' | { ttl: '5m' | '1h' };
  /** Passed through to the wire body, per provider. */
  providerOptions?: Record<string, unknown>;
}

/** The request after `normalize` and `route`: what middleware and adapters see. */
export interface NormalizedRequest {
  /** The model name sent on the wire (after routing: no `provider:` prefix, aliases resolved). */
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  tools?: ToolSpec[];
  toolChoice?: ChatRequest['toolChoice'];
  reasoning?: ReasoningOptions;
  promptCache?: ChatRequest['promptCache'];
  providerOptions?: Record<string, unknown>;
  /** Per-call headers (already validated). */
  headers?: Record<string, string>;
}

/** The normalized outcome of one call. */
export interface ChatResult {
  text: string;
  /** Reasoning / thinking text, null when the model gave none. */
  reasoning: string | null;
  toolCalls: ToolCall[];
  /** The assistant turn, ready to append to `messages` for the next call. */
  message: ChatMessage;
  finishReason: FinishReason;
  usage: Usage;
  raw: unknown;
  model: string;
  provider: string;
  id: string | null;
  latencyMs: number;
  ttfbMs: number | null;
  attempts: number;
  cached: boolean;
}

/** Events of a `FiberStream`. `t` is ms since the call started. `done` is always last on success. */
export type StreamEvent =
  | { type: 'chunk'; delta: string; t: number }
  | { type: 'reasoning'; delta: string; t: number }
  | { type: 'tool_call'; toolCall: ToolCall; t: number }
  | { type: 'usage'; usage: Usage; t: number }
  | { type: 'log'; level: LogLevel; message: string; data?: object; t: number }
  | { type: 'done'; result: ChatResult; t: number };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives a call's `ctx.log()` records. */
export type LogListener = (level: LogLevel, message: string, data: object | undefined, ctx: FiberContext) => void;

// ---------------------------------------------------------------------------------------------------------------
// Middleware

export type Next = () => Promise<void>;
export type Scope = 'request' | 'attempt';
export type HookOut = StreamEvent | StreamEvent[] | null | undefined;
export type EventHook = (event: StreamEvent, ctx: FiberContext) => HookOut | Promise<HookOut>;
export type ErrorHook = (error: FiberError, ctx: FiberContext) => void | Promise<void>;

/** A Koa-style middleware: `(ctx, next) => Promise<void>`, optionally carrying a scope and stream hooks. */
export interface Middleware {
  (ctx: FiberContext, next: Next): Promise<void>;
  /** 'request' (once per call, the default) or 'attempt' (once per HTTP attempt). */
  readonly scope?: Scope;
  /** Streams only: sees every event in order; may replace, fan out or drop it. */
  readonly onEvent?: EventHook;
  /** The event types `onEvent` is called for (`defineMiddleware({ events })`); absent: every type. */
  readonly events?: ReadonlyArray<StreamEvent['type']>;
  /** Streams only: told when a committed stream fails. */
  readonly onError?: ErrorHook;
  /** Name used for `ctx.state`, logs and de-duplication of the built-ins. */
  readonly middlewareName?: string;
  /**
   * A bundle: middleware of both scopes shipped as one (e.g. a call span in request scope plus a span per attempt).
   * `fiber.use(bundle)` places each part by its own scope; the bundle function itself is not run.
   */
  readonly parts?: readonly Middleware[];
}

export interface MiddlewareSpec {
  name: string;
  scope?: Scope;
  handle?: (ctx: FiberContext, next: Next) => Promise<void>;
  onEvent?: EventHook;
  /**
   * Only these event types reach `onEvent`; the others pass by without a call. A hook that acts on `done` alone
   * (`events: ['done']`) then costs nothing per chunk. @default every type
   */
  events?: ReadonlyArray<StreamEvent['type']>;
  onError?: ErrorHook;
}

/** Per-call scratch space, one key per middleware. Packages add keys by declaration merging. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface FiberState {
  [key: string]: unknown;
}

/** How the attempt loop retries. Set on `ctx.retry` by the `retry()` middleware. */
export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  /** First backoff, ms. */
  minDelayMs: number;
  /** Backoff cap, ms. */
  maxDelayMs: number;
  /** Exponential factor. */
  factor: number;
  /** Full jitter when true. */
  jitter: boolean;
  /** Extra predicate: return false to stop retrying an error the classifier would retry. */
  retryIf?: (error: FiberError, attempt: number) => boolean;
  /** Send the `Idempotency-Key` header. */
  idempotencyHeader: boolean;
  /** Caps retries at a share of the traffic (shared by the calls of one `retry()` instance). */
  budget?: { deposit(): void; withdraw(): boolean };
}

/** Which models to try after the current one, and the circuit breaker steering between them. */
export interface FallbackPolicy {
  /** Models to try in order (the per-call `fallback` field replaces them). */
  models: readonly string[];
  /** Per provider-and-model breaker, or null. */
  breaker: {
    allows(key: string): boolean;
    success(key: string): void;
    failure(key: string): void;
    /** The call ended with a failure the breaker does not count (the caller's fault): release a half-open probe. */
    settle(key: string): void;
    /** The state without claiming anything. */
    state(key: string): 'closed' | 'open' | 'half-open';
  } | null;
}

/** A source of events the Fiber delivers after commit: a live provider stream, or a replay (cache). */
export interface EventSource {
  /** Next buffered event, or undefined when none is buffered right now. */
  read(): StreamEvent | undefined;
  /** True once the source has delivered its last event (after `read()` returns undefined). */
  readonly ended: boolean;
  /** Set when the source failed. */
  readonly error: FiberError | null;
  /** Resolves when `read()` may return something new, or the source ended or failed. */
  wait(): Promise<void>;
  /** The provider's final facts, available once ended without error. */
  final(): StreamFinal;
  /** Stop producing and release the connection. */
  cancel(reason: FiberError | null): void;
}

/** What a stream decoder knows at the end marker: everything of the result but the delivered text. */
export interface StreamFinal {
  /**
   * Not read by the Fiber: a stream's result text is the text of the `chunk` events actually delivered to the
   * caller (after every `onEvent` hook), which `FiberStream` accumulates itself. The built-in decoders leave it
   * unset, so they keep no copy of the text on the per-chunk path; `replaySource` sets it to the replayed
   * result's text. A consumer of a decoder outside the Fiber joins the `chunk` deltas it was given.
   */
  text?: string;
  reasoning: string | null;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage | null;
  model: string | null;
  id: string | null;
  raw: unknown;
  providerData?: Record<string, unknown>;
  /** Replays of a stored result (a cache hit) say so. */
  cached?: boolean;
}

/** The per-call context every middleware receives. */
export interface FiberContext {
  readonly id: string;
  readonly kind: 'chat' | 'stream';
  /** The normalized request. Replace fields before calling `next()`, never after. */
  request: NormalizedRequest;
  /** The request as the caller passed it (read-only). */
  readonly input: Readonly<ChatRequest>;
  /** Resolved provider name (set by `route`). */
  provider: string;
  /** Resolved model (set by `route`). */
  model: string;
  /** 1-based attempt number, bumped by the attempt loop. */
  readonly attempt: number;
  /** The caller's signal joined with the call's deadline; created on first access. */
  readonly signal: AbortSignal;
  /** Cancels the call; the connection is released at once. */
  abort(reason: FiberError): void;
  /** True once an event has reached the caller: no retry or fallback after this. */
  readonly committed: boolean;
  readonly metadata: Readonly<Record<string, string>>;
  readonly timing: { readonly startedAt: number; ttfbMs: number | null };
  /** Idempotency key for this call, the same on every attempt and fallback. */
  readonly idempotencyKey: string;
  /** Effective timeouts for this call. `timeout()` middleware may replace them before `next()`. */
  timeouts: Timeouts;
  /** Retry policy for the attempt loop, or null for a single attempt. */
  retry: RetryPolicy | null;
  /** Fallback models and breaker for the attempt loop, or null (set by the `fallback()` middleware). */
  fallback: FallbackPolicy | null;
  /** Set by the terminal (or a short-circuit such as a cache) when the call succeeds. */
  result?: ChatResult;
  /** Streams: set by the terminal or a short-circuit; the Fiber delivers from it after commit. */
  source?: EventSource;
  /** Response headers of the last attempt (lower-case names), when the transport saw them. */
  responseHeaders?: (name: string) => string | undefined;
  /** HTTP status of the last attempt's response, when one arrived. */
  responseStatus?: number;
  /** The provider's request id for the last attempt (from its request-id header), when it sent one. */
  requestId?: string;
  /** Record something about this call: a `log` event on streams, and every `onLog` listener (log lines, spans). */
  log(level: LogLevel, message: string, data?: object): void;
  /** Listen to this call's `log()` records (the logging and OTel middleware use it to see retries). */
  onLog(listener: LogListener): void;
  /** Per-call scratch space. */
  state: FiberState;
}

// ---------------------------------------------------------------------------------------------------------------
// Providers

/** Connection settings an adapter gets per call (from its own options or the Fiber's `apiKeys`/`baseUrls`). */
export interface ProviderEnv {
  apiKey: string | undefined;
  /** Base URL without a trailing slash, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Headers for every request of this provider (already merged and validated). */
  headers: Record<string, string>;
}

/** The HTTP request an adapter wants sent. */
export interface WireRequest {
  method: 'POST' | 'GET';
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What an adapter sees of a response. */
export interface ResponseInfo {
  status: number;
  /** Response header by lower-case name. */
  header(name: string): string | undefined;
  /** The provider's request id, when the response carries one. */
  requestId: string | undefined;
  provider: string;
  model: string;
}

/** A step in the result as parsed from the wire, before the Fiber adds timing and attempts. */
export interface ParsedResult {
  text: string;
  reasoning: string | null;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage | null;
  model: string | null;
  id: string | null;
  raw: unknown;
  providerData?: Record<string, unknown>;
  /** Replays of a stored result (a cache hit) say so. */
  cached?: boolean;
}

/**
 * A synchronous state machine for one streaming response. `event()` is called per SSE event and pushes
 * `StreamEvent`s onto `out`; it throws a `FiberError` for an in-band provider error. `finished` turns true at the
 * provider's end marker; the transport raises `StreamError` if the body ends before that.
 */
export interface StreamDecoder {
  event(data: string, eventName: string | undefined, t: number, out: StreamEvent[]): void;
  readonly finished: boolean;
  final(): StreamFinal;
}

/** What a provider's own `invoke()` returns: the response status, headers and body. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  /** The body: whole, or as chunks (a stream is pulled only as fast as the caller reads). */
  body: string | Uint8Array | AsyncIterable<Uint8Array> | null;
}

/**
 * A provider adapter. `prepare`, `parse`, `stream` and `error` are pure; `invoke` (optional) replaces the shared
 * undici transport for providers that do not speak plain HTTP through it (an SDK, a signed request, an in-process
 * model). See `docs/features/custom-providers.md`.
 */
export interface Provider {
  readonly name: string;
  /** Base URL used when neither the adapter options nor the Fiber's `baseUrls` give one. */
  readonly defaultBaseUrl?: string;
  /** Environment variable names holding this provider's key, in order of preference (for `Fiber.fromEnv`). */
  readonly envKeys?: readonly string[];
  /** Adapter-level connection settings that win over the Fiber's (`apiKey`, `baseUrl`, `headers`). */
  readonly options?: { apiKey?: string; baseUrl?: string; headers?: Record<string, string> };
  /** Name of the header that carries an idempotency key, or null when the provider takes none. */
  readonly idempotencyHeader?: string | null;
  prepare(req: NormalizedRequest, env: ProviderEnv): WireRequest;
  /**
   * Send the request yourself instead of through the shared undici transport. The response then goes through the
   * same status, error, stream and deadline handling. `signal` aborts when the call is cancelled or times out.
   */
  invoke?(wire: WireRequest, signal: AbortSignal): Promise<WireResponse>;
  parse(body: unknown, res: ResponseInfo): ParsedResult;
  stream(res: ResponseInfo, req: NormalizedRequest): StreamDecoder;
  error(res: ResponseInfo, body: string): FiberError;
  /** Header that carries the request id (default `x-request-id`). */
  readonly requestIdHeader?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics and logging

/** Pino-compatible logger: anything with pino's level methods. */
export interface LoggerLike {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: object): LoggerLike;
  level?: string;
}

export type Tags = Record<string, string>;

/**
 * Where metric updates go. The in-memory `fiber.metrics` is one; StatsD and OTel are others. Several sinks at once:
 * `new MultiSink([a, b])` (what the Fiber builds from its `metrics` option).
 *
 * Recording methods are called on the hot path, synchronously, once per update: they must not throw (a throw is
 * caught and reported as a process warning, never as a failed call) and should not allocate. `tags` objects are
 * frozen and reused per series by the `metrics` middleware, so a sink may cache per tags identity.
 */
export interface MetricsSink {
  /** Add `value` to the counter `name` of the series `tags`. */
  increment(name: string, value: number, tags: Tags): void;
  /** Record one observation (ms for `*_ms`) in the histogram `name` of the series `tags`. */
  observe(name: string, value: number, tags: Tags): void;
  /**
   * Optional: configure the histogram `name`. Called by the `metrics` middleware, before its first observation,
   * with what its `buckets` and `percentiles` options give for `name` (either may be absent); a sink without
   * explicit buckets or percentiles ignores it.
   */
  defineHistogram?(name: string, options: HistogramOptions): void;
  /** Optional: send anything buffered. Resolves once it was handed to the transport. */
  flush?(): Promise<void>;
  /** Optional: flush, then release what the sink owns (sockets, timers). Records after `close()` are dropped. */
  close?(): Promise<void>;
}

/** What `MetricsSink.defineHistogram()` is given for one histogram. */
export interface HistogramOptions {
  /** Explicit bucket upper bounds (ascending). */
  buckets?: readonly number[];
  /** Extra percentiles in (0, 100) to report next to p50/p90/p99: `[95, 99.9]` → `p95`, `p99.9`. */
  percentiles?: readonly number[];
}

export interface CounterPoint { tags: Tags; value: number }
export interface HistogramPoint {
  tags: Tags; count: number; sum: number; min: number; max: number; p50: number; p90: number; p99: number;
  /** Extra percentiles (`metrics({ percentiles: [95, 99.9] })`): `p95`, `p99.9`. */
  [percentile: `p${number}`]: number;
  /**
   * Only for histograms with configured buckets: per upper bound `le`, how many observations were `<= le`
   * (cumulative, as Prometheus). The implicit `+Inf` bucket is `count`.
   */
  buckets?: Array<{ le: number; count: number }>;
}
/** The counters `fiber.metrics` records (CONTRACT.md, Metrics). */
export type CounterName = 'request_count' | 'error_count' | 'retry_count' | 'tokens_prompt' | 'tokens_completion' | 'tokens_total' | 'estimated_cost_usd';
/** The histograms `fiber.metrics` records. */
export type HistogramName = 'latency_ms' | 'ttfb_ms';

/**
 * What `fiber.metrics.snapshot()` returns: for each metric that has data, one point per tag set. The known names
 * are typed (`snapshot.request_count` is `CounterPoint[]`, `snapshot.latency_ms` is `HistogramPoint[]`); other
 * names (a custom sink's) are reachable through the index signature.
 */
export type MetricsSnapshot = { [K in CounterName]?: CounterPoint[] } & { [K in HistogramName]?: HistogramPoint[] } & {
  [name: string]: Array<CounterPoint | HistogramPoint> | undefined;
};
