/**
 * Wire types of the OpenAI Chat Completions API (`POST /chat/completions`), snake_case as on the wire. Only the
 * fields llm-fiber reads or writes are typed; everything else passes through `raw` untouched.
 * Reference: https://platform.openai.com/docs/api-reference/chat
 */

// ---------------------------------------------------------------------------------------------------------------
// Request

export type OpenAIContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string } }
  /** A PDF as a `data:` URL (`file_id` uploads are not produced by this adapter). */
  | { type: 'file'; file: { filename: string; file_data: string } }
  /** Raw base64 audio (no `data:` prefix); audio-capable models only. */
  | { type: 'input_audio'; input_audio: { data: string; format: 'wav' | 'mp3' } };

export interface OpenAIToolCallWire {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAIMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | OpenAIContentPart[] | null;
  name?: string;
  tool_calls?: OpenAIToolCallWire[];
  tool_call_id?: string;
}

export interface OpenAITool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type OpenAIToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

export interface OpenAIChatBody {
  model: string;
  messages: OpenAIMessage[];
  temperature?: number;
  max_completion_tokens?: number;
  /** Older servers and most OpenAI-compatible ones (vLLM, Ollama, Groq) take this instead. */
  max_tokens?: number;
  seed?: number;
  stop?: string[];
  tools?: OpenAITool[];
  tool_choice?: OpenAIToolChoice;
  reasoning_effort?: string;
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  [providerOption: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

export interface OpenAIUsageWire {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
}

export interface OpenAIResponseToolCall {
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChoice {
  index?: number;
  message?: {
    role?: string;
    content?: string | null;
    refusal?: string | null;
    tool_calls?: OpenAIResponseToolCall[] | null;
    /** OpenAI-compatible servers (DeepSeek, vLLM, llama.cpp): the model's reasoning text. OpenAI sends none. */
    reasoning_content?: string | null;
    /** The same under the name some servers use instead (Groq, OpenRouter, newer vLLM). */
    reasoning?: string | null;
  };
  finish_reason?: string | null;
}

export interface OpenAIChatCompletion {
  id?: string;
  object?: string;
  model?: string;
  choices?: OpenAIChoice[];
  usage?: OpenAIUsageWire | null;
  /** Not part of a completion: a proxy or compatible server's error object in a 200 body. */
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Stream

export interface OpenAIToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChunkChoice {
  index?: number;
  delta?: {
    role?: string;
    content?: string | null;
    refusal?: string | null;
    tool_calls?: OpenAIToolCallDelta[] | null;
    /** OpenAI-compatible reasoning deltas (see `OpenAIChoice.message.reasoning_content`). */
    reasoning_content?: string | null;
    reasoning?: string | null;
  };
  finish_reason?: string | null;
}

export interface OpenAIChatChunk {
  id?: string;
  model?: string;
  choices?: OpenAIChunkChoice[];
  usage?: OpenAIUsageWire | null;
  /** In-band error (a `data: {"error": …}` event). */
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The error object of an error body `{ "error": { message, type, param, code } }`. */
export interface OpenAIErrorObject {
  message?: string;
  type?: string | null;
  param?: string | null;
  code?: string | number | null;
}
