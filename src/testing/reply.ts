/**
 * The emulator's deterministic reply: what to say (echo text, scripted text, tool calls, reasoning) and the token
 * counts, independent of wire format. The format modules (`openai.ts`, `anthropic.ts`, `gemini.ts`) only frame it.
 */
import type { EmulatorProvider, EmulatorRule } from './types.js';

/** A reply tool call with its arguments already serialized and cut into stream fragments. */
export interface ReplyToolCall {
  id: string | undefined;
  name: string;
  arguments: Record<string, unknown>;
  /** `JSON.stringify(arguments)` in pieces; joined they are exact. */
  fragments: string[];
}

/** Everything a format module needs to write one successful reply. */
export interface Reply {
  /** The request number behind `req_emu_<n>` and the response id. */
  n: number;
  /** The model as requested (echoed back). */
  model: string;
  reasoning: string[];
  deltas: string[];
  text: string;
  toolCalls: ReplyToolCall[];
  /**
   * Token counts. `cachedPrompt` and `cacheWrite` are parts of `prompt`, `reasoning` of `completion`; each is set
   * only when the rule asks for it (or, for `reasoning`, when the reply has reasoning).
   */
  usage: { prompt: number; completion: number; cachedPrompt?: number; cacheWrite?: number; reasoning?: number };
  /** Whether the rule set `reasoningTokens` (Anthropic reports thinking tokens only then). */
  reasoningTokensScripted: boolean;
  /** Anthropic `redacted_thinking` data, when scripted. */
  redactedThinking: string | undefined;
  /** Wire finish reason when scripted; otherwise each format picks its own. */
  finishReason: string | undefined;
}

/** Fixed `created` timestamp, so replies are byte-for-byte reproducible. */
export const CREATED = 1_700_000_000;

/**
 * Split text into deltas word by word, each word carrying the whitespace before it (as OpenAI tokens do), so the
 * concatenation is exactly the input. Trailing whitespace joins the last delta.
 */
export function splitWords(text: string): string[] {
  const parts: string[] = text.match(/\s*\S+/g) ?? [];
  const covered = parts.reduce((sum, p) => sum + p.length, 0);
  const tail = text.slice(covered);
  if (tail.length > 0) {
    if (parts.length > 0) parts[parts.length - 1] += tail;
    else parts.push(tail);
  }
  return parts;
}

/** Cut a string into at most `pieces` non-empty parts of near-equal length. */
function splitEven(s: string, pieces: number): string[] {
  if (s.length === 0) return [];
  const size = Math.max(1, Math.ceil(s.length / pieces));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Every text of a message tree: strings, `text` fields of parts, nested `content` (OpenAI, Anthropic tool results)
 * and `parts` (Gemini). Used for the prompt token count.
 */
function collectTexts(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) collectTexts(x, out);
  else if (isRecord(v)) {
    if (typeof v.text === 'string') out.push(v.text);
    if (v.content !== undefined) collectTexts(v.content, out);
    if (v.parts !== undefined) collectTexts(v.parts, out);
  }
}

function countWords(texts: string[]): number {
  let n = 0;
  for (const t of texts) for (const w of t.split(/\s+/)) if (w.length > 0) n += 1;
  return n;
}

/** Text parts of one message's content (a string, or an array of parts/blocks), joined with a space. */
function textOfContent(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    // A Gemini `thought: true` part is model reasoning, never user text.
    else if (isRecord(part) && typeof part.text === 'string' && part.thought !== true) texts.push(part.text);
  }
  return texts.join(' ');
}

/** The messages array and the system text of a request body, per wire format. */
function messagesOf(provider: EmulatorProvider, body: Record<string, unknown>): { messages: unknown[]; system: unknown } {
  if (provider === 'gemini') {
    return { messages: Array.isArray(body.contents) ? body.contents : [], system: body.systemInstruction };
  }
  // OpenAI keeps system turns inside `messages`; Anthropic has a top-level `system`.
  return { messages: Array.isArray(body.messages) ? body.messages : [], system: body.system };
}

/**
 * Text of the last user turn that carries any. Turns holding only tool results (Anthropic `tool_result` blocks,
 * Gemini `functionResponse` parts) are skipped, so the echo stays the same across a tool round trip.
 */
export function lastUserText(provider: EmulatorProvider, body: Record<string, unknown>): string {
  const { messages } = messagesOf(provider, body);
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (!isRecord(m)) continue;
    // Gemini: a missing role means user.
    const isUser = provider === 'gemini' ? m.role === undefined || m.role === 'user' : m.role === 'user';
    if (!isUser) continue;
    const text = textOfContent(provider === 'gemini' ? m.parts : m.content);
    if (text.length > 0) return text;
  }
  return '';
}

/** Whitespace-separated words over all messages and the system text, at least 1. */
export function promptTokens(provider: EmulatorProvider, body: Record<string, unknown>): number {
  const { messages, system } = messagesOf(provider, body);
  const texts: string[] = [];
  collectTexts(system, texts);
  collectTexts(messages, texts);
  return Math.max(1, countWords(texts));
}

/** Build the reply a request gets under a rule (or under no rule: the echo). */
export function buildReply(
  provider: EmulatorProvider,
  body: Record<string, unknown>,
  model: string,
  rule: EmulatorRule,
  n: number,
): Reply {
  let deltas: string[];
  if (rule.chunks !== undefined) deltas = [...rule.chunks];
  else if (rule.text !== undefined) deltas = splitWords(rule.text);
  else if (rule.toolCalls !== undefined && rule.toolCalls.length > 0) deltas = [];
  else deltas = splitWords(`You said: ${lastUserText(provider, body)}`);

  const toolCalls: ReplyToolCall[] = (rule.toolCalls ?? []).map((call) => ({
    id: call.id,
    name: call.name,
    arguments: call.arguments,
    // Three fragments per call, so a client must really concatenate (and `{}` still comes in two).
    fragments: splitEven(JSON.stringify(call.arguments ?? {}), 3),
  }));
  const reasoning = rule.reasoning !== undefined ? splitWords(rule.reasoning) : [];

  const fragmentCount = toolCalls.reduce((sum, c) => sum + c.fragments.length, 0);
  const usage = rule.usage ?? {
    prompt: promptTokens(provider, body),
    completion: deltas.length + reasoning.length + fragmentCount,
  };
  const counts: Reply['usage'] = { prompt: usage.prompt, completion: usage.completion };
  if (rule.cachedPrompt !== undefined) counts.cachedPrompt = rule.cachedPrompt;
  if (rule.cacheWrite !== undefined) counts.cacheWrite = rule.cacheWrite;
  if (rule.reasoningTokens !== undefined) counts.reasoning = rule.reasoningTokens;
  else if (reasoning.length > 0) counts.reasoning = reasoning.length;
  return {
    n,
    model: rule.model ?? model,
    reasoning,
    deltas,
    text: deltas.join(''),
    toolCalls,
    usage: counts,
    reasoningTokensScripted: rule.reasoningTokens !== undefined,
    redactedThinking: rule.redactedThinking,
    finishReason: rule.finishReason,
  };
}
