/**
 * `Fiber`: the client. A call reads as a straight line:
 * `fiber.ts` (context) → request-scope middleware (`compose.ts`) → attempt loop (`attempts.ts`) → attempt-scope
 * middleware → provider terminal → `transport.ts` → `providers/<name>/`.
 */
import { randomUUID } from 'node:crypto';
import { normalize } from '../middleware/normalize.js';
import { logging } from '../middleware/logging.js';
import { retry as retryMiddleware, type RetryOptions } from '../middleware/retry.js';
import { route } from '../middleware/route.js';
import { anthropic } from '../providers/anthropic/index.js';
import { gemini } from '../providers/gemini/index.js';
import { openai } from '../providers/openai/index.js';
import { runAttempts, type AttemptRunner } from './attempts.js';
import { hookOf, run, wantsChunks } from './compose.js';
import { CallContext, type FiberRuntime } from './context.js';
import { ConfigError, FiberError } from './errors.js';
import { validateHeaders } from './headers.js';
import { validateBaseUrl } from './validate-base-url.js';
import { MetricsStore, MultiSink, toSink } from './metrics.js';
import { presets } from './presets.js';
import { buildResult } from './result.js';
import { ModelRegistry } from './routing.js';
import { FiberStream } from './stream.js';
import { Timeouts, type TimeoutsInit } from './timeouts.js';
import { Transport } from './transport.js';
import type {
  ChatRequest, ChatResult, ErrorHook, EventHook, LoggerLike, MessageInput, MetricsSink, Middleware, Provider, ProviderEnv,
} from './types.js';

/** Options of `new Fiber(...)`. See `docs/features/transport.md`. */
export interface FiberOptions {
  /** Model used when a call names none. */
  defaultModel?: string;
  /** API keys by provider name. */
  apiKeys?: Partial<Record<string, string>>;
  /** Base URLs by provider name, as the official SDKs take them (openai `https://api.openai.com/v1`). */
  baseUrls?: Partial<Record<string, string>>;
  /** Headers sent on every request; per-call `headers` merge over them. */
  headers?: Record<string, string>;
  /** @default new Timeouts({ totalMs: 30_000 }) */
  timeouts?: Timeouts | TimeoutsInit;
  /** @default 2 retries, jittered exponential backoff */
  retry?: RetryOptions | false;
  registry?: ModelRegistry;
  /** Extra metrics sinks; `fiber.metrics` (in memory) always records too. */
  metrics?: MetricsSink | MetricsSink[];
  /** Follow 3xx redirects (same origin only carries credentials). @default false */
  followRedirects?: boolean;
  /** Refuse base URLs that resolve to private, loopback or link-local addresses. @default false */
  blockPrivateNetworks?: boolean;
  /** pino-compatible logger. @default silent */
  logger?: LoggerLike;
  /** @default 'prod' */
  preset?: 'prod' | 'dev' | 'none';
  /** Middleware appended inside the preset stack. */
  middleware?: Middleware[];
  /** Extra adapters, registered under their name; one named like a built-in replaces it. */
  providers?: Provider[];
  /** Cap on response bytes. @default 64 MiB */
  maxResponseBytes?: number;
  /** `Fiber.fromEnv`: provider order for model names no rule claims. */
  prefer?: string[];
}

const OPTION_KEYS = new Set([
  'defaultModel', 'apiKeys', 'baseUrls', 'headers', 'timeouts', 'retry', 'registry', 'metrics', 'logger', 'preset',
  'middleware', 'providers', 'maxResponseBytes', 'prefer', 'followRedirects', 'blockPrivateNetworks',
]);

/** Shared by a Fiber and its `bind()` children: connections, providers, metrics, logger. */
interface Core {
  transport: Transport;
  providers: Map<string, Provider>;
  envs: Map<string, ProviderEnv>;
  secrets: string[];
  runtime: FiberRuntime;
  timeouts: Timeouts;
  metrics: MetricsStore;
  /** The user's sinks (closed by `fiber.close()` when they have `close()`). */
  userSinks: MetricsSink[];
  /** Built-in providers pointed at their real API without a key: a call to them fails before sending. */
  missingKeys: Map<string, string>;
}

interface Stack {
  request: Middleware[];
  attempt: Middleware[];
  hooks: EventHook[];
  /** Parallel to `hooks`: true where the hook takes no `chunk` events, so the stream skips the call for them. */
  skipChunks: boolean[];
  errorHooks: ErrorHook[];
}

/** Set by `bind()` around `new Fiber()`: the constructor then builds a child instead of reading options. */
let binding: { parent: Fiber; defaults: Partial<ChatRequest> } | null = null;

/**
 * The llm-fiber client.
 * @example
 * const fiber = new Fiber({ apiKeys: { openai: process.env.OPENAI_API_KEY }, defaultModel: 'gpt-4o-mini' });
 * const { text } = await fiber.chat({ messages: 'Say hello' });
 */
export class Fiber {
  /** In-memory metrics of every call made through this Fiber (and its `bind()` children). */
  readonly metrics: MetricsStore;
  /** The model registry used by `route`. */
  readonly registry: ModelRegistry;
  private readonly core: Core;
  /** This Fiber's own stack; a `bind()` child has none until its own `use()` and reads its parent's. */
  private ownStack: Stack | null;
  private readonly parent: Fiber | null;
  private readonly defaults: Partial<ChatRequest> | null;
  private readonly runner: AttemptRunner;

  constructor(options: FiberOptions = {}) {
    const b = binding;
    binding = null;
    if (b !== null) {
      this.parent = b.parent;
      this.core = b.parent.core;
      this.metrics = b.parent.metrics;
      this.registry = b.parent.registry;
      this.ownStack = null;
      this.defaults = b.parent.defaults ? mergeDefaults(b.parent.defaults, b.defaults) : b.defaults;
    } else {
      this.parent = null;
      if (options === null || typeof options !== 'object') throw new ConfigError('Fiber: options must be an object');
      for (const k of Object.keys(options)) {
        if (!OPTION_KEYS.has(k)) throw new ConfigError(`Fiber: unknown option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`);
      }
      if (options.defaultModel !== undefined && (typeof options.defaultModel !== 'string' || options.defaultModel === '')) {
        throw new ConfigError('Fiber: defaultModel must be a non-empty string');
      }
      const registry = options.registry ?? new ModelRegistry();
      if (!(registry instanceof ModelRegistry)) throw new ConfigError('Fiber: registry must be a ModelRegistry');
      if (options.prefer !== undefined) registry.prefer(options.prefer);
      this.registry = registry;
      this.metrics = new MetricsStore();
      const headers = options.headers === undefined ? {} : validateHeaders(options.headers, 'Fiber headers');
      const providers = new Map<string, Provider>();
      if (options.providers !== undefined && !Array.isArray(options.providers)) throw new ConfigError('Fiber: providers must be an array');
      for (const p of [openai(), anthropic(), gemini(), ...(options.providers ?? [])]) {
        if (p === null || typeof p !== 'object' || typeof p.name !== 'string' || typeof p.prepare !== 'function') {
          throw new ConfigError('Fiber: each of `providers` must be a Provider (see docs/features/custom-providers.md)');
        }
        providers.set(p.name, p);
      }
      const apiKeys = stringRecord(options.apiKeys, 'apiKeys');
      const baseUrls = stringRecord(options.baseUrls, 'baseUrls');
      for (const [name, url] of Object.entries(baseUrls)) validateBaseUrl(url, `baseUrls.${name}`);
      const envs = new Map<string, ProviderEnv>();
      const secrets = new Set<string>();
      for (const v of Object.values(apiKeys)) if (v) secrets.add(v);
      const missingKeys = new Map<string, string>();
      for (const p of providers.values()) {
        const env = providerEnv(p, apiKeys, baseUrls, headers);
        envs.set(p.name, env);
        if (env.apiKey) secrets.add(env.apiKey);
        // The provider's own API needs a key; a custom base URL (a proxy, a local server) may not.
        else if (p.envKeys !== undefined && p.envKeys.length > 0 && p.defaultBaseUrl !== undefined && env.baseUrl === p.defaultBaseUrl.replace(/\/+$/, '')) {
          missingKeys.set(p.name, p.envKeys.join(' or '));
        }
      }
      const userSinks = options.metrics === undefined ? [] : Array.isArray(options.metrics) ? [...options.metrics] : [options.metrics];
      if (options.metrics !== undefined) toSink(options.metrics, 'Fiber: metrics');
      const logger = options.logger ?? null;
      if (logger !== null && ['debug', 'info', 'warn', 'error'].some((l) => typeof (logger as any)[l] !== 'function')) {
        throw new ConfigError('Fiber: logger must have debug, info, warn and error methods (pino-compatible)');
      }
      const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
      if (typeof maxResponseBytes !== 'number' || !(maxResponseBytes > 0)) throw new ConfigError('Fiber: maxResponseBytes must be a positive number');
      for (const k of ['followRedirects', 'blockPrivateNetworks'] as const) {
        if (options[k] !== undefined && typeof options[k] !== 'boolean') throw new ConfigError(`Fiber: ${k} must be a boolean`);
      }
      // A Timeouts instance or a plain object: either way fields left out keep the defaults (30 s total).
      const timeouts = options.timeouts === undefined ? Timeouts.DEFAULT : Timeouts.DEFAULT.merge(options.timeouts);
      this.core = {
        transport: new Transport({
          maxResponseBytes,
          followRedirects: options.followRedirects ?? false,
          blockPrivateNetworks: options.blockPrivateNetworks ?? false,
        }),
        providers,
        envs,
        secrets: [...secrets],
        timeouts,
        metrics: this.metrics,
        userSinks,
        missingKeys,
        runtime: {
          defaultModel: options.defaultModel,
          registry,
          known: new Set(providers.keys()),
          sink: userSinks.length === 0 ? this.metrics : new MultiSink([this.metrics, ...userSinks]),
          secrets: [...secrets],
        },
      };
      const preset = options.preset ?? 'prod';
      if (preset !== 'prod' && preset !== 'dev' && preset !== 'none') throw new ConfigError(`Fiber: preset must be 'prod', 'dev' or 'none' (got ${String(preset)})`);
      const base = preset === 'none'
        ? [...(logger !== null ? [logging({ logger })] : []), ...(options.retry !== undefined ? [retryMiddleware(options.retry)] : [])]
        : presets[preset]({ retry: options.retry, ...(logger !== null ? { logger } : {}) });
      const extra = options.middleware ?? [];
      if (!Array.isArray(extra)) throw new ConfigError('Fiber: middleware must be an array');
      this.ownStack = compile([...base, ...extra]);
      this.defaults = null;
    }
    const core = this.core;
    const self = this;
    this.runner = {
      get attemptStack() { return self.stack.attempt; },
      terminal: (ctx) => terminal(core, ctx),
    };
  }

  /** The middleware stack calls run through: a child's own, else its parent's as it is now. */
  private get stack(): Stack {
    return this.ownStack ?? this.parent!.stack;
  }

  /**
   * A Fiber from the environment: `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY` (or `GOOGLE_API_KEY`),
   * `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GEMINI_BASE_URL`, `LLM_FIBER_DEFAULT_MODEL`.
   * @example const fiber = Fiber.fromEnv({ prefer: ['anthropic', 'openai'] });
   */
  static fromEnv(options: FiberOptions = {}): Fiber {
    const env = process.env;
    const apiKeys: Record<string, string> = {};
    const baseUrls: Record<string, string> = {};
    const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => typeof v === 'string' && v !== '');
    const k = { openai: pick('OPENAI_API_KEY'), anthropic: pick('ANTHROPIC_API_KEY'), gemini: pick('GEMINI_API_KEY', 'GOOGLE_API_KEY') };
    const u = { openai: pick('OPENAI_BASE_URL'), anthropic: pick('ANTHROPIC_BASE_URL'), gemini: pick('GEMINI_BASE_URL') };
    for (const [name, v] of Object.entries(k)) if (v) apiKeys[name] = v;
    for (const [name, v] of Object.entries(u)) if (v) baseUrls[name] = v;
    return new Fiber({
      ...options,
      defaultModel: options.defaultModel ?? pick('LLM_FIBER_DEFAULT_MODEL'),
      apiKeys: { ...apiKeys, ...(options.apiKeys ?? {}) },
      baseUrls: { ...baseUrls, ...(options.baseUrls ?? {}) },
    });
  }

  /** Append middleware inside the preset stack (before the provider). Chainable. */
  use(...middleware: Middleware[]): this {
    for (let i = 0; i < middleware.length; i++) {
      if (typeof middleware[i] !== 'function') throw new ConfigError(`use: argument ${i} is not a middleware function`);
    }
    const current = this.stack;
    this.ownStack = compile([...current.request, ...current.attempt, ...middleware], true);
    return this;
  }

  /**
   * A child Fiber with request defaults, sharing connections, metrics and middleware (the parent's stack as it is
   * at each call; `use()` on the child gives it its own from then on).
   */
  bind(defaults: Partial<ChatRequest>): Fiber {
    if (defaults === null || typeof defaults !== 'object') throw new ConfigError('bind: defaults must be an object');
    binding = { parent: this, defaults };
    try {
      return new Fiber();
    } finally {
      binding = null;
    }
  }

  /**
   * Close the connection pools (calls in flight finish first, bounded by their deadlines; later calls fail with
   * `ConnectionError` code `closed`), then close what the middleware and sinks opened (a StatsD socket, an
   * exporter) — never a client the caller passed in.
   */
  async close(): Promise<void> {
    if (this.parent !== null) return;
    await this.core.transport.close();
    const stack = this.stack;
    const closers: Array<Promise<unknown> | undefined> = [];
    for (const s of this.core.userSinks) closers.push(s.close?.());
    for (const m of [...stack.request, ...stack.attempt]) {
      const close = (m as { close?: () => Promise<void> }).close;
      if (typeof close === 'function') closers.push(close.call(m));
    }
    await Promise.allSettled(closers);
  }

  /** One non-streaming call. Bad input rejects with `ConfigError` before any I/O. */
  chat(req: ChatRequest): Promise<ChatResult> {
    let ctx: CallContext;
    try {
      ctx = this.context('chat', req);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.runChat(ctx);
  }

  /** One streaming call. Nothing is sent until the first `next()` or `result()`. */
  chatStream(req: ChatRequest): FiberStream {
    const stack = this.stack;
    return new FiberStream((stream) => {
      const ctx = this.context('stream', req);
      stream.attach(ctx);
      return this.runStream(ctx, stack);
    }, stack.hooks, stack.errorHooks, stack.skipChunks);
  }

  /** Ask for text: `chat()` and return `result.text`. */
  async ask(prompt: MessageInput, opts: Partial<ChatRequest> = {}): Promise<string> {
    return (await this.chat({ ...opts, messages: prompt })).text;
  }

  // ---------------------------------------------------------------------------------------------------------

  private context(kind: 'chat' | 'stream', req: ChatRequest): CallContext {
    if (req === null || typeof req !== 'object') throw new ConfigError(`${kind === 'chat' ? 'chat' : 'chatStream'}: expected a request object`);
    const input = this.defaults === null ? req : mergeDefaults(this.defaults, req);
    const core = this.core;
    const timeouts = input.timeout === undefined ? core.timeouts : core.timeouts.merge(input.timeout);
    let key = input.idempotencyKey;
    if (key === undefined) key = randomUUID();
    return new CallContext(kind, input, timeouts, key, core.runtime);
  }

  private async runChat(ctx: CallContext): Promise<ChatResult> {
    ctx.startClock();
    try {
      await run(this.stack.request, ctx, () => runAttempts(ctx, this.runner));
    } catch (e) {
      throw finalError(e, ctx);
    } finally {
      ctx.stopClock();
    }
    if (ctx.result === undefined) {
      throw new FiberError(`${ctx.provider} ${ctx.model}: the middleware stack returned without a result`, { code: 'no_result', provider: ctx.provider, model: ctx.model });
    }
    return ctx.result;
  }

  private async runStream(ctx: CallContext, stack: Stack): Promise<CallContext> {
    ctx.startClock();
    try {
      await run(stack.request, ctx, () => runAttempts(ctx, this.runner));
    } catch (e) {
      ctx.stopClock();
      throw finalError(e, ctx);
    }
    return ctx;
  }
}

/** The provider terminal: the innermost `next` of every attempt. */
async function terminal(core: Core, ctx: CallContext): Promise<void> {
  const provider = core.providers.get(ctx.provider);
  if (provider === undefined) throw new ConfigError(`no provider named "${ctx.provider}"`, { provider: ctx.provider, model: ctx.model });
  const env = core.envs.get(provider.name)!;
  if (core.missingKeys.size !== 0 && core.missingKeys.has(provider.name)) {
    throw new ConfigError(`${provider.name} ${ctx.model}: no API key (set ${core.missingKeys.get(provider.name)} or pass apiKeys.${provider.name})`, {
      provider: provider.name, model: ctx.model, code: 'missing_api_key',
    });
  }
  const wire = provider.prepare(ctx.request, env);
  const idem = provider.idempotencyHeader;
  if (idem && (ctx.retry === null || ctx.retry.idempotencyHeader)) wire.headers[idem] = ctx.idempotencyKey;
  if (ctx.kind === 'chat') {
    const { body, info } = await core.transport.json(ctx, provider, wire, core.secrets);
    ctx.result = buildResult(provider.parse(body, info), ctx);
  } else {
    ctx.source = await core.transport.stream(ctx, provider, wire, core.secrets);
  }
}

function finalError(e: unknown, ctx: CallContext): FiberError {
  const err = e instanceof FiberError ? e : new FiberError(`${ctx.provider || 'llm-fiber'}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  if (!err.provider && ctx.provider) err.provider = ctx.provider;
  if (!err.model && ctx.model) err.model = ctx.model;
  if (err.attempts === 0) err.attempts = ctx.attempt;
  return err;
}

/** Split middleware by scope and pre-compile the stream hooks (innermost first). */
function compile(all: Middleware[], keepImplicit = false): Stack {
  const list: Middleware[] = [];
  const flatten = (ms: readonly Middleware[]) => {
    for (const m of ms) {
      if (Array.isArray(m.parts)) flatten(m.parts);
      else list.push(m);
    }
  };
  flatten(all);
  if (!keepImplicit) {
    // normalize and route are part of every pipeline: add the defaults when a stack lacks them.
    const has = (name: string) => list.some((m) => m.middlewareName === name);
    if (!has('route')) list.unshift(route());
    if (!has('normalize')) list.unshift(normalize());
  }
  const request: Middleware[] = [];
  const attempt: Middleware[] = [];
  for (const m of list) (m.scope === 'attempt' ? attempt : request).push(m);
  const ordered = [...request, ...attempt];
  const hooks: EventHook[] = [];
  const skipChunks: boolean[] = [];
  const errorHooks: ErrorHook[] = [];
  for (let i = ordered.length - 1; i >= 0; i--) {
    const m = ordered[i]!;
    const hook = hookOf(m);
    if (hook !== undefined) {
      hooks.push(hook);
      skipChunks.push(!wantsChunks(m));
    }
    if (typeof m.onError === 'function') errorHooks.push(m.onError);
  }
  return { request, attempt, hooks, skipChunks, errorHooks };
}

function mergeDefaults(defaults: Partial<ChatRequest>, req: Partial<ChatRequest>): ChatRequest {
  const out = { ...defaults, ...req } as ChatRequest;
  if (defaults.headers && req.headers) out.headers = { ...defaults.headers, ...req.headers };
  if (defaults.metadata && req.metadata) out.metadata = { ...defaults.metadata, ...req.metadata };
  if (defaults.providerOptions && req.providerOptions) out.providerOptions = { ...defaults.providerOptions, ...req.providerOptions };
  return out;
}

function stringRecord(v: unknown, name: string): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`Fiber: ${name} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') throw new ConfigError(`Fiber: ${name} has a forbidden key "${k}"`);
    if (val === undefined) continue;
    if (typeof val !== 'string') throw new ConfigError(`Fiber: ${name}.${k} must be a string`);
    out[k] = val;
  }
  return out;
}

function providerEnv(p: Provider, apiKeys: Record<string, string>, baseUrls: Record<string, string>, headers: Record<string, string>): ProviderEnv {
  const o = p.options ?? {};
  const base = o.baseUrl ?? baseUrls[p.name] ?? p.defaultBaseUrl;
  if (base === undefined) throw new ConfigError(`provider ${p.name}: no base URL (pass baseUrls.${p.name} or the adapter's baseUrl)`);
  const extra = o.headers ? validateHeaders(o.headers, `provider ${p.name} headers`) : undefined;
  return {
    apiKey: o.apiKey ?? apiKeys[p.name],
    baseUrl: validateBaseUrl(base, `base URL of ${p.name}`),
    headers: extra ? { ...headers, ...extra } : headers,
  };
}
