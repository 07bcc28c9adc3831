/**
 * `normalizeRequest`: validates a `ChatRequest` and builds the `NormalizedRequest` middleware and adapters see.
 * Every rule throws `ConfigError` naming the field, before any I/O. See CONTRACT.md, Calls and Errors.
 *
 * Runs once per call, so it makes one pass over the caller's own keys and switches on each; options that are
 * absent cost nothing. Caller objects are never mutated; arrays and objects that need no rewriting (messages,
 * stop, tools, providerOptions) are passed through by reference, so middleware must replace, not edit, them.
 */
import { ConfigError } from './errors.js';
import { validateHeaders } from './headers.js';
import { normalizeMessages } from './messages.js';
import { Timeouts, type TimeoutsInit } from './timeouts.js';
import type { ChatRequest, NormalizedRequest, ReasoningOptions, ToolSpec } from './types.js';

/**
 * Every key of `ChatRequest`. Typed as a record over `keyof ChatRequest` so adding a field to `ChatRequest`
 * without listing it here fails to compile.
 */
const REQUEST_KEYS: Record<keyof ChatRequest, true> = {
  model: true, messages: true, temperature: true, maxTokens: true, seed: true, stop: true, tools: true,
  toolChoice: true, timeout: true, idempotencyKey: true, provider: true, fallback: true, budget: true, signal: true,
  metadata: true, headers: true, reasoning: true, promptCache: true, providerOptions: true,
};
const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.keys(REQUEST_KEYS));

const TIMEOUT_KEYS: Record<keyof TimeoutsInit, true> = { connectMs: true, readMs: true, totalMs: true, firstEventMs: true, idleMs: true };
const REASONING_KEYS: Record<keyof ReasoningOptions, true> = { effort: true, budgetTokens: true, summary: true };
const EFFORTS: ReadonlySet<unknown> = new Set(['none', 'minimal', 'low', 'medium', 'high']);
const TOOL_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'parameters']);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
/** Visible ASCII: the key travels as the `Idempotency-Key` header, so no spaces, controls or non-ASCII. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const POLLUTING_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor']);

/** Zod (or other Standard Schema) → JSON Schema, once per schema object. */
const schemaCache = new WeakMap<object, Record<string, unknown>>();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** A short description of a bad value for an error message: numbers and booleans verbatim, else only the kind. */
function got(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function checkUnknownKeys(obj: Record<string, unknown>, known: object, field: string): void {
  const bad = Object.keys(obj).filter((k) => !Object.prototype.hasOwnProperty.call(known, k));
  if (bad.length > 0) {
    throw new ConfigError(`${field}: unknown key(s) ${bad.map((k) => `\`${k}\``).join(', ')} (known: ${Object.keys(known).join(', ')})`);
  }
}

function unknownOptionsError(keys: string[]): ConfigError {
  // Suggest the camelCase spelling for snake_case or differently-cased keys (`max_tokens` → `maxTokens`).
  const squash = (k: string) => k.toLowerCase().replace(/[_-]/g, '');
  const byShape = new Map<string, string>();
  for (const k of KNOWN_KEYS) byShape.set(squash(k), k);
  const listed = keys.map((k) => {
    const hint = byShape.get(squash(k));
    return hint ? `\`${k}\` (did you mean \`${hint}\`?)` : `\`${k}\``;
  });
  return new ConfigError(`unknown request option(s) ${listed.join(', ')}; known options: ${[...KNOWN_KEYS].join(', ')}`);
}

function checkTimeout(v: unknown): void {
  if (typeof v === 'number') {
    if (!(v > 0) || !Number.isFinite(v)) throw new ConfigError(`timeout: must be a positive number of ms (got ${got(v)})`);
    return;
  }
  if (v instanceof Timeouts) return;
  if (!isPlainObject(v)) throw new ConfigError(`timeout: expected a number of ms or { connectMs?, readMs?, totalMs?, firstEventMs?, idleMs? } (got ${got(v)})`);
  checkUnknownKeys(v, TIMEOUT_KEYS, 'timeout');
  for (const k of Object.keys(v)) {
    const ms = v[k];
    if (ms !== undefined && (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms))) {
      throw new ConfigError(`timeout.${k}: must be a positive number of ms (got ${got(ms)})`);
    }
  }
}

function looksLikeSchemaLibrary(v: Record<string, unknown>): boolean {
  return '_def' in v || '~standard' in v;
}

/**
 * Convert a zod (or Standard JSON Schema) object to JSON Schema with the library's own converter: a
 * `toJSONSchema()` method, else `~standard.jsonSchema.input()` (zod >= 4.2, ArkType, ...). We never import zod.
 */
function toJsonSchema(schema: Record<string, unknown>, field: string): Record<string, unknown> {
  const cached = schemaCache.get(schema);
  if (cached !== undefined) return cached;
  let converted: unknown;
  try {
    if (typeof schema.toJSONSchema === 'function') {
      converted = (schema.toJSONSchema as () => unknown)();
    } else {
      const std = schema['~standard'] as { jsonSchema?: { input?: (o: { target: string }) => unknown } } | undefined;
      if (typeof std?.jsonSchema?.input !== 'function') {
        throw new ConfigError(
          `${field}: this schema cannot convert itself to JSON Schema; pass JSON Schema (e.g. z.toJSONSchema(schema) with zod 4)`,
        );
      }
      converted = std.jsonSchema.input({ target: 'draft-2020-12' });
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${field}: converting the schema to JSON Schema failed; pass JSON Schema instead`, { cause: err });
  }
  if (!isObject(converted)) throw new ConfigError(`${field}: the schema converted to something other than a JSON Schema object`);
  schemaCache.set(schema, converted);
  return converted;
}

function checkTools(v: unknown): ToolSpec[] {
  if (!Array.isArray(v)) throw new ConfigError(`tools: expected an array of { name, description?, parameters? } (got ${got(v)})`);
  let out: ToolSpec[] | undefined;
  const names = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    const field = `tools[${i}]`;
    if (!isObject(t)) throw new ConfigError(`${field}: expected { name, description?, parameters? } (got ${got(t)})`);
    if (t.name === undefined && isObject(t.function)) {
      throw new ConfigError(`${field}: pass { name, description?, parameters } (OpenAI's { type: 'function', function } wrapper is not accepted)`);
    }
    for (const k of Object.keys(t)) {
      if (!TOOL_KEYS.has(k)) throw new ConfigError(`${field}: unknown key \`${k}\` (known: name, description, parameters)`);
    }
    if (typeof t.name !== 'string' || !TOOL_NAME.test(t.name)) {
      throw new ConfigError(`${field}.name: must be 1-64 characters of letters, digits, '_' or '-'`);
    }
    if (names.has(t.name)) throw new ConfigError(`${field}.name: "${t.name}" is declared twice`);
    names.add(t.name);
    if (t.description !== undefined && typeof t.description !== 'string') {
      throw new ConfigError(`${field}.description: must be a string (got ${got(t.description)})`);
    }
    const p = t.parameters;
    if (p === undefined) continue;
    if (!isObject(p)) throw new ConfigError(`${field}.parameters: must be a JSON Schema object (got ${got(p)})`);
    if (looksLikeSchemaLibrary(p)) {
      // Copy-on-write: only a converted schema forces a new tools array.
      out ??= v.slice();
      out[i] = { ...(t as unknown as ToolSpec), parameters: toJsonSchema(p, `${field}.parameters`) };
    }
  }
  return out ?? (v as ToolSpec[]);
}

function checkToolChoice(v: unknown, tools: ToolSpec[] | undefined): void {
  if (v === 'auto' || v === 'none') return;
  if (v === 'required') {
    if (!tools || tools.length === 0) throw new ConfigError("toolChoice: 'required' but no `tools` are declared");
    return;
  }
  if (isObject(v) && typeof v.name === 'string' && Object.keys(v).length === 1) {
    if (!tools?.some((t) => t.name === v.name)) {
      throw new ConfigError(`toolChoice: names tool "${v.name}", which is not among the declared \`tools\``);
    }
    return;
  }
  throw new ConfigError("toolChoice: expected 'auto', 'none', 'required' or { name }");
}

function checkStringRecord(v: unknown, field: string): Record<string, string> {
  if (!isPlainObject(v)) throw new ConfigError(`${field}: expected a plain object of string values (got ${got(v)})`);
  for (const k of Object.keys(v)) {
    if (POLLUTING_KEYS.has(k)) throw new ConfigError(`${field}: key \`${k}\` is not allowed`);
    if (typeof v[k] !== 'string') throw new ConfigError(`${field}.${k}: must be a string (got ${got(v[k])})`);
  }
  return v as Record<string, string>;
}

function checkReasoning(v: unknown): ReasoningOptions {
  if (!isPlainObject(v)) throw new ConfigError(`reasoning: expected { effort?, budgetTokens?, summary? } (got ${got(v)})`);
  checkUnknownKeys(v, REASONING_KEYS, 'reasoning');
  if (v.effort !== undefined && !EFFORTS.has(v.effort)) {
    throw new ConfigError("reasoning.effort: expected 'none', 'minimal', 'low', 'medium' or 'high'");
  }
  if (v.budgetTokens !== undefined && !(Number.isSafeInteger(v.budgetTokens) && (v.budgetTokens as number) > 0)) {
    throw new ConfigError(`reasoning.budgetTokens: must be a positive integer (got ${got(v.budgetTokens)})`);
  }
  if (v.summary !== undefined && typeof v.summary !== 'boolean') {
    throw new ConfigError(`reasoning.summary: must be a boolean (got ${got(v.summary)})`);
  }
  return v as ReasoningOptions;
}

function checkPromptCache(v: unknown): void {
  if (v === 'auto' || v === 'off') return;
  if (isPlainObject(v) && (v.ttl === '5m' || v.ttl === '1h') && Object.keys(v).length === 1) return;
  throw new ConfigError("promptCache: expected 'auto', 'off' or { ttl: '5m' | '1h' }");
}

function checkBudget(v: unknown): void {
  if (!isObject(v)) throw new ConfigError(`budget: expected a Budget or { maxTokens?, maxCostUsd?, onExceed? } (got ${got(v)})`);
  // A Budget instance validated itself when constructed; only the inline options form is checked here.
  if (!isPlainObject(v)) return;
  checkUnknownKeys(v, { maxTokens: true, maxCostUsd: true, onExceed: true }, 'budget');
  if (v.maxTokens !== undefined && !(Number.isSafeInteger(v.maxTokens) && (v.maxTokens as number) > 0)) {
    throw new ConfigError(`budget.maxTokens: must be a positive integer (got ${got(v.maxTokens)})`);
  }
  if (v.maxCostUsd !== undefined && !(typeof v.maxCostUsd === 'number' && v.maxCostUsd > 0 && Number.isFinite(v.maxCostUsd))) {
    throw new ConfigError(`budget.maxCostUsd: must be a positive number of USD (got ${got(v.maxCostUsd)})`);
  }
  if (v.onExceed !== undefined && v.onExceed !== 'stop' && v.onExceed !== 'throw') {
    throw new ConfigError("budget.onExceed: expected 'stop' or 'throw'");
  }
}

/** Reject own `__proto__` / `constructor` keys at the top and own `__proto__` keys at any depth (adapters merge these into the body). */
function checkProviderOptions(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) throw new ConfigError(`providerOptions: expected a plain object (got ${got(v)})`);
  for (const k of Object.keys(v)) {
    if (POLLUTING_KEYS.has(k)) throw new ConfigError(`providerOptions: key \`${k}\` is not allowed`);
  }
  const walk = (o: unknown, path: string, depth: number): void => {
    if (typeof o !== 'object' || o === null || depth > 32) return;
    if (Object.prototype.hasOwnProperty.call(o, '__proto__')) throw new ConfigError(`${path}: key \`__proto__\` is not allowed`);
    for (const k of Object.keys(o)) walk((o as Record<string, unknown>)[k], `${path}.${k}`, depth + 1);
  };
  walk(v, 'providerOptions', 0);
  return v;
}

/**
 * Validate a `ChatRequest` and build the `NormalizedRequest` that middleware and adapters see.
 *
 * `request.model` is the unresolved name (`input.model ?? defaultModel`); the `route` step replaces it with the
 * wire name. Call-level options that are not part of `NormalizedRequest` (`timeout`, `idempotencyKey`, `provider`,
 * `fallback`, `budget`, `signal`, `metadata`) are validated here and read from the input by the Fiber.
 *
 * @param input the caller's request (never mutated)
 * @param stream whether this is a `chatStream` call
 * @param defaultModel the Fiber's `defaultModel`
 * @returns the normalized request and the unresolved model name
 * @throws ConfigError naming the offending field (unknown options are listed, with a camelCase hint)
 * @example
 * const { request, modelName } = normalizeRequest({ model: 'gpt-4o-mini', messages: 'hi' }, false);
 * // request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: false }
 */
export function normalizeRequest(
  input: ChatRequest,
  stream: boolean,
  defaultModel?: string,
): { request: NormalizedRequest; modelName: string } {
  if (!isObject(input)) throw new ConfigError(`expected a request object { model?, messages, ... } (got ${got(input)})`);
  const raw = input as unknown as Record<string, unknown>;
  const modelName = input.model ?? defaultModel;
  if (modelName === undefined || modelName === '') {
    throw new ConfigError('no model: pass `model` or set `defaultModel`');
  }
  if (typeof modelName !== 'string') throw new ConfigError(`model: must be a string (got ${got(modelName)})`);

  const request: NormalizedRequest = { model: modelName, messages: normalizeMessages(input.messages), stream };
  let unknown: string[] | undefined;
  let toolChoice: unknown;

  for (const key of Object.keys(raw)) {
    const v = raw[key];
    if (v === undefined) {
      if (!KNOWN_KEYS.has(key)) (unknown ??= []).push(key);
      continue;
    }
    switch (key) {
      case 'model':
      case 'messages':
        break; // handled above
      case 'temperature':
        if (typeof v !== 'number' || !(v >= 0 && v <= 2)) throw new ConfigError(`temperature: must be a number from 0 to 2 (got ${got(v)})`);
        request.temperature = v;
        break;
      case 'maxTokens':
        if (!Number.isSafeInteger(v) || (v as number) <= 0) throw new ConfigError(`maxTokens: must be a positive integer (got ${got(v)})`);
        request.maxTokens = v as number;
        break;
      case 'seed':
        if (!Number.isSafeInteger(v)) throw new ConfigError(`seed: must be an integer (got ${got(v)})`);
        request.seed = v as number;
        break;
      case 'stop':
        if (!Array.isArray(v) || !v.every(nonEmptyString)) {
          throw new ConfigError(`stop: must be an array of non-empty strings (got ${typeof v === 'string' ? 'a string; wrap it in an array' : got(v)})`);
        }
        request.stop = v as string[];
        break;
      case 'tools':
        request.tools = checkTools(v);
        break;
      case 'toolChoice':
        toolChoice = v; // checked after the loop, once `tools` is known
        break;
      case 'timeout':
        checkTimeout(v);
        break;
      case 'idempotencyKey':
        if (typeof v !== 'string' || !IDEMPOTENCY_KEY.test(v)) {
          throw new ConfigError('idempotencyKey: must be 1-255 visible ASCII characters (no spaces)');
        }
        break;
      case 'provider':
        if (!nonEmptyString(v)) throw new ConfigError(`provider: must be a non-empty string (got ${got(v)})`);
        break;
      case 'fallback':
        if (!Array.isArray(v) || !v.every(nonEmptyString)) throw new ConfigError(`fallback: must be an array of model names (got ${got(v)})`);
        break;
      case 'budget':
        checkBudget(v);
        // A cap that silently does nothing is worse than none: until budgets are enforced, say so.
        throw new ConfigError('budget: token and cost budgets are not enforced in this release (see docs/roadmap.md); remove the option', { code: 'unsupported_option' });
      case 'signal':
        if (!isObject(v) || typeof v.aborted !== 'boolean' || typeof v.addEventListener !== 'function') {
          throw new ConfigError(`signal: must be an AbortSignal (got ${got(v)})`);
        }
        break;
      case 'metadata':
        checkStringRecord(v, 'metadata');
        break;
      case 'headers':
        request.headers = validateHeaders(v, 'headers');
        break;
      case 'reasoning':
        request.reasoning = checkReasoning(v);
        break;
      case 'promptCache':
        checkPromptCache(v);
        request.promptCache = v as NormalizedRequest['promptCache'];
        break;
      case 'providerOptions':
        request.providerOptions = checkProviderOptions(v);
        break;
      default:
        (unknown ??= []).push(key);
    }
  }
  if (unknown !== undefined) throw unknownOptionsError(unknown);
  if (toolChoice !== undefined) {
    checkToolChoice(toolChoice, request.tools);
    request.toolChoice = toolChoice as NormalizedRequest['toolChoice'];
  }
  return { request, modelName };
}
