/**
 * Conversation turns: the `ChatMessage` factories and `normalizeMessages`, which turns every shape `messages`
 * accepts into `ChatMessage[]` and rejects malformed input with a `ConfigError` before any I/O. See CONTRACT.md,
 * Types, and `docs/features/messages.md`.
 *
 * `normalizeMessages` runs once per call. Canonical message objects are validated in place and passed through
 * as the same objects (never mutated); a message is copied only when a field must be rewritten
 * (`tool_call_id` → `toolCallId`, an assistant's `content: null` → `''`).
 */
import { ConfigError } from './errors.js';
import type { ChatMessage as ChatMessageShape, ContentPart, MessageInput, Role, ToolCall } from './types.js';

/** One normalized conversation turn (the type lives in `types.ts`; this module adds the value of the same name). */
export type ChatMessage = ChatMessageShape;

const ROLES: ReadonlySet<string> = new Set<Role>(['system', 'user', 'assistant', 'tool']);
const ROLE_LIST = 'system, user, assistant or tool';

type Where = number | string;

/** The path of a message in errors: `messages[3]` for an array element, else the label (`messages`, `ChatMessage.user`). */
function at(where: Where): string {
  return typeof where === 'number' ? `messages[${where}]` : where;
}

function fail(where: Where, what: string): never {
  throw new ConfigError(`${at(where)}: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** A short, safe description of a value's kind for error messages (never the value itself: it may be a prompt). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

/** Quote a short user-supplied token (a role or part type) for an error message. */
function quote(v: unknown): string {
  if (typeof v !== 'string') return kindOf(v);
  return JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v);
}

function checkRole(role: unknown, where: Where): asserts role is Role {
  if (typeof role === 'string' && ROLES.has(role)) return;
  if (role === undefined) fail(where, `missing \`role\` (expected ${ROLE_LIST})`);
  fail(where, `unknown role ${quote(role)} (expected ${ROLE_LIST})`);
}

function checkSource(p: Record<string, unknown>, path: string, allowUrl: boolean): void {
  const hasUrl = p.url !== undefined;
  const hasData = p.data !== undefined;
  if (hasUrl && hasData) throw new ConfigError(`${path}: ${p.type} part has both \`url\` and \`data\`; set one`);
  if (hasUrl && allowUrl) {
    if (!nonEmptyString(p.url)) throw new ConfigError(`${path}: ${p.type} part \`url\` must be a non-empty string`);
    if (p.mediaType !== undefined && !nonEmptyString(p.mediaType)) {
      throw new ConfigError(`${path}: ${p.type} part \`mediaType\` must be a non-empty string`);
    }
    return;
  }
  if (!hasData) {
    throw new ConfigError(
      allowUrl
        ? `${path}: ${p.type} part needs \`url\`, or \`data\` (base64) with \`mediaType\``
        : `${path}: ${p.type} part needs \`data\` (base64) with \`mediaType\``,
    );
  }
  if (!nonEmptyString(p.data)) throw new ConfigError(`${path}: ${p.type} part \`data\` must be a non-empty base64 string`);
  if (!nonEmptyString(p.mediaType)) {
    throw new ConfigError(`${path}: ${p.type} part with \`data\` needs \`mediaType\` (e.g. "image/png")`);
  }
}

function checkParts(parts: unknown[], where: Where, role: Role): void {
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    const path = `${at(where)}.content[${j}]`;
    if (!isObject(p)) throw new ConfigError(`${path}: expected a content part object (got ${kindOf(p)})`);
    switch (p.type) {
      case 'text':
        if (typeof p.text !== 'string') throw new ConfigError(`${path}: text part needs a string \`text\``);
        if (p.text.length === 0) throw new ConfigError(`${path}: text part is empty`);
        break;
      case 'image':
      case 'file':
        checkSource(p, path, true);
        break;
      case 'audio':
        checkSource(p, path, false);
        break;
      default:
        throw new ConfigError(`${path}: unknown content part type ${quote(p.type)} (expected text, image, file or audio)`);
    }
    // Providers take only text in system prompts; catch it here rather than as a provider 400.
    if (role === 'system' && p.type !== 'text') throw new ConfigError(`${path}: system messages take text parts only`);
  }
}

function checkToolCalls(calls: unknown, where: Where): number {
  if (!Array.isArray(calls)) fail(where, `\`toolCalls\` must be an array (got ${kindOf(calls)})`);
  for (let j = 0; j < calls.length; j++) {
    const c = calls[j];
    const path = `${at(where)}.toolCalls[${j}]`;
    if (!isObject(c)) throw new ConfigError(`${path}: expected a tool call object {id, name, arguments}`);
    if (!nonEmptyString(c.id)) throw new ConfigError(`${path}: missing \`id\``);
    if (!nonEmptyString(c.name)) throw new ConfigError(`${path}: missing \`name\``);
    if (!isObject(c.arguments)) {
      throw new ConfigError(
        typeof c.arguments === 'string'
          ? `${path}: \`arguments\` must be an object (parsed), not a JSON string`
          : `${path}: \`arguments\` must be an object (got ${kindOf(c.arguments)})`,
      );
    }
  }
  return calls.length;
}

/**
 * Validate one message object. Returns the same object when it is canonical, else a copy with the rewritten
 * fields. Never mutates `m`.
 */
function normalizeObject(m: Record<string, unknown>, where: Where): ChatMessage {
  const role = m.role;
  checkRole(role, where);

  let toolCallCount = 0;
  if (m.toolCalls !== undefined) {
    if (role !== 'assistant') fail(where, `\`toolCalls\` is only valid on assistant messages (role is "${role}")`);
    toolCallCount = checkToolCalls(m.toolCalls, where);
  } else if (role === 'assistant' && m.tool_calls !== undefined) {
    fail(where, 'use `toolCalls: [{ id, name, arguments }]` (OpenAI\'s wire-format `tool_calls` is not accepted)');
  }
  if (m.providerData !== undefined && !isObject(m.providerData)) fail(where, '`providerData` must be an object');
  // An assistant turn that only called tools (or only thought) legitimately has no text.
  const mayBeEmpty = role === 'assistant' && (toolCallCount > 0 || m.providerData !== undefined);

  let content = m.content;
  let rewrite = false;
  if (typeof content === 'string') {
    if (content.length === 0 && !mayBeEmpty) fail(where, `${role} message content is empty`);
  } else if (Array.isArray(content)) {
    if (content.length === 0 && !mayBeEmpty) fail(where, `${role} message content is an empty array`);
    checkParts(content, where, role);
  } else if (content == null && mayBeEmpty) {
    content = '';
    rewrite = true;
  } else if (content == null) {
    fail(
      where,
      role === 'assistant'
        ? 'missing `content` (null content is allowed only on assistant messages that carry `toolCalls`)'
        : 'missing `content` (expected a string or an array of content parts)',
    );
  } else {
    fail(where, `\`content\` must be a string or an array of content parts (got ${kindOf(content)})`);
  }

  let toolCallId = m.toolCallId;
  if (role === 'tool') {
    if (toolCallId === undefined && m.tool_call_id !== undefined) {
      toolCallId = m.tool_call_id;
      rewrite = true;
    }
    if (!nonEmptyString(toolCallId)) fail(where, 'tool message needs `toolCallId` (the id of the tool call it answers)');
  }
  if (m.name !== undefined && !nonEmptyString(m.name)) fail(where, '`name` must be a non-empty string');

  if (!rewrite) return m as unknown as ChatMessage;
  const copy: Record<string, unknown> = { ...m, content };
  if (role === 'tool') {
    copy.toolCallId = toolCallId;
    delete copy.tool_call_id;
  }
  return copy as unknown as ChatMessage;
}

function fromTuple(t: readonly unknown[], where: Where): ChatMessage {
  if (t.length !== 2) fail(where, `a [role, content] tuple needs exactly 2 elements (got ${t.length})`);
  const role = t[0];
  checkRole(role, where);
  if (role === 'tool') fail(where, 'tool messages need a `toolCallId`: use ChatMessage.tool(id, content) or an object');
  // Validate through the object path so tuples follow exactly the same content rules.
  return normalizeObject({ role, content: t[1] }, where);
}

function normalizeOne(item: unknown, where: Where): ChatMessage {
  if (typeof item === 'string') {
    if (item.length === 0) fail(where, 'empty string message');
    return { role: 'user', content: item };
  }
  if (Array.isArray(item)) return fromTuple(item, where);
  if (isObject(item)) return normalizeObject(item, where);
  return fail(where, `expected a string, a message object or a [role, content] tuple (got ${kindOf(item)})`);
}

/**
 * True for a top-level `[role, content]` tuple: two elements, the first a role name, the second a string or an
 * array. So `['user', 'hi']` is ONE user message "hi", not two messages "user" and "hi"; to send two plain user
 * strings that happen to start with a role name, wrap them (`[['user', 'user'], ['user', 'hi']]`) or use objects.
 */
function isTopLevelTuple(a: readonly unknown[]): boolean {
  if (a.length !== 2) return false;
  const [role, content] = a;
  return typeof role === 'string' && ROLES.has(role) && (typeof content === 'string' || Array.isArray(content));
}

/**
 * Turn any `MessageInput` into a `ChatMessage[]`, validating every message.
 *
 * Accepts a string (one user message), a message object (`ChatMessage` or `{ role, content }`), a
 * `[role, content]` tuple, or an array of those. A top-level array of exactly two elements whose first is a role
 * name and whose second is a string or an array is read as ONE tuple (see `isTopLevelTuple`).
 *
 * The result is a new array; its elements are the caller's own objects wherever they were already canonical
 * (never mutated), and copies only where a field had to be rewritten (`tool_call_id` → `toolCallId`, an
 * assistant's `content: null` → `''`).
 *
 * Rules (each a `ConfigError` naming the message index): at least one message; no empty string content (an
 * assistant turn with `toolCalls` or `providerData` may be empty or null); roles are system, user, assistant,
 * tool; content is a string or content parts (text / image / file with `url` or `data` + `mediaType`; audio with
 * `data` + `mediaType`; system takes text only); tool messages carry `toolCallId` (`tool_call_id` accepted);
 * `toolCalls` only on assistant turns, each with `id`, `name` and object `arguments`.
 *
 * @example
 * normalizeMessages('hi')                                  // [{ role: 'user', content: 'hi' }]
 * normalizeMessages(['system', 'be brief'])                // [{ role: 'system', content: 'be brief' }]
 * normalizeMessages([['system', 'be brief'], 'hi'])        // system + user
 * normalizeMessages([{ role: 'tool', tool_call_id: 'c1', content: '42' }]) // → toolCallId: 'c1'
 */
export function normalizeMessages(input: MessageInput): ChatMessage[] {
  if (Array.isArray(input)) {
    if (input.length === 0) throw new ConfigError('messages: empty; pass at least one message');
    if (isTopLevelTuple(input)) return [fromTuple(input, 'messages')];
    const out = new Array<ChatMessage>(input.length);
    for (let i = 0; i < input.length; i++) out[i] = normalizeOne(input[i], i);
    return out;
  }
  if (typeof input === 'string' || isObject(input)) return [normalizeOne(input, 'messages')];
  if (input === undefined) throw new ConfigError('messages: missing; pass a string, a message, or an array of messages');
  throw new ConfigError(`messages: expected a string, a message object, a [role, content] tuple or an array of these (got ${kindOf(input)})`);
}

const PART_TYPES: ReadonlySet<unknown> = new Set(['text', 'image', 'file', 'audio']);

/** An array meant as content parts (every element a `{ type }` of a part kind), as opposed to a tool's array result. */
function isPartArray(v: unknown): v is ContentPart[] {
  return Array.isArray(v) && v.length > 0 && v.every((p) => isObject(p) && PART_TYPES.has(p.type));
}

/** Options of `ChatMessage.assistant`. */
export interface AssistantMessageOptions {
  /** The tool calls the model made in this turn. */
  toolCalls?: ToolCall[];
  /** Provider blocks to send back unchanged (e.g. Anthropic thinking with its signature). */
  providerData?: Record<string, unknown>;
}

/**
 * Factories for `ChatMessage` values. Each returns a plain, validated object and throws `ConfigError` on bad
 * input.
 *
 * @example
 * const messages = [
 *   ChatMessage.system('You are terse.'),
 *   ChatMessage.user('Weather in Paris?'),
 *   ChatMessage.assistant('', { toolCalls: [{ id: 'c1', name: 'weather', arguments: { city: 'Paris' } }] }),
 *   ChatMessage.tool('c1', { tempC: 21 }),
 * ];
 */
export const ChatMessage = {
  /** A system prompt. */
  system(text: string): ChatMessage {
    return normalizeObject({ role: 'system', content: text }, 'ChatMessage.system');
  },
  /** A user turn: text, or content parts (text, images, files, audio). */
  user(content: string | ContentPart[]): ChatMessage {
    return normalizeObject({ role: 'user', content }, 'ChatMessage.user');
  },
  /**
   * An assistant turn, e.g. to replay history. `text` may be empty or null when the turn carries `toolCalls`
   * (or `providerData`).
   */
  assistant(text: string | null, options: AssistantMessageOptions = {}): ChatMessage {
    const m: Record<string, unknown> = { role: 'assistant', content: text ?? '' };
    if (options.toolCalls !== undefined) m.toolCalls = options.toolCalls;
    if (options.providerData !== undefined) m.providerData = options.providerData;
    return normalizeObject(m, 'ChatMessage.assistant');
  },
  /**
   * A tool result answering the call `toolCallId`. A string or content parts are used as-is; any other value
   * (an object, a number, an array of plain results) is sent as its JSON text.
   */
  tool(toolCallId: string, content: unknown): ChatMessage {
    const body = typeof content === 'string' || isPartArray(content) ? content : JSON.stringify(content);
    return normalizeObject({ role: 'tool', toolCallId, content: body }, 'ChatMessage.tool');
  },
} as const;
