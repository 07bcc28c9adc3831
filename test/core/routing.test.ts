import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { ModelRegistry } from '../../src/routing.js';

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

const withOllama = new Set(['openai', 'anthropic', 'gemini', 'ollama']);

describe('ModelRegistry built-in rules', () => {
  it.each([
    ['gpt-4o-mini', 'openai'],
    ['o1-preview', 'openai'],
    ['o3-mini', 'openai'],
    ['o4-mini', 'openai'],
    ['chatgpt-4o-latest', 'openai'],
    ['claude-3-5-haiku-latest', 'anthropic'],
    ['gemini-2.0-flash', 'gemini'],
  ])('routes %s to %s', (name, provider) => {
    expect(new ModelRegistry().resolve(name)).toEqual({ provider, model: name });
  });

  it('starts with no rules when constructed with defaults: false', () => {
    const r = new ModelRegistry({ defaults: false });
    expect(r.rules()).toEqual([]);
    expect(() => r.resolve('gpt-4o')).toThrow(ConfigError);
  });

  it('rejects an unknown constructor option', () => {
    expect(configError(() => new ModelRegistry({ default: false } as never)).message).toContain('"default"');
  });
});

describe('ModelRegistry.route', () => {
  it('routes an exact name to its provider', () => {
    const r = new ModelRegistry().route({ exact: 'my-model', provider: 'groq' });
    expect(r.resolve('my-model')).toEqual({ provider: 'groq', model: 'my-model' });
  });

  it('rewrites the wire model name of an exact alias', () => {
    const r = new ModelRegistry().route({ exact: 'my-alias', provider: 'anthropic', model: 'claude-3-5-haiku-latest' });
    expect(r.resolve('my-alias')).toEqual({ provider: 'anthropic', model: 'claude-3-5-haiku-latest' });
  });

  it('rewrites the wire model name of a prefix rule', () => {
    const r = new ModelRegistry().route({ prefix: 'fast-', provider: 'openai', model: 'gpt-4o-mini' });
    expect(r.resolve('fast-anything')).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
  });

  it('prefers an exact rule over a matching prefix rule', () => {
    const r = new ModelRegistry().route({ exact: 'gpt-special', provider: 'azure' });
    expect(r.resolve('gpt-special').provider).toBe('azure');
    expect(r.resolve('gpt-4o').provider).toBe('openai');
  });

  it('picks the longest matching prefix', () => {
    const r = new ModelRegistry().route({ prefix: 'gpt-4o-', provider: 'azure' }).route({ prefix: 'gpt', provider: 'other' });
    expect(r.resolve('gpt-4o-mini').provider).toBe('azure');
    expect(r.resolve('gpt-3.5-turbo').provider).toBe('openai');
    expect(r.resolve('gpt4all').provider).toBe('other');
  });

  it('lets a user prefix rule of equal length win over the built-in', () => {
    const r = new ModelRegistry().route({ prefix: 'gpt-', provider: 'azure' });
    expect(r.resolve('gpt-4o').provider).toBe('azure');
  });

  it('lets the later of two equal-length user prefix rules win', () => {
    const r = new ModelRegistry({ defaults: false }).route({ prefix: 'm-', provider: 'a' }).route({ prefix: 'm-', provider: 'b' });
    expect(r.resolve('m-1').provider).toBe('b');
  });

  it('replaces an earlier exact rule for the same name', () => {
    const r = new ModelRegistry().route({ exact: 'x', provider: 'a' }).route({ exact: 'x', provider: 'b' });
    expect(r.resolve('x').provider).toBe('b');
  });

  it('is chainable', () => {
    const r = new ModelRegistry();
    expect(r.route({ exact: 'x', provider: 'a' })).toBe(r);
    expect(r.prefer(['openai'])).toBe(r);
  });

  it('rejects a rule with both prefix and exact', () => {
    const err = configError(() => new ModelRegistry().route({ prefix: 'a', exact: 'a', provider: 'openai' }));
    expect(err.message).toContain('exactly one of `prefix` and `exact`');
  });

  it('rejects a rule with neither prefix nor exact', () => {
    const err = configError(() => new ModelRegistry().route({ provider: 'openai' }));
    expect(err.message).toContain('exactly one of `prefix` and `exact`');
  });

  it('rejects an empty prefix', () => {
    expect(configError(() => new ModelRegistry().route({ prefix: '', provider: 'openai' })).message).toContain('`prefix`');
  });

  it('rejects a rule without a provider', () => {
    expect(configError(() => new ModelRegistry().route({ exact: 'x' } as never)).message).toContain('`provider`');
  });

  it('rejects an empty model rewrite', () => {
    expect(configError(() => new ModelRegistry().route({ exact: 'x', provider: 'a', model: '' })).message).toContain('`model`');
  });

  it('rejects an unknown rule key', () => {
    expect(configError(() => new ModelRegistry().route({ exact: 'x', provider: 'a', modle: 'y' } as never)).message).toContain('"modle"');
  });

  it('clears memoised results when a rule is added', () => {
    const r = new ModelRegistry();
    expect(r.resolve('gpt-4o').provider).toBe('openai');
    r.route({ exact: 'gpt-4o', provider: 'azure' });
    expect(r.resolve('gpt-4o').provider).toBe('azure');
  });
});

describe('ModelRegistry provider prefixes', () => {
  it('forces a known provider named before the first colon', () => {
    expect(new ModelRegistry().resolve('anthropic:claude-sonnet-4-5')).toEqual({ provider: 'anthropic', model: 'claude-sonnet-4-5' });
  });

  it('keeps later colons in the model name for a known custom provider', () => {
    expect(new ModelRegistry().resolve('ollama:llama3:8b', { known: withOllama })).toEqual({ provider: 'ollama', model: 'llama3:8b' });
  });

  it('does not treat an unknown word before a colon as a provider', () => {
    const r = new ModelRegistry().prefer(['ollama']);
    expect(r.resolve('llama3:8b', { known: withOllama })).toEqual({ provider: 'ollama', model: 'llama3:8b' });
  });

  it('does not treat ollama as a provider unless it is known', () => {
    expect(() => new ModelRegistry().resolve('ollama:llama3:8b')).toThrow(ConfigError);
  });

  it('wins over an exact rule for the full name', () => {
    const r = new ModelRegistry().route({ exact: 'openai:gpt-4o', provider: 'azure' });
    expect(r.resolve('openai:gpt-4o')).toEqual({ provider: 'openai', model: 'gpt-4o' });
  });

  it('rejects a provider prefix with no model after it', () => {
    expect(configError(() => new ModelRegistry().resolve('openai:')).message).toContain('"openai:"');
  });
});

describe('ModelRegistry per-call provider override', () => {
  it('wins over every rule and uses the name as-is', () => {
    expect(new ModelRegistry().resolve('gpt-4o', { provider: 'azure' })).toEqual({ provider: 'azure', model: 'gpt-4o' });
  });

  it('strips a prefix naming the same provider', () => {
    expect(new ModelRegistry().resolve('groq:llama-3.1-8b', { provider: 'groq' })).toEqual({ provider: 'groq', model: 'llama-3.1-8b' });
  });

  it('keeps a prefix naming another provider', () => {
    expect(new ModelRegistry().resolve('llama3:8b', { provider: 'ollama' })).toEqual({ provider: 'ollama', model: 'llama3:8b' });
  });

  it('ignores exact alias rules', () => {
    const r = new ModelRegistry().route({ exact: 'fast', provider: 'anthropic', model: 'claude-3-5-haiku-latest' });
    expect(r.resolve('fast', { provider: 'openai' })).toEqual({ provider: 'openai', model: 'fast' });
  });

  it('rejects an empty override', () => {
    expect(configError(() => new ModelRegistry().resolve('gpt-4o', { provider: '' })).message).toContain('provider');
  });
});

describe('ModelRegistry.prefer', () => {
  it('sends unclaimed names to the first preferred provider that is known', () => {
    const r = new ModelRegistry().prefer(['groq', 'ollama', 'openai']);
    expect(r.resolve('mistral', { known: withOllama })).toEqual({ provider: 'ollama', model: 'mistral' });
  });

  it('does not override a name a rule claims', () => {
    const r = new ModelRegistry().prefer(['anthropic']);
    expect(r.resolve('gpt-4o').provider).toBe('openai');
  });

  it('replaces the earlier list', () => {
    const r = new ModelRegistry().prefer(['openai']).prefer(['gemini']);
    expect(r.resolve('unclaimed').provider).toBe('gemini');
  });

  it('rejects a non-array', () => {
    expect(configError(() => new ModelRegistry().prefer('openai' as never)).message).toContain('prefer');
  });

  it('explains that no preferred provider is registered', () => {
    const err = configError(() => new ModelRegistry().prefer(['groq']).resolve('mistral'));
    expect(err.message).toContain('prefer lists groq');
  });
});

describe('ModelRegistry.resolve errors', () => {
  it('names the model and the three fixes when nothing claims it', () => {
    const err = configError(() => new ModelRegistry().resolve('mistral-large'));
    expect(err.message).toContain('"mistral-large"');
    expect(err.message).toContain('route(');
    expect(err.message).toContain('<provider>:mistral-large');
    expect(err.message).toContain('prefer');
  });

  it('rejects an empty model name', () => {
    expect(configError(() => new ModelRegistry().resolve('')).message).toContain('model');
  });

  it('rejects a non-string model name', () => {
    expect(configError(() => new ModelRegistry().resolve(42 as never)).message).toContain('model');
  });
});

describe('ModelRegistry memoisation', () => {
  it('returns the same frozen object for a repeated name', () => {
    const r = new ModelRegistry();
    const a = r.resolve('gpt-4o');
    expect(r.resolve('gpt-4o')).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('keeps results apart for different known-provider sets', () => {
    const r = new ModelRegistry().prefer(['ollama', 'openai']);
    expect(r.resolve('mistral').provider).toBe('openai');
    expect(r.resolve('mistral', { known: withOllama }).provider).toBe('ollama');
  });

  it('clears memoised results when prefer changes', () => {
    const r = new ModelRegistry().prefer(['openai']);
    expect(r.resolve('mistral').provider).toBe('openai');
    r.prefer(['anthropic']);
    expect(r.resolve('mistral').provider).toBe('anthropic');
  });

  it('keeps resolving correctly past the memo bound', () => {
    const r = new ModelRegistry();
    for (let i = 0; i < 2_500; i++) expect(r.resolve(`gpt-${i}`).model).toBe(`gpt-${i}`);
    expect(r.resolve('gpt-0')).toEqual({ provider: 'openai', model: 'gpt-0' });
  });
});

describe('ModelRegistry.rules', () => {
  it('lists built-ins first, then user rules in the order added', () => {
    const r = new ModelRegistry().route({ exact: 'x', provider: 'a', model: 'y' });
    const rules = r.rules();
    expect(rules[0]).toEqual({ prefix: 'gpt-', provider: 'openai' });
    expect(rules.at(-1)).toEqual({ exact: 'x', provider: 'a', model: 'y' });
    expect(rules).toHaveLength(8);
  });

  it('returns a copy that cannot change routing', () => {
    const r = new ModelRegistry();
    const rules = r.rules();
    rules[0]!.provider = 'hacked';
    rules.length = 0;
    expect(r.resolve('gpt-4o').provider).toBe('openai');
  });

  it('does not keep a reference to the caller rule object', () => {
    const rule = { exact: 'x', provider: 'a' };
    const r = new ModelRegistry().route(rule);
    rule.provider = 'b';
    expect(r.resolve('x').provider).toBe('a');
  });
});
