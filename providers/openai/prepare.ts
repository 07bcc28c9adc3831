/**
 * `NormalizedRequest` → the Chat Completions HTTP request. Runs once per attempt, so the body object is built
 * directly and serialised once; messages whose content is already a string and that carry nothing to rename are
 * passed to `JSON.stringify` as they are, without a copy.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolCall, ToolSpec, WireRequest } from '../../src/types.js';
import type { OpenAIChatBody, OpenAIContentPart, OpenAIMessage, OpenAITool, OpenAIToolCallWire, OpenAIToolChoice } from './wire.js';

/**
 * Build the `POST {baseUrl}/chat/completions` request for a normalized request.
 *
 * Headers: `content-type`, `authorization: Bearer <key>` (only when a key is set), then the provider's headers,
 * then the call's headers. `req.providerOptions` are merged into the body last (shallow), so they can set any
 * wire field this adapter does not know; `__proto__`, `constructor` and `prototype` keys are skipped.
 *
 * @param name - provider name used in error messages
 * @default name 'openai'
 * @example
 * const wire = prepareChat({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: false },
 *   { apiKey: process.env.OPENAI_API_KEY, baseUrl: 'https://api.openai.com/v1', headers: {} });
 */
export function prepareChat(req: NormalizedRequest, env: ProviderEnv, name = 'openai', dialect: ChatDialect = OPENAI_DIALECT): WireRequest {
  const body: OpenAIChatBody = { model: req.model, messages: mapMessages(req.messages, req.model, name) };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.maxTokens !== undefined) body[dialect.maxTokensField] = req.maxTokens;
  if (req.seed !== undefined) body.seed = req.seed;
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.tool_choice = mapToolChoice(req.toolChoice);
  if (req.reasoning?.effort !== undefined) body.reasoning_effort = req.reasoning.effort;
  if (req.stream) {
    body.stream = true;
    if (dialect.streamUsage) body.stream_options = { include_usage: true };
  }
  const extra = req.providerOptions;
  if (extra !== undefined) {
    for (const key in extra) {
      if (!Object.prototype.hasOwnProperty.call(extra, key)) continue;
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
      body[key] = extra[key];
    }
  }

  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.apiKey) {
    if (dialect.auth === 'bearer') headers.authorization = 'Bearer ' + env.apiKey;
    else if (dialect.auth === 'api-key') headers['api-key'] = env.apiKey;
  }
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  const url = dialect.url === null ? env.baseUrl + '/chat/completions' : dialect.url(env.baseUrl, req.model);
  return { method: 'POST', url, headers, body: JSON.stringify(body) };
}

/**
 * How an OpenAI-compatible server differs from OpenAI's own Chat Completions wire (`openaiCompatible` quirks).
 * Differences are options of one adapter, not forks of it.
 */
export interface ChatDialect {
  /** Body field that carries `maxTokens`. */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Send `stream_options.include_usage` on streams. */
  streamUsage: boolean;
  /** How the key travels: `Authorization: Bearer`, Azure's `api-key` header, or not at all. */
  auth: 'bearer' | 'api-key' | 'none';
  /** Full URL for a call, or null for `${baseUrl}/chat/completions`. */
  url: ((baseUrl: string, model: string) => string) | null;
}

/** OpenAI's own Chat Completions wire. */
export const OPENAI_DIALECT: ChatDialect = Object.freeze({ maxTokensField: 'max_completion_tokens', streamUsage: true, auth: 'bearer', url: null });

function mapMessages(messages: readonly ChatMessage[], model: string, name: string): OpenAIMessage[] {
  const out: OpenAIMessage[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    // Fast path: a plain system/user/assistant turn with string content has the wire shape already.
    if (typeof m.content === 'string' && m.role !== 'tool' && m.toolCalls === undefined && m.providerData === undefined && m.toolCallId === undefined) {
      out[i] = m as OpenAIMessage;
      continue;
    }
    out[i] = mapMessage(m, model, name);
  }
  return out;
}

function mapMessage(m: ChatMessage, model: string, name: string): OpenAIMessage {
  const content = typeof m.content === 'string' ? m.content : mapParts(m.content, m.role, model, name);
  switch (m.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId ?? '', content };
    case 'assistant': {
      const msg: OpenAIMessage = { role: 'assistant', content };
      if (m.name !== undefined) msg.name = m.name;
      if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
        // The API takes `content: null` beside tool calls; an empty string there is what ChatMessage.assistant('') holds.
        if (content === '') msg.content = null;
        msg.tool_calls = mapToolCalls(m.toolCalls);
      }
      return msg;
    }
    default: {
      const msg: OpenAIMessage = { role: m.role, content };
      if (m.name !== undefined) msg.name = m.name;
      return msg;
    }
  }
}

function mapParts(parts: readonly ContentPart[], role: ChatMessage['role'], model: string, name: string): OpenAIContentPart[] {
  const out: OpenAIContentPart[] = new Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.type === 'text') {
      out[i] = { type: 'text', text: p.text };
    } else if (p.type === 'image' && role === 'user') {
      out[i] = { type: 'image_url', image_url: { url: 'data' in p ? `data:${p.mediaType};base64,${p.data}` : p.url } };
    } else {
      const where = p.type === 'image' ? `in a ${role} message` : 'in this adapter yet';
      throw new BadRequestError(errorMessage(name, model, `content part type '${p.type}' is not supported ${where}`), {
        provider: name,
        model,
        code: 'unsupported_content_part',
        retryable: false,
      });
    }
  }
  return out;
}

function mapToolCalls(calls: readonly ToolCall[]): OpenAIToolCallWire[] {
  const out: OpenAIToolCallWire[] = new Array(calls.length);
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    out[i] = { id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.arguments ?? {}) } };
  }
  return out;
}

function mapTools(tools: readonly ToolSpec[]): OpenAITool[] {
  const out: OpenAITool[] = new Array(tools.length);
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]!;
    const fn: OpenAITool['function'] = { name: t.name };
    if (t.description !== undefined) fn.description = t.description;
    if (t.parameters !== undefined) fn.parameters = t.parameters;
    out[i] = { type: 'function', function: fn };
  }
  return out;
}

function mapToolChoice(choice: NonNullable<NormalizedRequest['toolChoice']>): OpenAIToolChoice {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}
