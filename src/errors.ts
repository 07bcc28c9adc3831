/**
 * Every error llm-fiber throws. The class is the category, `code` the detail (the provider's own code verbatim, or
 * a stable snake_case code of ours). Classes are branded with `Symbol.for` keys so `instanceof` holds across a
 * duplicated install and across the ESM and CJS builds.
 */

import { mapStrings, type MapStringsOptions } from './map-strings.js';

const BRAND = Symbol.for('llm-fiber.error.kinds');

export interface FiberErrorInit {
  provider?: string;
  model?: string;
  status?: number;
  code?: string;
  retryable?: boolean;
  requestId?: string;
  attempts?: number;
  cause?: unknown;
  /** The provider's parsed error body (keys scrubbed). */
  raw?: unknown;
}

const kindsCache = new WeakMap<object, readonly string[]>();

function kindsOf(ctor: Function): readonly string[] {
  let kinds = kindsCache.get(ctor);
  if (kinds) return kinds;
  const list: string[] = [];
  for (let c: any = ctor; c && c !== Error && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    if (Object.prototype.hasOwnProperty.call(c, 'kind')) list.push(c.kind);
  }
  kinds = Object.freeze(list);
  kindsCache.set(ctor, kinds);
  return kinds;
}

/** The base of every llm-fiber error. */
export class FiberError extends Error {
  static readonly kind: string = 'FiberError';
  override name = 'FiberError';
  provider: string;
  model: string;
  status?: number;
  code?: string;
  retryable: boolean;
  requestId?: string;
  attempts: number;
  raw?: unknown;

  constructor(message: string, init: FiberErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.provider = init.provider ?? '';
    this.model = init.model ?? '';
    if (init.status !== undefined) this.status = init.status;
    if (init.code !== undefined) this.code = init.code;
    this.retryable = init.retryable ?? false;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    this.attempts = init.attempts ?? 0;
    if (init.raw !== undefined) this.raw = init.raw;
    Object.defineProperty(this, BRAND, { value: kindsOf(new.target), enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const kinds = (value as any)[BRAND];
    return Array.isArray(kinds) && kinds.includes((this as any).kind);
  }
}

/** Bad input or configuration, raised before any I/O. */
export class ConfigError extends FiberError {
  static override readonly kind: string = 'ConfigError';
  override name = 'ConfigError';
}
/** 401/403: the key is missing, wrong or lacks permission. */
export class AuthError extends FiberError {
  static override readonly kind: string = 'AuthError';
  override name = 'AuthError';
}
/** 400/422 and anything the provider rejects as malformed. */
export class BadRequestError extends FiberError {
  static override readonly kind: string = 'BadRequestError';
  override name = 'BadRequestError';
}
/** 404: unknown model or endpoint. */
export class NotFoundError extends FiberError {
  static override readonly kind: string = 'NotFoundError';
  override name = 'NotFoundError';
}
/** The prompt does not fit the model's context window. */
export class ContextLengthError extends BadRequestError {
  static override readonly kind: string = 'ContextLengthError';
  override name = 'ContextLengthError';
}
/** The provider refused the prompt or the answer for safety reasons. */
export class ContentFilterError extends FiberError {
  static override readonly kind: string = 'ContentFilterError';
  override name = 'ContentFilterError';
}
/** 429. `retryAfterMs` is the server's requested wait, when it sent one. */
export class RateLimitError extends FiberError {
  static override readonly kind: string = 'RateLimitError';
  override name = 'RateLimitError';
  retryAfterMs?: number;
  constructor(message: string, init: FiberErrorInit & { retryAfterMs?: number } = {}) {
    super(message, init);
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}
/** 503/529: the provider is overloaded. */
export class OverloadedError extends FiberError {
  static override readonly kind: string = 'OverloadedError';
  override name = 'OverloadedError';
  retryAfterMs?: number;
  constructor(message: string, init: FiberErrorInit & { retryAfterMs?: number } = {}) {
    super(message, init);
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}
/** Other 5xx, or a response the adapter cannot use. */
export class ServerError extends FiberError {
  static override readonly kind: string = 'ServerError';
  override name = 'ServerError';
  retryAfterMs?: number;
  constructor(message: string, init: FiberErrorInit & { retryAfterMs?: number } = {}) {
    super(message, init);
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}
/** The connection failed (refused, reset, DNS) before a response arrived. */
export class ConnectionError extends FiberError {
  static override readonly kind: string = 'ConnectionError';
  override name = 'ConnectionError';
}

export type TimeoutPhase = 'connect' | 'headers' | 'read' | 'first_event' | 'idle' | 'total';

/** A deadline passed. `phase` says which one. */
export class TimeoutError extends FiberError {
  static override readonly kind: string = 'TimeoutError';
  override name = 'TimeoutError';
  phase: TimeoutPhase;
  constructor(message: string, init: FiberErrorInit & { phase: TimeoutPhase }) {
    super(message, { retryable: true, code: `timeout_${init.phase}`, ...init });
    this.phase = init.phase;
  }
}
/** A stream broke: cut before its end marker, dropped mid-way, or malformed. */
export class StreamError extends FiberError {
  static override readonly kind: string = 'StreamError';
  override name = 'StreamError';
}
/** A token or cost budget was exceeded. */
export class BudgetExceededError extends FiberError {
  static override readonly kind: string = 'BudgetExceededError';
  override name = 'BudgetExceededError';
  kind: 'tokens' | 'cost';
  phase: 'preflight' | 'stream';
  constructor(message: string, init: FiberErrorInit & { kind: 'tokens' | 'cost'; phase: 'preflight' | 'stream' }) {
    super(message, init);
    this.kind = init.kind;
    this.phase = init.phase;
  }
}
/** The caller aborted the call (signal or `stream.abort()`). */
export class AbortError extends FiberError {
  static override readonly kind: string = 'AbortError';
  override name = 'AbortError';
}

/** Replace every occurrence of a secret in `text`. Secrets shorter than 8 characters are ignored. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  for (const s of secrets) {
    if (s && s.length >= 8 && text.includes(s)) text = text.split(s).join('[redacted]');
  }
  return text;
}

/** Deep-copy JSON-ish data replacing secrets in every string, dropping prototype-polluting keys. */
export function scrubValue(value: unknown, secrets: readonly string[], depth = 0): unknown {
  return mapStrings(value, (s) => scrubSecrets(s, secrets), SCRUB_WALK, depth);
}

const SCRUB_WALK: MapStringsOptions = { maxDepth: 32 };

/** Turn anything thrown into a FiberError (once, at the boundary). */
export function toFiberError(err: unknown, init: FiberErrorInit = {}): FiberError {
  if (err instanceof FiberError) return err;
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'unknown error';
  return new FiberError(`${init.provider ?? 'llm-fiber'}${init.model ? ' ' + init.model : ''}: ${message}`, { ...init, cause: err });
}

/** The message format every error uses: `"<provider> <model>: <what> (<status>, request <id>)"`. */
export function errorMessage(provider: string, model: string, what: string, status?: number, requestId?: string): string {
  const tail = status !== undefined || requestId ? ` (${[status !== undefined ? String(status) : null, requestId ? `request ${requestId}` : null].filter(Boolean).join(', ')})` : '';
  return `${provider}${model ? ' ' + model : ''}: ${what}${tail}`;
}
