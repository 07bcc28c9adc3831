/**
 * Wire types of the Anthropic Messages API (`POST /v1/messages`), snake_case as on the wire. Only the fields
 * llm-fiber reads or writes are typed; everything else passes through `raw` (or `providerData`) untouched.
 * Reference: https://docs.anthropic.com/en/api/messages and https://docs.anthropic.com/en/api/messages-streaming
 */

// ---------------------------------------------------------------------------------------------------------------
// Request

export type AnthropicImageSource =
  | { type: 'url'; url: string }
  | { type: 'base64'; media_type: string; data: string };

/**
 * A prompt-cache breakpoint: the prefix up to and including the block that carries it is cached. `ttl` defaults
 * to `'5m'` on the API side. https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
 */
export interface AnthropicCacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export interface AnthropicTextBlockParam {
  type: 'text';
  text: string;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicImageBlockParam {
  type: 'image';
  source: AnthropicImageSource;
  cache_control?: AnthropicCacheControl;
}

/** A PDF (base64 or fetched by URL) or plain text, as a `document` block. */
export type AnthropicDocumentSource =
  | { type: 'base64'; media_type: 'application/pdf'; data: string }
  | { type: 'url'; url: string }
  | { type: 'text'; media_type: 'text/plain'; data: string };

export interface AnthropicDocumentBlockParam {
  type: 'document';
  source: AnthropicDocumentSource;
  cache_control?: AnthropicCacheControl;
}

export interface AnthropicToolUseBlockParam {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface AnthropicToolResultBlockParam {
  type: 'tool_result';
  tool_use_id: string;
  content: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam>;
  cache_control?: AnthropicCacheControl;
}

/** A request content block. Blocks passed back from `providerData` (thinking, redacted_thinking) are opaque. */
export type AnthropicBlockParam =
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicDocumentBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam
  | { type: string; [field: string]: unknown };

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | AnthropicBlockParam[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  cache_control?: AnthropicCacheControl;
}

export type AnthropicToolChoice =
  | { type: 'auto' }
  | { type: 'any' }
  | { type: 'none' }
  | { type: 'tool'; name: string };

export interface AnthropicThinkingConfig {
  type: 'enabled';
  budget_tokens: number;
}

export interface AnthropicMessagesBody {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  system?: string | AnthropicTextBlockParam[];
  temperature?: number;
  stop_sequences?: string[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: AnthropicThinkingConfig;
  stream?: boolean;
  [providerOption: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

/** Usage as in a Message and in `message_start`; `message_delta` carries the same fields, cumulative, possibly null. */
export interface AnthropicUsageWire {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  /** Cache writes split by TTL (5-minute and 1-hour writes are priced differently). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
  /** Newer API versions: thinking tokens, part of `output_tokens`. */
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

export interface AnthropicContentBlock {
  type?: string;
  /** `text` blocks. */
  text?: string;
  /** `tool_use` blocks. */
  id?: string;
  name?: string;
  input?: unknown;
  /** `thinking` blocks. */
  thinking?: string;
  signature?: string;
  /** `redacted_thinking` blocks. */
  data?: string;
}

export interface AnthropicMessage {
  id?: string;
  type?: string;
  role?: string;
  model?: string;
  content?: AnthropicContentBlock[];
  stop_reason?: string | null;
  stop_sequence?: string | null;
  usage?: AnthropicUsageWire | null;
  /** Not part of a message: the error object of an error body (`type: 'error'`) served with status 200. */
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Stream

export interface AnthropicContentDelta {
  type?: string;
  /** `text_delta` */
  text?: string;
  /** `input_json_delta` */
  partial_json?: string;
  /** `thinking_delta` */
  thinking?: string;
  /** `signature_delta` */
  signature?: string;
}

/**
 * One SSE event payload. All stream event shapes in one interface (discriminated by `type`), so the decoder reads
 * fields without casts or per-event allocations.
 */
export interface AnthropicStreamEvent {
  type?: string;
  /** `message_start` */
  message?: AnthropicMessage;
  /** `content_block_start`, `content_block_delta`, `content_block_stop` */
  index?: number;
  /** `content_block_start` */
  content_block?: AnthropicContentBlock;
  /** `content_block_delta` (a content delta) and `message_delta` (`{ stop_reason, stop_sequence }`). */
  delta?: AnthropicContentDelta & { stop_reason?: string | null; stop_sequence?: string | null };
  /** `message_delta` */
  usage?: AnthropicUsageWire | null;
  /** `error` */
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The error object of an error body `{ "type": "error", "error": { type, message }, "request_id": … }`. */
export interface AnthropicErrorObject {
  type?: string;
  message?: string;
}
