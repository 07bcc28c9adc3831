/**
 * Model routing: which provider serves a model name, and what model name goes on the wire. See CONTRACT.md,
 * Routing, and `docs/features/model-registry.md`.
 *
 * Precedence, highest first:
 * 1. the per-call `provider` override (the name is used as-is, minus a matching `provider:` prefix);
 * 2. a `provider:model` name whose part before the first ':' is a known provider (so Ollama's `llama3:8b` is not
 *    mistaken for provider `llama3`, while `ollama:llama3:8b` is);
 * 3. exact rules;
 * 4. the longest matching prefix rule (on equal length, the rule added last wins, so user rules beat built-ins);
 * 5. the first `prefer`red provider that is known.
 * Anything else is a `ConfigError` that says how to fix it.
 */
import { ConfigError } from './errors.js';

/** One routing rule. Exactly one of `prefix` and `exact` is set. */
export interface RouteRule {
  /** Matches every name starting with this string. */
  prefix?: string;
  /** Matches this name only. */
  exact?: string;
  /** The provider (adapter name) that serves matching names. */
  provider: string;
  /** The model name sent on the wire instead of the name asked for (an alias). @default the name asked for */
  model?: string;
}

/** Where a model name goes. */
export interface ResolvedModel {
  provider: string;
  /** The model name for the wire. */
  model: string;
}

export interface ModelRegistryOptions {
  /** Start with the built-in rules (`gpt-`, `o1`, `o3`, `o4`, `chatgpt-`, `claude-`, `gemini-`). @default true */
  defaults?: boolean;
}

export interface ResolveOptions {
  /** Per-call provider override: wins over every rule; the name is used as-is. */
  provider?: string;
  /**
   * Provider names that exist (the Fiber's adapters). Decides whether `x:y` means provider `x`, and which `prefer`
   * entries count. Pass the same Set instance on every call and do not mutate it: results are memoised per Set.
   * @default the built-ins: openai, anthropic, gemini
   */
  known?: ReadonlySet<string>;
}

const BUILTIN_PROVIDERS: ReadonlySet<string> = new Set(['openai', 'anthropic', 'gemini']);

const BUILTIN_RULES: readonly RouteRule[] = [
  { prefix: 'gpt-', provider: 'openai' },
  { prefix: 'o1', provider: 'openai' },
  { prefix: 'o3', provider: 'openai' },
  { prefix: 'o4', provider: 'openai' },
  { prefix: 'chatgpt-', provider: 'openai' },
  { prefix: 'claude-', provider: 'anthropic' },
  { prefix: 'gemini-', provider: 'gemini' },
];

const RULE_KEYS = new Set(['prefix', 'exact', 'provider', 'model']);

/** Memo bound: the memo is dropped when it grows past this many names (names are few in practice). */
const MEMO_MAX = 1_000;

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function copyRule(r: RouteRule): RouteRule {
  const c: RouteRule = r.exact !== undefined ? { exact: r.exact, provider: r.provider } : { prefix: r.prefix!, provider: r.provider };
  if (r.model !== undefined) c.model = r.model;
  return c;
}

/**
 * Maps model names to providers (and optionally to different wire names). Every new registry carries the
 * built-in rules unless constructed with `{ defaults: false }`.
 *
 * @example
 * const registry = new ModelRegistry()
 *   .route({ prefix: 'gpt-', provider: 'azure' })               // beats the built-in gpt- → openai
 *   .route({ exact: 'fast', provider: 'anthropic', model: 'claude-3-5-haiku-latest' })
 *   .prefer(['ollama', 'openai']);
 * registry.resolve('gpt-4o-mini')                  // { provider: 'azure', model: 'gpt-4o-mini' }
 * registry.resolve('fast')                         // { provider: 'anthropic', model: 'claude-3-5-haiku-latest' }
 * registry.resolve('anthropic:claude-sonnet-4-5')  // { provider: 'anthropic', model: 'claude-sonnet-4-5' }
 */
export class ModelRegistry {
  /** Every rule in the order added (built-ins first). */
  #rules: RouteRule[] = [];
  #exact = new Map<string, RouteRule>();
  /** Prefix rules in the order added; the resolver scans them all for the longest match. */
  #prefixes: RouteRule[] = [];
  #prefer: string[] = [];
  /** Memoised results per `known` set. Replaced wholesale when rules change. */
  #memo = new WeakMap<ReadonlySet<string>, Map<string, ResolvedModel>>();

  constructor(options: ModelRegistryOptions = {}) {
    if (options === null || typeof options !== 'object') throw new ConfigError('ModelRegistry: options must be an object');
    for (const k of Object.keys(options)) {
      if (k !== 'defaults') throw new ConfigError(`ModelRegistry: unknown option "${k}" (known: defaults)`);
    }
    if (options.defaults !== undefined && typeof options.defaults !== 'boolean') {
      throw new ConfigError('ModelRegistry: `defaults` must be a boolean');
    }
    if (options.defaults !== false) for (const r of BUILTIN_RULES) this.#add(copyRule(r));
  }

  /**
   * Add a rule. Exactly one of `prefix` and `exact` must be set. A later exact rule for the same name replaces the
   * earlier one; a later prefix rule wins over an earlier one of the same length.
   * @example registry.route({ exact: 'my-alias', provider: 'anthropic', model: 'claude-3-5-haiku-latest' })
   */
  route(rule: RouteRule): this {
    if (rule === null || typeof rule !== 'object') throw new ConfigError('ModelRegistry.route: expected a rule object');
    const unknown = Object.keys(rule).filter((k) => !RULE_KEYS.has(k));
    if (unknown.length > 0) {
      throw new ConfigError(`ModelRegistry.route: unknown rule key(s) ${unknown.map((k) => `"${k}"`).join(', ')} (known: prefix, exact, provider, model)`);
    }
    const hasPrefix = rule.prefix !== undefined;
    const hasExact = rule.exact !== undefined;
    if (hasPrefix === hasExact) {
      throw new ConfigError('ModelRegistry.route: set exactly one of `prefix` and `exact`');
    }
    if (hasPrefix && !nonEmptyString(rule.prefix)) throw new ConfigError('ModelRegistry.route: `prefix` must be a non-empty string');
    if (hasExact && !nonEmptyString(rule.exact)) throw new ConfigError('ModelRegistry.route: `exact` must be a non-empty string');
    if (!nonEmptyString(rule.provider)) throw new ConfigError('ModelRegistry.route: `provider` must be a non-empty string');
    if (rule.model !== undefined && !nonEmptyString(rule.model)) {
      throw new ConfigError('ModelRegistry.route: `model` must be a non-empty string when given');
    }
    this.#add(copyRule(rule));
    this.#memo = new WeakMap();
    return this;
  }

  /**
   * Order the providers tried for names no rule claims: the first one that is known wins. Replaces any earlier
   * list.
   * @example registry.prefer(['ollama', 'openai'])   // 'mistral' → ollama when an ollama adapter is registered
   */
  prefer(providers: string[]): this {
    if (!Array.isArray(providers) || !providers.every(nonEmptyString)) {
      throw new ConfigError('ModelRegistry.prefer: expected an array of provider names');
    }
    this.#prefer = providers.slice();
    this.#memo = new WeakMap();
    return this;
  }

  /**
   * Decide the provider and wire model for a model name. Memoised: the per-call cost of a repeated name is one
   * Map lookup. The returned object is frozen and shared; copy it to change it.
   * @throws ConfigError when nothing claims the name, saying how to route it
   * @example registry.resolve('ollama:llama3:8b', { known: new Set(['openai', 'ollama']) }) // { provider: 'ollama', model: 'llama3:8b' }
   */
  resolve(name: string, opts?: ResolveOptions): ResolvedModel {
    if (!nonEmptyString(name)) throw new ConfigError('model: expected a non-empty model name');
    const override = opts?.provider;
    if (override !== undefined) {
      if (!nonEmptyString(override)) throw new ConfigError('provider: expected a non-empty provider name');
      // Not memoised: the work is one startsWith.
      const model = name.startsWith(`${override}:`) ? name.slice(override.length + 1) : name;
      if (model.length === 0) throw new ConfigError(`model "${name}": no model name after the provider prefix`);
      return { provider: override, model };
    }
    const known = opts?.known ?? BUILTIN_PROVIDERS;
    let memo = this.#memo.get(known);
    if (memo === undefined) {
      memo = new Map();
      this.#memo.set(known, memo);
    } else {
      const hit = memo.get(name);
      if (hit !== undefined) return hit;
    }
    const resolved = Object.freeze(this.#compute(name, known));
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(name, resolved);
    return resolved;
  }

  /** A copy of every rule in the order added (built-ins first), for docs and debugging. */
  rules(): RouteRule[] {
    return this.#rules.map(copyRule);
  }

  #add(rule: RouteRule): void {
    this.#rules.push(rule);
    if (rule.exact !== undefined) this.#exact.set(rule.exact, rule);
    else this.#prefixes.push(rule);
  }

  #compute(name: string, known: ReadonlySet<string>): ResolvedModel {
    const colon = name.indexOf(':');
    if (colon > 0) {
      const provider = name.slice(0, colon);
      if (known.has(provider)) {
        const model = name.slice(colon + 1);
        if (model.length === 0) throw new ConfigError(`model "${name}": no model name after the provider prefix`);
        return { provider, model };
      }
    }
    const exact = this.#exact.get(name);
    if (exact !== undefined) return { provider: exact.provider, model: exact.model ?? name };

    let best: RouteRule | undefined;
    for (const r of this.#prefixes) {
      // `>=` so that, on equal length, the rule added later wins.
      if (name.startsWith(r.prefix!) && (best === undefined || r.prefix!.length >= best.prefix!.length)) best = r;
    }
    if (best !== undefined) return { provider: best.provider, model: best.model ?? name };

    for (const p of this.#prefer) if (known.has(p)) return { provider: p, model: name };

    const preferNote =
      this.#prefer.length > 0 ? ` (prefer lists ${this.#prefer.join(', ')}, but none is a registered provider)` : '';
    throw new ConfigError(
      `model "${name}": no provider claims it${preferNote}. Route it (registry.route({ exact: '${name}', provider: '<name>' })), ` +
        `prefix it with a provider ('<provider>:${name}'), or set prefer (registry.prefer(['<provider>']) or Fiber.fromEnv({ prefer }))`,
    );
  }
}
