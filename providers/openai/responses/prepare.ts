/**
 * `NormalizedRequest` → the Responses API HTTP request. Runs once per attempt, so the body object is built directly
 * and serialised once; plain string turns (no name, tool calls or provider data) already have the wire shape of an
 * input message and are passed to `JSON.stringify` as they are, without a copy.
 */
import { BadRequestError, ConfigError, errorMessage } from '../../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv, ToolCall, ToolSpec, WireRequest } from '../../../src/types.js';
import { decodedLength, mb } from '../../shared/inline-size.js';
import { assignProviderOptions } from '../../shared/provider-options.js';
import { unsupportedPart } from '../../shared/request-errors.js';
import { isReasoningModel, OPENAI_MAX_FILE_BYTES, reasoningEffort } from '../prepare.js';
import type {
  ResponsesBody,
  ResponsesFunctionCallItem,
  ResponsesInputContent,
  ResponsesInputItem,
  ResponsesKeptItem,
  ResponsesMessageItem,
  ResponsesTool,
  ResponsesToolChoice,
} from './wire.js';

/** Include value that makes reasoning items carry `encrypted_content`, so they can be replayed with `store: false`. */
export const ENCRYPTED_REASONING = 'reasoning.encrypted_content';

/**
 * Build the `POST {baseUrl}/responses` request for a normalized request.
 *
 * Mapping:
 * - leading system turns → `instructions` (joined with a blank line); later system turns stay `system` input
 *   messages; user turns → messages with `input_text` / `input_image` / `input_file` parts (a plain string as is;
 *   a file URL as `file_url`, bytes as `file_data` with a filename); `audio` parts → `BadRequestError` (the
 *   Responses API takes no audio input);
 * - assistant turns → an assistant message with `output_text` and one `function_call` item per tool call; items
 *   kept in `providerData.openaiResponses` (reasoning items, item ids; see `parse.ts` `keptItems`) are replayed in
 *   their original order around them; tool turns → `function_call_output` items;
 * - `maxTokens` → `max_output_tokens`; tools → `{ type: 'function', name, description, parameters, strict: false }`
 *   (Chat Completions semantics: the Responses API would otherwise default to strict schemas);
 * - `reasoning`, checked before sending by the Chat wire's rules (`reasoningEffort` in `../prepare.ts`): `effort`
 *   → `reasoning.effort` for reasoning models only (the o-series, the gpt-5 family; `'minimal'` / `'none'` refused
 *   on the o-series); on any other model `'none'` is dropped and another effort is a `BadRequestError`;
 *   `budgetTokens` alone is a `BadRequestError` (OpenAI counts no thinking budget), beside an effort it is
 *   ignored; `summary: true` → `reasoning.summary: 'auto'` on reasoning models, dropped elsewhere (the API rejects
 *   `reasoning` for models that do not reason; the Chat wire ignores `summary` too);
 * - `store: false` (llm-fiber sends the whole conversation on every call and never uses `previous_response_id`);
 *   with it, a request that sends `reasoning` (other than effort `'none'`) also asks for
 *   `include: ['reasoning.encrypted_content']`, so reasoning items can be sent back on the next turn;
 * - file bytes (`file` parts given as base64 `data` or a `data:` URL) are limited to `OPENAI_MAX_FILE_BYTES`
 *   (32 MiB) per request, as on the Chat wire: more is a `BadRequestError` (code `content_too_large`) before
 *   sending; file URLs are fetched by the API and not counted;
 * - `seed` and `stop` do not exist on this API: `BadRequestError` (code `unsupported_option`) before sending.
 *
 * `req.providerOptions` are merged into the body last (shallow, so `store: true` or `include` can be set), except
 * `api`, which picks the wire and is not a body field; `__proto__`, `constructor` and `prototype` are skipped.
 * Headers as for Chat Completions: `content-type`, `authorization: Bearer <key>` when a key is set, then the
 * provider's headers, then the call's.
 *
 * @param name - provider name used in error messages
 * @default name 'openai'
 * @example
 * const wire = prepareResponses({ model: 'o4-mini', messages: [{ role: 'user', content: 'hi' }], stream: true },
 *   { apiKey: process.env.OPENAI_API_KEY, baseUrl: 'https://api.openai.com/v1', headers: {} });
 */
export function prepareResponses(req: NormalizedRequest, env: ProviderEnv, name = 'openai'): WireRequest {
  const model = req.model;
  if (req.seed !== undefined) throw unsupported(name, model, 'seed');
  if (req.stop !== undefined && req.stop.length > 0) throw unsupported(name, model, 'stop');

  const messages = req.messages;
  let start = 0;
  let instructions: string | undefined;
  while (start < messages.length && messages[start]!.role === 'system') {
    const text = systemText(messages[start]!, model, name);
    instructions = instructions === undefined ? text : instructions + '\n\n' + text;
    start++;
  }

  const body: ResponsesBody = { model, input: mapInput(messages, start, model, name, new FileBytes(model, name)) };
  if (instructions !== undefined) body.instructions = instructions;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.maxTokens !== undefined) body.max_output_tokens = req.maxTokens;
  if (req.tools !== undefined && req.tools.length > 0) body.tools = mapTools(req.tools);
  if (req.toolChoice !== undefined) body.tool_choice = mapToolChoice(req.toolChoice);
  const reasoning = req.reasoning;
  // Reasoning this request sends (an effort other than 'none', or summaries): then its items come back.
  let sendsReasoning = false;
  if (reasoning !== undefined) {
    // OpenAI's own rules, as on the Chat wire: throws BadRequestError before sending for what no model here takes.
    const effort = reasoningEffort(reasoning, model, name, true);
    const r: NonNullable<ResponsesBody['reasoning']> = {};
    if (effort !== undefined) r.effort = effort;
    if (reasoning.summary === true && isReasoningModel(model)) r.summary = 'auto';
    if (r.effort !== undefined || r.summary !== undefined) {
      body.reasoning = r;
      sendsReasoning = r.effort !== 'none';
    }
  }
  body.store = false;
  if (req.stream) body.stream = true;
  // `api` picks the wire (openai({ api }) / providerOptions.api); it is no body field.
  assignProviderOptions(body, req.providerOptions, 'api');
  // Reasoning items of an unstored response can only come back with their encrypted content. Only requests that
  // send reasoning get it: the API rejects the include for models that do not reason (gpt-4o, gpt-4.1), and a
  // request whose reasoning was dropped (or was only a budget) asked for none.
  if (body.store === false && body.include === undefined && sendsReasoning) {
    body.include = [ENCRYPTED_REASONING];
  }

  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (env.apiKey) headers.authorization = 'Bearer ' + env.apiKey;
  // Later sources win: provider-level headers, then per-call headers (both already validated by the core).
  Object.assign(headers, env.headers, req.headers);

  return { method: 'POST', url: env.baseUrl + '/responses', headers, body: JSON.stringify(body) };
}

function unsupported(name: string, model: string, option: string): BadRequestError {
  return new BadRequestError(errorMessage(name, model, `\`${option}\` is not supported by the OpenAI Responses API (use the chat wire: providerOptions { api: 'chat' })`), {
    provider: name,
    model,
    code: 'unsupported_option',
    retryable: false,
  });
}

/** Counts the inline file bytes of a request and refuses more than `OPENAI_MAX_FILE_BYTES` (the Chat wire's limit). */
class FileBytes {
  private total = 0;

  constructor(private readonly model: string, private readonly name: string) {}

  /** Count a file part's inline bytes (a URL the API fetches counts nothing); throws past the limit. */
  add(p: Extract<ContentPart, { type: 'file' }>, where: string): void {
    this.total += inlineBytes(p);
    if (this.total <= OPENAI_MAX_FILE_BYTES) return;
    const why = `brings the request's files to ${mb(this.total)}, over OpenAI's ${mb(OPENAI_MAX_FILE_BYTES)} per request`;
    throw new BadRequestError(errorMessage(this.name, this.model, `content part 'file' (${where}) ${why}`), {
      provider: this.name,
      model: this.model,
      code: 'content_too_large',
      retryable: false,
    });
  }
}

/** Decoded bytes of a file part's inline data: base64 `data`, or the payload of a `data:` URL; 0 for other URLs. */
function inlineBytes(p: Extract<ContentPart, { type: 'file' }>): number {
  if ('data' in p) return decodedLength(p.data);
  if (!p.url.startsWith('data:')) return 0;
  const comma = p.url.indexOf(',');
  if (comma === -1) return 0;
  return p.url.slice(5, comma).endsWith(';base64') ? decodedLength(p.url.slice(comma + 1)) : p.url.length - comma - 1;
}

function mapInput(messages: readonly ChatMessage[], start: number, model: string, name: string, files: FileBytes): ResponsesInputItem[] {
  const out: ResponsesInputItem[] = [];
  for (let i = start; i < messages.length; i++) {
    const m = messages[i]!;
    // Fast path: a plain system/user/assistant turn with string content is already an input message.
    if (typeof m.content === 'string' && m.role !== 'tool' && m.toolCalls === undefined && m.providerData === undefined && m.toolCallId === undefined && m.name === undefined) {
      out.push(m as ResponsesMessageItem);
      continue;
    }
    switch (m.role) {
      case 'tool':
        out.push({ type: 'function_call_output', call_id: m.toolCallId ?? '', output: toolOutput(m.content, i, model, name, files) });
        break;
      case 'assistant':
        pushAssistant(out, m, model, name);
        break;
      default:
        // Responses messages have no `name`: it is dropped.
        out.push({ role: m.role, content: typeof m.content === 'string' ? m.content : inputParts(m.content, m.role, i, model, name, files) });
    }
  }
  return out;
}

/**
 * An assistant turn: its kept items (reasoning, ids) in their original order, the text as an `output_text`
 * message and each tool call as a `function_call` item. A kept message/function-call id is attached to the item it
 * names; text or calls the kept list does not name follow at the end (text first, then calls, as the API emits).
 */
function pushAssistant(out: ResponsesInputItem[], m: ChatMessage, model: string, name: string): void {
  const text = typeof m.content === 'string' ? m.content : assistantText(m.content, model, name);
  const calls = m.toolCalls ?? [];
  const kept = keptItemsOf(m.providerData);
  let textDone = text === '' && calls.length > 0;
  let used: boolean[] | null = null;
  if (kept !== null) {
    for (let k = 0; k < kept.length; k++) {
      const item = kept[k]!;
      if (item.type === 'reasoning') {
        out.push(item);
      } else if (item.type === 'message') {
        if (!textDone) {
          out.push(assistantMessage(text, item.id));
          textDone = true;
        }
      } else if (item.type === 'function_call') {
        for (let j = 0; j < calls.length; j++) {
          if (calls[j]!.id !== item.call_id || (used !== null && used[j] === true)) continue;
          if (used === null) used = new Array<boolean>(calls.length).fill(false);
          used[j] = true;
          out.push(functionCall(calls[j]!, item.id));
          break;
        }
      }
    }
  }
  if (!textDone) out.push(assistantMessage(text, undefined));
  for (let j = 0; j < calls.length; j++) {
    if (used === null || used[j] !== true) out.push(functionCall(calls[j]!, undefined));
  }
}

function assistantMessage(text: string, id: string | undefined): ResponsesMessageItem {
  const msg: ResponsesMessageItem = { role: 'assistant', content: [{ type: 'output_text', text }] };
  if (id !== undefined) msg.id = id;
  return msg;
}

function functionCall(c: ToolCall, id: string | undefined): ResponsesFunctionCallItem {
  const item: ResponsesFunctionCallItem = { type: 'function_call', call_id: c.id, name: c.name, arguments: JSON.stringify(c.arguments ?? {}) };
  if (id !== undefined) item.id = id;
  return item;
}

/** The kept items of a turn written by `parse.ts` / `stream.ts`, or null; anything malformed is ignored. */
function keptItemsOf(providerData: Record<string, unknown> | undefined): ResponsesKeptItem[] | null {
  if (providerData === undefined) return null;
  const data = providerData.openaiResponses;
  if (data === null || typeof data !== 'object') return null;
  const items = (data as { items?: unknown }).items;
  if (!Array.isArray(items)) return null;
  const out: ResponsesKeptItem[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    const t = (item as { type?: unknown }).type;
    const id = (item as { id?: unknown }).id;
    if (t === 'reasoning') out.push(item as ResponsesKeptItem);
    else if (t === 'message' && typeof id === 'string') out.push({ type: 'message', id });
    else if (t === 'function_call' && typeof id === 'string' && typeof (item as { call_id?: unknown }).call_id === 'string') {
      out.push({ type: 'function_call', id, call_id: (item as { call_id: string }).call_id });
    }
  }
  return out;
}

function systemText(m: ChatMessage, model: string, name: string): string {
  return typeof m.content === 'string' ? m.content : assistantText(m.content, model, name);
}

/** Text of a turn whose parts may only be text (system and assistant turns). */
function assistantText(parts: readonly ContentPart[], model: string, name: string): string {
  let text = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.type !== 'text') throw unsupportedPart(p.type, 'in a system or assistant message', model, name);
    text += p.text;
  }
  return text;
}

/** A tool result: a string as is; text-only parts joined; parts with images as an input list. */
function toolOutput(content: string | ContentPart[], message: number, model: string, name: string, files: FileBytes): string | ResponsesInputContent[] {
  if (typeof content === 'string') return content;
  let textOnly = true;
  for (const p of content) if (p.type !== 'text') textOnly = false;
  if (textOnly) return assistantText(content, model, name);
  return inputParts(content, 'tool', message, model, name, files);
}

/** @param message - the turn's index in `messages`, for error messages */
function inputParts(parts: readonly ContentPart[], role: ChatMessage['role'], message: number, model: string, name: string, files: FileBytes): ResponsesInputContent[] {
  const out: ResponsesInputContent[] = new Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.type === 'text') {
      out[i] = { type: 'input_text', text: p.text };
    } else if (p.type === 'image' && (role === 'user' || role === 'tool')) {
      out[i] = { type: 'input_image', image_url: 'data' in p ? `data:${p.mediaType};base64,${p.data}` : p.url };
    } else if (p.type === 'file' && (role === 'user' || role === 'tool')) {
      files.add(p, `messages[${message}].content[${i}]`);
      out[i] = inputFile(p, i);
    } else {
      const where = p.type === 'audio' ? 'by the Responses API (use the chat wire with an audio model)' : `in a ${role} message`;
      throw unsupportedPart(p.type, where, model, name);
    }
  }
  return out;
}

/** A file part: a URL as `file_url` (the API fetches it), bytes (or a `data:` URL) as `file_data` with a filename. */
function inputFile(p: Extract<ContentPart, { type: 'file' }>, index: number): ResponsesInputContent {
  if ('data' in p) return { type: 'input_file', filename: fileName(p.mediaType, index), file_data: `data:${p.mediaType};base64,${p.data}` };
  if (p.url.startsWith('data:')) {
    const mediaType = p.mediaType ?? p.url.slice(5, p.url.search(/[;,]/));
    return { type: 'input_file', filename: fileName(mediaType, index), file_data: p.url };
  }
  return { type: 'input_file', file_url: p.url };
}

function fileName(mediaType: string | undefined, index: number): string {
  return mediaType === 'application/pdf' ? `file-${index}.pdf` : `file-${index}`;
}

function mapTools(tools: readonly ToolSpec[]): ResponsesTool[] {
  const out: ResponsesTool[] = new Array(tools.length);
  for (let i = 0; i < tools.length; i++) {
    const t = tools[i]!;
    const tool: ResponsesTool = { type: 'function', name: t.name, strict: false };
    if (t.description !== undefined) tool.description = t.description;
    if (t.parameters !== undefined) tool.parameters = t.parameters;
    out[i] = tool;
  }
  return out;
}

function mapToolChoice(choice: NonNullable<NormalizedRequest['toolChoice']>): ResponsesToolChoice {
  return typeof choice === 'string' ? choice : { type: 'function', name: choice.name };
}

/**
 * The wire a call uses: `providerOptions.api` when set (`'chat'` or `'responses'`), else the adapter's own.
 * Anything else is a `ConfigError` (bad input, before any I/O).
 */
export function wireOf(req: NormalizedRequest, fallback: 'chat' | 'responses', name: string): 'chat' | 'responses' {
  const extra = req.providerOptions;
  if (extra === undefined || !Object.prototype.hasOwnProperty.call(extra, 'api')) return fallback;
  const api = extra.api;
  if (api === 'chat' || api === 'responses') return api;
  throw new ConfigError(`${name}: providerOptions.api must be 'chat' or 'responses'`, { provider: name, model: req.model });
}
