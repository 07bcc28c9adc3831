/**
 * Wire types of the Gemini API (`POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`). Gemini's JSON is camelCase on the wire, so the names below are the wire
 * names. Only the fields llm-fiber reads or writes are typed; everything else passes through `raw` untouched.
 * Reference: https://ai.google.dev/api/generate-content
 */

// ---------------------------------------------------------------------------------------------------------------
// Content (request and response)

export interface GeminiFunctionCall {
  /** Only some models and Vertex send it; absent on the Gemini Developer API as recorded. */
  id?: string;
  name?: string;
  args?: Record<string, unknown> | null;
}

export interface GeminiFunctionResponse {
  id?: string;
  name: string;
  response: Record<string, unknown>;
}

/** One `Part`. Exactly one data field is set; `thought` and `thoughtSignature` may accompany any of them. */
export interface GeminiPart {
  text?: string;
  /** The part is a thought summary (reasoning), not answer text. */
  thought?: boolean;
  /** Opaque signature that must travel back unchanged on the next turn (Gemini 2.5+/3 thinking models). */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
  [field: string]: unknown;
}

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

// ---------------------------------------------------------------------------------------------------------------
// Request

export interface GeminiThinkingConfig {
  thinkingBudget?: number;
  thinkingLevel?: string;
  includeThoughts?: boolean;
}

export interface GeminiGenerationConfig {
  temperature?: number;
  maxOutputTokens?: number;
  seed?: number;
  stopSequences?: string[];
  thinkingConfig?: GeminiThinkingConfig;
  [field: string]: unknown;
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface GeminiTool {
  functionDeclarations: GeminiFunctionDeclaration[];
}

export interface GeminiToolConfig {
  functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] };
}

export interface GeminiGenerateContentBody {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  generationConfig?: GeminiGenerationConfig;
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  [providerOption: string]: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Response (a whole body, or one SSE chunk of a stream: the same shape)

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
  totalTokenCount?: number;
}

export interface GeminiCandidate {
  index?: number;
  content?: { role?: string; parts?: GeminiPart[] | null } | null;
  finishReason?: string | null;
  finishMessage?: string;
}

export interface GeminiGenerateContentResponse {
  candidates?: GeminiCandidate[] | null;
  promptFeedback?: { blockReason?: string | null } | null;
  usageMetadata?: GeminiUsageMetadata | null;
  modelVersion?: string;
  responseId?: string;
  /** In-band stream error (a `data: {"error": …}` event), a `google.rpc.Status`. */
  error?: unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** `google.rpc.Status`, the `error` object of an error body: `{ "error": { code, message, status, details } }`. */
export interface GeminiStatus {
  code?: number;
  message?: string;
  /** The `google.rpc.Code` name, e.g. `RESOURCE_EXHAUSTED`. */
  status?: string;
  details?: Array<{ '@type'?: string; reason?: string; retryDelay?: unknown; [field: string]: unknown }>;
}
