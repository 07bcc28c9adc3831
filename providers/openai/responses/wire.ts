/**
 * Wire types of the OpenAI Responses API (`POST /responses`), snake_case as on the wire. Only the fields llm-fiber
 * reads or writes are typed; everything else passes through `raw` untouched.
 * Reference: https://platform.openai.com/docs/api-reference/responses (request, the response object, streaming
 * events). Error bodies are the Chat Completions shape (`{ error: { message, type, param, code } }`, see
 * `../wire.ts`).
 */

// ---------------------------------------------------------------------------------------------------------------
// Request

export type ResponsesInputContent =
  | { type: 'input_text'; text: string }
  | { type: 'input_image'; image_url: string; detail?: 'auto' | 'low' | 'high' }
  | { type: 'input_file'; file_url: string }
  | { type: 'input_file'; filename: string; file_data: string };

export type ResponsesOutputContent = { type: 'output_text'; text: string };

/**
 * A message input item. System/user turns carry `input_text` / `input_image` parts (or a plain string); assistant
 * turns carry `output_text` parts, plus the `id` (and `status`) of the output item they replay when one was kept.
 */
export interface ResponsesMessageItem {
  type?: 'message';
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string | ResponsesInputContent[] | ResponsesOutputContent[];
  id?: string;
  status?: 'completed';
}

export interface ResponsesFunctionCallItem {
  type: 'function_call';
  call_id: string;
  name: string;
  /** JSON text. */
  arguments: string;
  /** The output item id (`fc_…`), only when replaying a stored response. */
  id?: string;
}

export interface ResponsesFunctionCallOutputItem {
  type: 'function_call_output';
  call_id: string;
  output: string | ResponsesInputContent[];
}

/** A reasoning item as returned in `output` and accepted back in `input`. */
export interface ResponsesReasoningItem {
  type: 'reasoning';
  id?: string;
  summary: Array<{ type: 'summary_text'; text: string }>;
  /** Present when the request had `include: ['reasoning.encrypted_content']`. */
  encrypted_content?: string | null;
}

export type ResponsesInputItem =
  | ResponsesMessageItem
  | ResponsesFunctionCallItem
  | ResponsesFunctionCallOutputItem
  | ResponsesReasoningItem;

export interface ResponsesTool {
  type: 'function';
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  /** The Responses API defaults this to true (Chat Completions to false); llm-fiber always sends false. */
  strict: boolean;
}

export type ResponsesToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; name: string };

export interface ResponsesBody {
  model: string;
  input: ResponsesInputItem[];
  instructions?: string;
  temperature?: number;
  max_output_tokens?: number;
  tools?: ResponsesTool[];
  tool_choice?: ResponsesToolChoice;
  reasoning?: { effort?: string; summary?: 'auto' | 'concise' | 'detailed' };
  include?: string[];
  store?: boolean;
  stream?: boolean;
  [providerOption: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

export interface ResponsesUsageWire {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number | null } | null;
  output_tokens_details?: { reasoning_tokens?: number | null } | null;
}

/** An item of `output` (message, reasoning, function_call; other types are skipped). */
export interface ResponsesOutputItem {
  type?: string;
  id?: string;
  status?: string;
  // message
  role?: string;
  content?: Array<{ type?: string; text?: string }> | null;
  // reasoning
  summary?: Array<{ type?: string; text?: string }> | null;
  encrypted_content?: string | null;
  // function_call
  call_id?: string;
  name?: string;
  arguments?: string;
}

/** `Response.error`: set when `status` is `failed`. */
export interface ResponsesErrorWire {
  code?: string | null;
  message?: string;
}

export interface ResponsesResponse {
  id?: string;
  object?: string;
  model?: string;
  /** `completed`, `incomplete`, `failed`, `in_progress`, `queued`, `cancelled`. */
  status?: string;
  output?: ResponsesOutputItem[] | null;
  incomplete_details?: { reason?: string | null } | null;
  error?: ResponsesErrorWire | null;
  usage?: ResponsesUsageWire | null;
  store?: boolean | null;
}

// ---------------------------------------------------------------------------------------------------------------
// Stream: typed events (`event: <type>` lines are optional; the JSON `type` field is what is read)

export interface ResponsesStreamEvent {
  type?: string;
  sequence_number?: number;
  /** `response.created` / `.in_progress` / `.completed` / `.incomplete` / `.failed`. */
  response?: ResponsesResponse;
  /** `response.output_item.added` / `.done`. */
  item?: ResponsesOutputItem;
  output_index?: number;
  item_id?: string;
  summary_index?: number;
  content_index?: number;
  /** `*.delta` events. */
  delta?: string;
  /** `response.function_call_arguments.done`. */
  arguments?: string;
  name?: string;
  /** `error` events: OpenAI nests the error object (`{type:'error', error:{type,code,message,param}}`)… */
  error?: unknown;
  /** …some servers put its fields on the event itself. */
  code?: string | null;
  message?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// providerData

/**
 * What an assistant turn keeps in `providerData.openaiResponses` for the next request (see `parse.ts`,
 * `keptItems`): the reasoning items verbatim (id, summary, encrypted_content) and, for a stored response, the ids
 * of the message and function-call items, in output order, so reasoning stays paired with what followed it.
 */
export type ResponsesKeptItem =
  | ResponsesReasoningItem
  | { type: 'message'; id: string }
  | { type: 'function_call'; id: string; call_id: string };

export interface ResponsesProviderData {
  items: ResponsesKeptItem[];
}
