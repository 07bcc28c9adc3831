import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { validateHeaders } from '../../src/headers.js';
import { normalizeRequest } from '../../src/request.js';
import { Timeouts } from '../../src/timeouts.js';
import type { ChatRequest } from '../../src/types.js';

/** Run `fn`, assert it threw a ConfigError, and return the error for message assertions. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const base = { model: 'gpt-4o-mini', messages: 'hi' } as const;
/** normalizeRequest on a base request plus `extra`, typed loosely so malformed options compile. */
const norm = (extra: Record<string, unknown>, stream = false) =>
  normalizeRequest({ ...base, ...extra } as unknown as ChatRequest, stream);

const SECRET = 'sk-live-canary-0123456789abcdef';

describe('normalizeRequest basics', () => {
  it('builds the minimal normalized request', () => {
    expect(normalizeRequest({ model: 'gpt-4o-mini', messages: 'hi' }, false)).toEqual({
      request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: false },
      modelName: 'gpt-4o-mini',
    });
  });

  it('records whether the call streams', () => {
    expect(norm({}, true).request.stream).toBe(true);
  });

  it('falls back to the default model', () => {
    expect(normalizeRequest({ messages: 'hi' }, false, 'claude-3-5-haiku-latest').modelName).toBe('claude-3-5-haiku-latest');
  });

  it('prefers the request model over the default model', () => {
    expect(normalizeRequest({ model: 'a', messages: 'hi' }, false, 'b').modelName).toBe('a');
  });

  it('keeps a provider prefix in the unresolved model name', () => {
    const { request, modelName } = normalizeRequest({ model: 'anthropic:claude-x', messages: 'hi' }, false);
    expect(modelName).toBe('anthropic:claude-x');
    expect(request.model).toBe('anthropic:claude-x');
  });

  it('ignores options set to undefined', () => {
    expect(norm({ temperature: undefined, tools: undefined }).request).not.toHaveProperty('temperature');
  });

  it('never mutates the input', () => {
    const input = Object.freeze({ model: 'm', messages: Object.freeze([Object.freeze({ role: 'user' as const, content: 'hi' })]), temperature: 1 });
    expect(() => normalizeRequest(input as unknown as ChatRequest, false)).not.toThrow();
  });

  it('passes the caller message objects through', () => {
    const m = { role: 'user' as const, content: 'hi' };
    expect(normalizeRequest({ model: 'x', messages: [m] }, false).request.messages[0]).toBe(m);
  });

  it('copies every wire option into the normalized request', () => {
    const tools = [{ name: 'weather', parameters: { type: 'object' } }];
    const { request } = norm({
      temperature: 0.2, maxTokens: 100, seed: -7, stop: ['\n'], tools, toolChoice: { name: 'weather' },
      reasoning: { effort: 'low', budgetTokens: 1024, summary: true }, promptCache: { ttl: '1h' },
      providerOptions: { openai: { user: 'u1' } }, headers: { 'X-Team': 'search' },
    });
    expect(request).toMatchObject({
      temperature: 0.2, maxTokens: 100, seed: -7, stop: ['\n'], tools, toolChoice: { name: 'weather' },
      reasoning: { effort: 'low', budgetTokens: 1024, summary: true }, promptCache: { ttl: '1h' },
      providerOptions: { openai: { user: 'u1' } }, headers: { 'x-team': 'search' },
    });
  });

  it('accepts the call-level options without copying them into the normalized request', () => {
    const { request } = norm({
      timeout: 5_000, idempotencyKey: 'key-1', provider: 'openai', fallback: ['claude-3-5-haiku-latest'],
      signal: new AbortController().signal,
      metadata: { user: 'u1' },
    });
    expect(Object.keys(request).sort()).toEqual(['messages', 'model', 'stream']);
  });
});

describe('normalizeRequest errors', () => {
  it('rejects a non-object request', () => {
    expect(configError(() => normalizeRequest('hi' as never, false)).message).toContain('request object');
  });

  it('rejects a request with no model and no default', () => {
    expect(configError(() => normalizeRequest({ messages: 'hi' }, false)).message).toBe('no model: pass `model` or set `defaultModel`');
  });

  it('rejects a non-string model', () => {
    expect(configError(() => norm({ model: 42 })).message).toContain('model');
  });

  it('rejects a request without messages', () => {
    expect(configError(() => normalizeRequest({ model: 'm' } as ChatRequest, false)).message).toContain('messages');
  });

  it('rejects malformed messages naming the index', () => {
    expect(configError(() => norm({ messages: ['hi', { role: 'bot', content: 'x' }] })).message).toContain('messages[1]');
  });

  it('lists every unknown option', () => {
    const err = configError(() => norm({ foo: 1, bar: 2 }));
    expect(err.message).toContain('`foo`');
    expect(err.message).toContain('`bar`');
  });

  it('reports an unknown option even when its value is undefined', () => {
    expect(configError(() => norm({ foo: undefined })).message).toContain('`foo`');
  });

  it('suggests the camelCase spelling of a snake_case option', () => {
    expect(configError(() => norm({ max_tokens: 10 })).message).toContain('did you mean `maxTokens`?');
  });

  it.each([[-0.1], [2.1], [Number.NaN], ['1']])('rejects temperature %s', (t) => {
    expect(configError(() => norm({ temperature: t })).message).toContain('temperature');
  });

  it('accepts the temperature bounds 0 and 2', () => {
    expect(norm({ temperature: 0 }).request.temperature).toBe(0);
    expect(norm({ temperature: 2 }).request.temperature).toBe(2);
  });

  it.each([[0], [-1], [1.5], ['10']])('rejects maxTokens %s', (v) => {
    expect(configError(() => norm({ maxTokens: v })).message).toContain('maxTokens');
  });

  it.each([[1.5], ['1'], [Number.POSITIVE_INFINITY]])('rejects seed %s', (v) => {
    expect(configError(() => norm({ seed: v })).message).toContain('seed');
  });

  it('rejects a stop string that is not in an array', () => {
    const err = configError(() => norm({ stop: '\n' }));
    expect(err.message).toContain('stop');
    expect(err.message).toContain('wrap it in an array');
  });

  it('rejects a stop array with a non-string', () => {
    expect(configError(() => norm({ stop: ['a', 1] })).message).toContain('stop');
  });

  it('accepts more than four stop sequences', () => {
    expect(norm({ stop: ['a', 'b', 'c', 'd', 'e'] }).request.stop).toHaveLength(5);
  });
});

describe('normalizeRequest tools', () => {
  it('passes valid JSON Schema tools through by reference', () => {
    const tools = [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: {} } }];
    expect(norm({ tools }).request.tools).toBe(tools);
  });

  it('accepts a tool without parameters', () => {
    expect(norm({ tools: [{ name: 'now' }] }).request.tools).toEqual([{ name: 'now' }]);
  });

  it('rejects tools that are not an array', () => {
    expect(configError(() => norm({ tools: { name: 'x' } })).message).toContain('tools');
  });

  it('rejects a tool that is not an object', () => {
    expect(configError(() => norm({ tools: ['x'] })).message).toContain('tools[0]');
  });

  it.each([[''], ['has space'], ['a'.repeat(65)], ['dot.name'], [42]])('rejects the tool name %s', (name) => {
    expect(configError(() => norm({ tools: [{ name: 'ok' }, { name }] })).message).toContain('tools[1].name');
  });

  it('rejects a tool name declared twice', () => {
    expect(configError(() => norm({ tools: [{ name: 'a' }, { name: 'a' }] })).message).toContain('tools[1].name');
  });

  it('rejects a non-string description', () => {
    expect(configError(() => norm({ tools: [{ name: 'a', description: 1 }] })).message).toContain('tools[0].description');
  });

  it('rejects non-object parameters', () => {
    expect(configError(() => norm({ tools: [{ name: 'a', parameters: 'string' }] })).message).toContain('tools[0].parameters');
  });

  it('rejects an unknown tool key', () => {
    expect(configError(() => norm({ tools: [{ name: 'a', strict: true }] })).message).toContain('`strict`');
  });

  it('rejects the OpenAI wire-format tool wrapper with a hint', () => {
    const err = configError(() => norm({ tools: [{ type: 'function', function: { name: 'a' } }] }));
    expect(err.message).toContain('tools[0]');
    expect(err.message).toContain('wrapper');
  });

  it('converts a zod-like schema with its own toJSONSchema method', () => {
    const json = { type: 'object', properties: { city: { type: 'string' } } };
    const schema = { _def: {}, toJSONSchema: () => json };
    const tools = [{ name: 'a', parameters: schema }];
    const out = norm({ tools }).request.tools!;
    expect(out[0]).toEqual({ name: 'a', parameters: json });
    expect(tools[0]!.parameters).toBe(schema);
  });

  it('converts a Standard JSON Schema through ~standard.jsonSchema.input', () => {
    const json = { type: 'object' };
    const targets: string[] = [];
    const schema = { '~standard': { version: 1, vendor: 'zod', jsonSchema: { input: (o: { target: string }) => (targets.push(o.target), json) } } };
    expect(norm({ tools: [{ name: 'a', parameters: schema }] }).request.tools![0]!.parameters).toBe(json);
    expect(targets).toEqual(['draft-2020-12']);
  });

  it('converts a schema once and reuses the result', () => {
    let calls = 0;
    const schema = { _def: {}, toJSONSchema: () => (calls++, { type: 'object' }) };
    norm({ tools: [{ name: 'a', parameters: schema }] });
    norm({ tools: [{ name: 'a', parameters: schema }] });
    expect(calls).toBe(1);
  });

  it('rejects a zod schema that cannot convert itself, saying to pass JSON Schema', () => {
    const err = configError(() => norm({ tools: [{ name: 'a', parameters: { _def: { typeName: 'ZodObject' } } }] }));
    expect(err.message).toContain('tools[0].parameters');
    expect(err.message).toContain('pass JSON Schema');
  });

  it('wraps a failing schema conversion in a ConfigError with the cause', () => {
    const boom = new Error('unrepresentable');
    const err = configError(() => norm({ tools: [{ name: 'a', parameters: { _def: {}, toJSONSchema: () => { throw boom; } } }] }));
    expect(err.message).toContain('tools[0].parameters');
    expect(err.cause).toBe(boom);
  });
});

describe('normalizeRequest toolChoice', () => {
  const tools = [{ name: 'weather' }];

  it.each([['auto'], ['none']])('accepts %s without tools', (choice) => {
    expect(norm({ toolChoice: choice }).request.toolChoice).toBe(choice);
  });

  it('accepts required with tools', () => {
    expect(norm({ tools, toolChoice: 'required' }).request.toolChoice).toBe('required');
  });

  it('rejects required without tools', () => {
    expect(configError(() => norm({ toolChoice: 'required' })).message).toContain('toolChoice');
  });

  it('rejects a named tool that is not declared', () => {
    const err = configError(() => norm({ tools, toolChoice: { name: 'search' } }));
    expect(err.message).toContain('toolChoice');
    expect(err.message).toContain('"search"');
  });

  it('checks a named tool against tools declared after toolChoice', () => {
    expect(norm({ toolChoice: { name: 'weather' }, tools }).request.toolChoice).toEqual({ name: 'weather' });
  });

  it('rejects an unknown toolChoice string', () => {
    expect(configError(() => norm({ tools, toolChoice: 'any' })).message).toContain('toolChoice');
  });
});

describe('normalizeRequest call-level options', () => {
  it('accepts a timeout object', () => {
    expect(() => norm({ timeout: { totalMs: 1000, idleMs: 50 } })).not.toThrow();
  });

  it('accepts a Timeouts instance', () => {
    expect(() => norm({ timeout: new Timeouts({ totalMs: 1000 }) })).not.toThrow();
  });

  it.each([[0], [-5], ['1000'], [Number.POSITIVE_INFINITY]])('rejects timeout %s', (t) => {
    expect(configError(() => norm({ timeout: t })).message).toContain('timeout');
  });

  it('rejects an unknown timeout key', () => {
    expect(configError(() => norm({ timeout: { total: 5 } })).message).toContain('`total`');
  });

  it('rejects a bad timeout phase value naming the phase', () => {
    expect(configError(() => norm({ timeout: { idleMs: -1 } })).message).toContain('timeout.idleMs');
  });

  it('rejects metadata with a non-string value naming the key', () => {
    expect(configError(() => norm({ metadata: { user: 1 } })).message).toContain('metadata.user');
  });

  it('rejects metadata that is not an object', () => {
    expect(configError(() => norm({ metadata: 'x' })).message).toContain('metadata');
  });

  it('rejects a signal that is not AbortSignal-like', () => {
    expect(configError(() => norm({ signal: { aborted: false } })).message).toContain('signal');
  });

  it('accepts an AbortSignal-like object', () => {
    expect(() => norm({ signal: { aborted: false, addEventListener() {} } })).not.toThrow();
  });

  it.each([[''], ['a'.repeat(256)], ['has space'], ['ключ'], [5]])('rejects idempotencyKey %s', (key) => {
    expect(configError(() => norm({ idempotencyKey: key })).message).toContain('idempotencyKey');
  });

  it('accepts a 255-character idempotencyKey', () => {
    expect(() => norm({ idempotencyKey: 'k'.repeat(255) })).not.toThrow();
  });

  it('rejects an empty provider', () => {
    expect(configError(() => norm({ provider: '' })).message).toContain('provider');
  });

  it('rejects a fallback that is not an array of names', () => {
    expect(configError(() => norm({ fallback: 'gpt-4o' })).message).toContain('fallback');
  });

  it('rejects a budget that is not an object', () => {
    expect(configError(() => norm({ budget: 5 })).message).toContain('budget');
  });

  it('rejects an unknown inline budget key', () => {
    expect(configError(() => norm({ budget: { maxCost: 5 } })).message).toContain('`maxCost`');
  });

  it('rejects an inline budget onExceed value', () => {
    expect(configError(() => norm({ budget: { onExceed: 'warn' } })).message).toContain('budget.onExceed');
  });

  it('refuses a well-formed budget, which this release does not enforce, rather than ignore it', () => {
    const err = configError(() => norm({ budget: { maxTokens: 1000, maxCostUsd: 0.5, onExceed: 'throw' } }));
    expect(err.message).toContain('not enforced');
    expect(err.code).toBe('unsupported_option');
    class FakeBudget { spent() { return { tokens: 0, costUsd: 0 }; } }
    expect(configError(() => norm({ budget: new FakeBudget() })).code).toBe('unsupported_option');
  });

  it('rejects an unknown reasoning effort', () => {
    expect(configError(() => norm({ reasoning: { effort: 'max' } })).message).toContain('reasoning.effort');
  });

  it('rejects a non-integer reasoning budget', () => {
    expect(configError(() => norm({ reasoning: { budgetTokens: 1.5 } })).message).toContain('reasoning.budgetTokens');
  });

  it('rejects an unknown reasoning key', () => {
    expect(configError(() => norm({ reasoning: { level: 'high' } })).message).toContain('`level`');
  });

  it('rejects an unknown promptCache ttl', () => {
    expect(configError(() => norm({ promptCache: { ttl: '10m' } })).message).toContain('promptCache');
  });

  it('rejects providerOptions that are not a plain object', () => {
    expect(configError(() => norm({ providerOptions: [] })).message).toContain('providerOptions');
  });

  it('rejects an own __proto__ key in providerOptions', () => {
    const opts = JSON.parse('{"__proto__": {"polluted": true}}');
    expect(configError(() => norm({ providerOptions: opts })).message).toContain('`__proto__`');
  });

  it('rejects an own constructor key in providerOptions', () => {
    expect(configError(() => norm({ providerOptions: { constructor: { prototype: {} } } })).message).toContain('`constructor`');
  });

  it('rejects a nested own __proto__ key in providerOptions, naming its path', () => {
    const opts = JSON.parse('{"openai": {"__proto__": {"polluted": true}}}');
    expect(configError(() => norm({ providerOptions: opts })).message).toContain('providerOptions.openai');
  });
});

describe('normalizeRequest headers', () => {
  it('lower-cases header names', () => {
    expect(norm({ headers: { 'X-Trace': 'abc' } }).request.headers).toEqual({ 'x-trace': 'abc' });
  });

  it('rejects CR/LF in a header value without echoing the value', () => {
    const err = configError(() => norm({ headers: { Authorization: `Bearer ${SECRET}\r\nX-Evil: 1` } }));
    expect(err.message).toContain('"Authorization"');
    expect(err.message).not.toContain(SECRET);
  });
});

describe('validateHeaders', () => {
  it('returns a new object with lower-cased names', () => {
    const h = { 'X-A': '1', 'content-type': 'application/json' };
    const out = validateHeaders(h, 'headers');
    expect(out).toEqual({ 'x-a': '1', 'content-type': 'application/json' });
    expect(out).not.toBe(h);
    expect(h).toHaveProperty('X-A');
  });

  it('treats undefined as no headers', () => {
    expect(validateHeaders(undefined, 'headers')).toEqual({});
  });

  it('accepts spaces and tabs inside a value', () => {
    expect(validateHeaders({ a: 'x y\tz' }, 'headers')).toEqual({ a: 'x y\tz' });
  });

  it('accepts an empty value', () => {
    expect(validateHeaders({ a: '' }, 'headers')).toEqual({ a: '' });
  });

  it.each([['null', null], ['an array', ['a']], ['a string', 'x-a: 1'], ['a Map', new Map([['a', '1']])]])('rejects %s', (_label, h) => {
    expect(configError(() => validateHeaders(h, 'fiber headers')).message).toContain('fiber headers');
  });

  it('prefixes errors with where the headers came from', () => {
    expect(configError(() => validateHeaders({ a: 1 }, 'openai() headers')).message).toMatch(/^openai\(\) headers: /);
  });

  it('rejects a non-string value naming the header', () => {
    expect(configError(() => validateHeaders({ 'X-Num': 1 }, 'headers')).message).toContain('"X-Num"');
  });

  it.each([['a space', 'X Bad'], ['a colon', 'X:Bad'], ['non-ASCII', 'X-Ünï'], ['an empty name', ''], ['a newline', 'X\nBad']])(
    'rejects a header name with %s',
    (_label, name) => {
      expect(configError(() => validateHeaders({ [name]: 'v' }, 'headers')).message).toContain('not a valid HTTP token');
    },
  );

  it.each([['CR', `${SECRET}\r`], ['LF', `${SECRET}\n`], ['NUL', `${SECRET}\0`]])(
    'rejects %s in a value naming the header and never the value',
    (_label, value) => {
      const err = configError(() => validateHeaders({ 'X-Api-Key': value }, 'headers'));
      expect(err.message).toContain('"X-Api-Key"');
      expect(err.message).toContain('CR, LF or NUL');
      expect(err.message).not.toContain(SECRET);
      expect(err.stack ?? '').not.toContain(SECRET);
    },
  );

  it.each([['a non-ASCII letter', `${SECRET}é`], ['a smart quote', `“${SECRET}”`], ['a control character', `${SECRET}\x07`], ['DEL', `${SECRET}\x7f`]])(
    'rejects a value with %s without echoing it',
    (_label, value) => {
      const err = configError(() => validateHeaders({ Authorization: value }, 'headers'));
      expect(err.message).toContain('"Authorization"');
      expect(err.message).toContain('non-ASCII');
      expect(err.message).not.toContain(SECRET);
    },
  );

  it('rejects a __proto__ header name', () => {
    const h = JSON.parse('{"__proto__": "x"}');
    expect(configError(() => validateHeaders(h, 'headers')).message).toContain('"__proto__"');
  });

  it('rejects a constructor header name in any case', () => {
    expect(configError(() => validateHeaders({ Constructor: 'x' }, 'headers')).message).toContain('"Constructor"');
  });

  it('rejects two names that differ only in case', () => {
    const err = configError(() => validateHeaders({ 'X-A': SECRET, 'x-a': SECRET }, 'headers'));
    expect(err.message).toContain('given twice');
    expect(err.message).not.toContain(SECRET);
  });

  it('accepts a null-prototype object', () => {
    const h = Object.assign(Object.create(null), { a: '1' });
    expect(validateHeaders(h, 'headers')).toEqual({ a: '1' });
  });
});
