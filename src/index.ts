/** llm-fiber: a thin, fast, observable LLM client. The root export list. */
export { Fiber, type FiberOptions } from './fiber.js';
export { FiberStream } from './stream.js';
export { ChatMessage, normalizeMessages } from './messages.js';
export { Timeouts, type TimeoutsInit } from './timeouts.js';
export { ModelRegistry } from './routing.js';
export { compose, defineMiddleware } from './compose.js';
export { presets, type PresetOptions } from './presets.js';
export { MetricsStore } from './metrics.js';
export {
  FiberError, ConfigError, AuthError, BadRequestError, NotFoundError, ContextLengthError, ContentFilterError,
  RateLimitError, OverloadedError, ServerError, ConnectionError, TimeoutError, StreamError, BudgetExceededError,
  AbortError, type FiberErrorInit, type TimeoutPhase,
} from './errors.js';
export * from '../middleware/index.js';
export type {
  ContentPart, Role, MessageInput, ToolSpec, ToolCall, FinishReason, Usage, ReasoningOptions, ChatRequest,
  NormalizedRequest, ChatResult, StreamEvent, LogLevel, Next, Scope, HookOut, EventHook, ErrorHook, Middleware,
  MiddlewareSpec, FiberState, RetryPolicy, EventSource, StreamFinal, FiberContext, ProviderEnv, WireRequest,
  ResponseInfo, ParsedResult, StreamDecoder, Provider, WireResponse, LoggerLike, Tags, MetricsSink, CounterPoint, HistogramPoint,
  MetricsSnapshot, CounterName, HistogramName,
} from './types.js';
