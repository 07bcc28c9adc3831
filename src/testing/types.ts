/**
 * Public shapes of the embedded provider emulator (`llm-fiber/testing`). See `src/testing/server.ts` for how a
 * request is matched to a rule and `src/testing/faults.ts` for how each fault is written to the socket.
 */

/** The wire formats the emulator speaks. */
export type EmulatorProvider = 'openai' | 'anthropic' | 'gemini';

/** Options of `startEmulator()`. */
export interface EmulatorOptions {
  /**
   * TCP port to listen on; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Interface to bind.
   * @default '127.0.0.1'
   */
  host?: string;
}

/** One request the emulator received, in arrival order on `emu.requests`. */
export interface RecordedRequest {
  /** Which wire format the route belongs to; `'unknown'` for a route the emulator does not serve (answered 404). */
  provider: EmulatorProvider | 'unknown';
  method: string;
  /** Path with the query string, e.g. `/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`. */
  path: string;
  /** Request headers by lower-case name; repeated headers are joined with `, `. */
  headers: Record<string, string>;
  /** The parsed JSON body, or the raw text when it is not JSON (`''` when empty). */
  body: unknown;
  /** `Date.now()` when the whole body had arrived. */
  receivedAt: number;
}

/** A tool call the scripted reply makes. */
export interface EmulatorToolCall {
  /** Wire id. Defaults: OpenAI `call_emu<n>_<i>`, Anthropic `toolu_emu<n>_<i>`, Gemini none (as the real API). */
  id?: string;
  name: string;
  arguments: Record<string, unknown>;
}

/** Exact bytes to serve instead of a generated reply (used to replay recorded fixtures). */
export interface EmulatorRawResponse {
  status: number;
  /** Sent as given; nothing is added but what Node adds itself (`date`, `connection`, framing). */
  headers: Record<string, string>;
  /** A `Buffer` is a `Uint8Array`, so both work. */
  body: string | Uint8Array;
  /** Write the body in pieces of this many bytes, waiting for each piece to reach the socket before the next. */
  splitEvery?: number;
}

/** An error reported inside a 200 stream, after some events. */
export interface EmulatorInStreamError {
  /** Number of counted events written before the error event (see `EmulatorRule.dropAfterEvents`). */
  after: number;
  /** Status the error stands for. Defaults per format: OpenAI 500, Anthropic 529, Gemini 503 (as in the fixtures). */
  status?: number;
  /** The provider's code: OpenAI `error.code`, Anthropic `error.type`, Gemini `error.status`. Derived from `status` when absent. */
  code?: string;
  message?: string;
}

/**
 * A scripted reply or fault. `emu.script(rule)` queues it; each request takes the first queued rule whose
 * `provider` and `match` fit and uses up one of its `times`. Requests no rule takes get the default echo reply
 * (`You said: <last user text>`, streamed word by word).
 *
 * "Events" below are the reply's own SSE events in order (`[DONE]` included); keep-alive comments and Anthropic
 * `ping` events are never counted. Stream-only options are ignored for non-streaming requests unless noted.
 */
export interface EmulatorRule {
  /** Only requests of this wire format. Absent: any of the three. */
  provider?: EmulatorProvider;
  /** Extra predicate on the recorded request (its parsed body, headers, path). */
  match?: (request: RecordedRequest) => boolean;
  /**
   * How many requests the rule answers before it is used up; `Infinity` never runs out.
   * @default 1
   */
  times?: number;

  // --- reply content -------------------------------------------------------------------------------------------

  /** Reply text, split into deltas word by word. Default: `You said: <last user text>`, or `''` when `toolCalls` is set. */
  text?: string;
  /**
   * The model the reply names (`model`, Gemini's `modelVersion`), as real APIs answer with a dated snapshot
   * (`gpt-4o-mini-2024-07-18`). Default: the requested model, echoed.
   */
  model?: string;
  /** Explicit text deltas (wins over `text`; the JSON reply carries their concatenation). */
  chunks?: string[];
  /** Tool calls, after the text. OpenAI streams the arguments in several fragments per call. */
  toolCalls?: EmulatorToolCall[];
  /**
   * Token counts to report. Default: prompt = whitespace-separated words of all request messages and system
   * text (at least 1); completion = number of deltas (text, reasoning and tool-argument fragments).
   */
  usage?: { prompt: number; completion: number };
  /** Wire finish reason as the provider spells it (`length`, `max_tokens`, `MAX_TOKENS`, `SAFETY`, ...). */
  finishReason?: string;
  /**
   * Reasoning text: an Anthropic `thinking` block (with a signature), Gemini `thought: true` parts, and OpenAI
   * `reasoning_content` deltas (the OpenAI-compatible convention; OpenAI itself sends none on Chat Completions).
   */
  reasoning?: string;
  /**
   * Anthropic only: an opaque `redacted_thinking` block with this `data`, after the thinking block (if any). It
   * carries no reasoning text; clients must send it back unchanged, like a thinking block.
   */
  redactedThinking?: string;
  /**
   * Prompt tokens served from the provider's cache (part of the prompt count): OpenAI
   * `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`, Gemini `cachedContentTokenCount`.
   */
  cachedPrompt?: number;
  /** Prompt tokens written to the cache (part of the prompt count): Anthropic `cache_creation_input_tokens` only. */
  cacheWrite?: number;
  /**
   * Reasoning tokens (part of the completion count): OpenAI `completion_tokens_details.reasoning_tokens`, Anthropic
   * `output_tokens_details.thinking_tokens`, Gemini `thoughtsTokenCount`. Default when `reasoning` is set: one per
   * reasoning delta (OpenAI and Gemini; Anthropic reports it only when this is set).
   */
  reasoningTokens?: number;

  // --- HTTP errors ---------------------------------------------------------------------------------------------

  /** Answer with this status; 400 and above get a provider-shaped JSON error body. */
  status?: number;
  /** The provider's code in the error body: OpenAI `error.code`, Anthropic `error.type`, Gemini `error.status`. */
  errorCode?: string;
  errorMessage?: string;
  /** Sent as the `retry-after` header (any response). */
  retryAfter?: string;
  /** Sent as the `retry-after-ms` header (any response). */
  retryAfterMs?: string;
  /** Extra response headers; they win over the emulator's own. */
  headers?: Record<string, string>;
  /** Gemini: adds a `type.googleapis.com/google.rpc.RetryInfo` detail with this `retryDelay` (e.g. `'7s'`). */
  geminiRetryDelay?: string;

  // --- timing and connection faults ----------------------------------------------------------------------------

  /** Wait this long before sending the response headers. */
  delayMs?: number;
  /** Send the headers, then wait this long before the first body byte (JSON replies too). */
  stallAfterHeadersMs?: number;
  /** Wait this long between stream events. */
  chunkDelayMs?: number;
  /** After `after` events, wait `ms` (use a huge value for "forever"; `emu.close()` still ends it). */
  stallAfterEvents?: { after: number; ms: number };
  /**
   * Send the headers, then only keep-alives every `pingIntervalMs` until the client goes away: `: ping` comments
   * (OpenAI, Gemini) or `event: ping` (Anthropic). A non-streaming request gets a space (JSON whitespace) instead.
   */
  pingOnly?: boolean;
  /**
   * Keep-alive period of `pingOnly`.
   * @default 20
   */
  pingIntervalMs?: number;
  /** Insert this many keep-alives between consecutive events. */
  pingsBetweenEvents?: number;
  /**
   * Destroy the socket after this many events, mid-stream. A non-streaming reply is cut after half its body
   * (with the full `content-length` announced).
   */
  dropAfterEvents?: number;
  /** End the stream cleanly without `data: [DONE]` / `message_stop` / a Gemini `finishReason`. */
  omitEndMarker?: boolean;
  /** Cut the JSON of the first content event in half; a non-streaming body (also an error body) is truncated. */
  malformedJson?: boolean;
  /** A provider-shaped error event after some events, then the stream ends. */
  inStreamError?: EmulatorInStreamError;
  /** Reset the connection once the request body arrived (after `delayMs`, if set), before any response byte. */
  resetBeforeResponse?: boolean;
  /** Serve these exact bytes. `delayMs`, `stallAfterHeadersMs`, `chunkDelayMs` (between pieces) still apply. */
  raw?: EmulatorRawResponse;
}

/** A running emulator, from `startEmulator()`. */
export interface Emulator {
  /** `http://<host>:<port>`, no trailing slash. */
  readonly url: string;
  /** Base URLs in the form the official SDKs (and `new Fiber({ baseUrls })`) take them. */
  readonly baseUrls: { readonly openai: string; readonly anthropic: string; readonly gemini: string };
  /** Queue a rule (see `EmulatorRule`). Returns the emulator, so calls chain. */
  script(rule: EmulatorRule): Emulator;
  /** Every request received, in arrival order. `reset()` empties this same array. */
  readonly requests: RecordedRequest[];
  /** Drop all queued rules and recorded requests, and restart the request counter behind `req_emu_<n>`. */
  reset(): void;
  /** Stop listening and destroy every open connection, including stalled ones. Safe to call twice. */
  close(): Promise<void>;
}
