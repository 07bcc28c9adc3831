/**
 * The `logging` middleware: structured log lines for a pino-compatible logger. See
 * `docs/features/observability.md#logging`.
 *
 * Per call it writes:
 * - every `ctx.log()` record (retries at warn, with `attempt`, `delayMs`, `reason`), as one line each, through a
 *   `ctx.onLog` listener built once per `logging()`;
 * - one line when the call ends: info for a success (`status: 'ok'`) or a stream the consumer closed
 *   (`status: 'closed'`), error for a failure (`status` = the error class);
 * - with `bodies: true`, one debug line with the request messages and the response, redacted.
 *
 * Streams end in `onEvent(done)` or `onError` (or, before the first event, in the rejection of `next()`); the hook
 * does nothing for other events. Nothing is logged per chunk. A Fiber without `logging()` pays nothing.
 *
 * Redaction: free text (error messages, metadata values, log data, bodies) passes through `ctx.state.redaction`
 * when a `redaction()` is installed, else through `redaction()`'s defaults (API-key shapes, e-mail, phone, card),
 * then through the Fiber's own keys and the `redact` option. The redactor is read when a line is written, so `logging()` and `redaction()` work in
 * either order.
 */
import { defineMiddleware } from '../src/compose.js';
import { ConfigError, type FiberError, toFiberError } from '../src/errors.js';
import { mapStrings } from '../src/map-strings.js';
import { modelForTelemetry } from '../src/context.js';
import type {
  ChatMessage, ChatResult, ContentPart, FiberContext, LoggerLike, LogLevel, LogListener, Middleware, Next,
} from '../src/types.js';
import { callScrubber } from './redaction.js';

/** Options of `logging()`. */
export interface LoggingOptions {
  /** A pino logger, or anything with pino's `debug`/`info`/`warn`/`error(obj, msg)` methods. Required. */
  logger: LoggerLike;
  /**
   * The lowest level this middleware writes; lines below it are not built at all (the logger's own level still
   * applies after that).
   * @default 'info' ('debug' with `bodies: true`)
   */
  level?: LogLevel;
  /**
   * Write a debug line per call with the request messages and the response text, tool calls and reasoning,
   * redacted (never headers; images, files and audio as their media type and size). For development: prompts are
   * personal data even after redaction. Requires `level: 'debug'`.
   * @default false
   */
  bodies?: boolean;
  /**
   * Applied to every piece of free text before it is written, after the call's `redaction()` (or, without one,
   * its default patterns: API keys, e-mail, phone, card): error messages, metadata values, log record data, bodies.
   * @default none
   */
  redact?: (text: string) => string;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const OPTION_KEYS = new Set(['logger', 'level', 'bodies', 'redact']);

/** The `msg` of the per-call lines (`status`, timing, tokens). @internal */
export const CALL_MESSAGE = 'llm-fiber call';
/** The `msg` of the `bodies: true` debug line. @internal */
export const BODIES_MESSAGE = 'llm-fiber call bodies';


/**
 * Log every call to a pino-compatible logger: one info line per call with provider, model, status, latency, time
 * to first byte, tokens, cost, attempts, idempotency key and provider request id; one warn line per retry with its
 * reason and wait; failures at error with the error class, code, HTTP status and message. `bodies: true` adds a
 * debug line with the (redacted) request and response. `new Fiber({ logger })` installs it in the presets.
 * See `docs/features/observability.md#logging`.
 * @example
 * import pino from 'pino';
 * const fiber = new Fiber({ preset: 'none' }).use(logging({ logger: pino() }));
 * await fiber.chat({ model: 'gpt-4o-mini', messages: 'hi' });
 * // {"level":30,"callId":"call_1","kind":"chat","provider":"openai","model":"gpt-4o-mini","status":"ok",...,"msg":"llm-fiber call"}
 */
export function logging(options: LoggingOptions): Middleware {
  if (options === null || typeof options !== 'object') throw new ConfigError('logging: options must be an object with a `logger`');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new ConfigError(`logging: unknown option "${k}"`);
  const { logger, bodies = false, redact } = options;
  const methods = logger as unknown as Record<string, unknown> | null | undefined;
  if (methods === null || (typeof methods !== 'object' && typeof methods !== 'function')
    || (['debug', 'info', 'warn', 'error'] as const).some((l) => typeof methods[l] !== 'function')) {
    throw new ConfigError('logging: `logger` must have debug, info, warn and error methods (pino-compatible)');
  }
  if (typeof bodies !== 'boolean') throw new ConfigError('logging: bodies must be a boolean');
  if (redact !== undefined && typeof redact !== 'function') throw new ConfigError('logging: redact must be a function (text) => text');
  const level = options.level ?? (bodies ? 'debug' : 'info');
  if (!Object.prototype.hasOwnProperty.call(RANK, level)) throw new ConfigError("logging: level must be 'debug', 'info', 'warn' or 'error'");
  if (bodies && level !== 'debug') throw new ConfigError("logging: bodies are logged at debug; set level: 'debug' (or leave it out)");
  const min = RANK[level];
  const infoOn = RANK.info >= min;
  const isLevelEnabled = (logger as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled;

  /** Write a line; a throwing logger must not fail the call it reports on. */
  const write = (lvl: LogLevel, line: object, msg: string): void => {
    try {
      logger[lvl](line, msg);
    } catch (err) {
      reportLoggerError(logger, err);
    }
  };

  const onRecord: LogListener = (lvl, message, data, ctx) => {
    if (RANK[lvl] < min) return;
    const scrub = callScrubber(ctx, redact);
    const line: Record<string, unknown> = {
      callId: ctx.id, provider: ctx.provider, model: modelForTelemetry(ctx, ctx.model), idempotencyKey: ctx.idempotencyKey,
    };
    if (data !== undefined) {
      for (const k of Object.keys(data)) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
        line[k] = deepScrub((data as Record<string, unknown>)[k], scrub, 0);
      }
    }
    write(lvl, line, scrub(message));
  };

  const succeeded = (ctx: FiberContext, result: ChatResult): void => {
    if (infoOn) {
      const u = result.usage;
      const line: Record<string, unknown> = {
        callId: ctx.id, kind: ctx.kind, provider: ctx.provider, model: modelForTelemetry(ctx, ctx.model), status: 'ok',
        latencyMs: ms(result.latencyMs), ttfbMs: result.ttfbMs === null ? null : ms(result.ttfbMs),
        tokens: { prompt: u.prompt, completion: u.completion, total: u.total }, costUsd: u.costEstimate,
        attempts: result.attempts, idempotencyKey: ctx.idempotencyKey,
      };
      const requestId = result.cached ? undefined : requestIdOf(ctx, undefined);
      if (requestId !== undefined) line.requestId = requestId;
      line.finishReason = result.finishReason;
      line.cached = result.cached;
      addMetadata(line, ctx, redact);
      write('info', line, CALL_MESSAGE);
    }
    if (bodies && debugEnabled(isLevelEnabled, logger)) write('debug', bodiesLine(ctx, result, callScrubber(ctx, redact)), BODIES_MESSAGE);
  };

  const failed = (ctx: FiberContext, err: FiberError): void => {
    const closed = err.name === 'AbortError' && err.code === 'consumer_closed';
    const lvl: LogLevel = closed ? 'info' : 'error';
    if (RANK[lvl] >= min) {
      const line: Record<string, unknown> = {
        callId: ctx.id, kind: ctx.kind, provider: ctx.provider || err.provider || 'unknown', model: modelForTelemetry(ctx, ctx.model || err.model || 'unknown'),
        status: closed ? 'closed' : err.name,
      };
      if (!closed) {
        if (err.code !== undefined) line.code = err.code;
        if (err.status !== undefined) line.httpStatus = err.status;
        const requestId = requestIdOf(ctx, err);
        if (requestId !== undefined) line.requestId = requestId;
        line.retryable = err.retryable;
      }
      line.latencyMs = ms(performance.now() - ctx.timing.startedAt);
      line.ttfbMs = ctx.timing.ttfbMs === null ? null : ms(ctx.timing.ttfbMs);
      // 0 for a call refused before any attempt (bad input, a closed Fiber).
      line.attempts = err.attempts > 0 ? err.attempts : ctx.attempt;
      line.idempotencyKey = ctx.idempotencyKey;
      // The core scrubs the Fiber's keys from error messages; patterns (e-mails echoed in a 400) are ours.
      if (!closed) line.errorMessage = callScrubber(ctx, redact)(err.message);
      addMetadata(line, ctx, redact);
      write(lvl, line, CALL_MESSAGE);
    }
    if (bodies && !closed && debugEnabled(isLevelEnabled, logger)) write('debug', bodiesLine(ctx, null, callScrubber(ctx, redact)), BODIES_MESSAGE);
  };

  return defineMiddleware({
    name: 'logging',
    async handle(ctx: FiberContext, next: Next): Promise<void> {
      ctx.onLog(onRecord);
      try {
        await next();
      } catch (e) {
        // Pre-commit failures of streams land here too (next() rejects; no onError follows).
        failed(ctx, toFiberError(e, { provider: ctx.provider, model: ctx.model }));
        throw e;
      }
      // Streams end in onEvent(done) or onError; a chat has its result now.
      if (ctx.kind === 'chat' && ctx.result !== undefined) succeeded(ctx, ctx.result);
    },
    events: ['done'],
    onEvent(event, ctx) {
      if (event.type === 'done') succeeded(ctx, event.result);
      return undefined;
    },
    onError(err, ctx) {
      failed(ctx, err);
    },
  });
}

/** Milliseconds with two decimals: enough for a log, stable for the eye. */
function ms(v: number): number {
  return Math.round(v * 100) / 100;
}

function debugEnabled(isLevelEnabled: ((l: string) => boolean) | undefined, logger: LoggerLike): boolean {
  if (typeof isLevelEnabled !== 'function') return true;
  try {
    return isLevelEnabled.call(logger, 'debug');
  } catch {
    return true; // can't tell: write it and let the logger filter
  }
}

/** The provider's request id: the error's, else the last response's (read by the transport through the adapter's header). */
function requestIdOf(ctx: FiberContext, err: FiberError | undefined): string | undefined {
  if (err?.requestId) return err.requestId;
  return ctx.requestId || undefined;
}

function addMetadata(line: Record<string, unknown>, ctx: FiberContext, redact: LoggingOptions['redact']): void {
  const md = ctx.metadata;
  const keys = Object.keys(md);
  if (keys.length === 0) return;
  const scrub = callScrubber(ctx, redact);
  const out: Record<string, string> = {};
  for (const k of keys) if (k !== '__proto__' && k !== 'constructor' && k !== 'prototype') out[k] = scrub(md[k]!);
  line.metadata = out;
}

/** The Fiber's keys, once the core exposes them (`ctx.runtime.secrets`). */
/** Copy JSON-like data with every string scrubbed (depth-limited; prototype-polluting keys dropped). */
function deepScrub(v: unknown, scrub: (s: string) => string, depth: number): unknown {
  return mapStrings(v, scrub, {
    maxDepth: 16,
    tooDeep: () => '[too deep]',
    other: (o) => (String(o) === '[object Object]' ? '[object]' : scrub(String(o))),
  }, depth);
}

/** The debug line of `bodies: true`: the normalized request and, on success, the response. Never headers. */
function bodiesLine(ctx: FiberContext, result: ChatResult | null, scrub: (s: string) => string): object {
  const req = ctx.request as FiberContext['request'] | undefined;
  const request: Record<string, unknown> = {};
  if (req !== undefined) {
    request.model = modelForTelemetry(ctx, req.model);
    request.messages = req.messages.map((m) => messageBody(m, scrub));
    if (req.temperature !== undefined) request.temperature = req.temperature;
    if (req.maxTokens !== undefined) request.maxTokens = req.maxTokens;
    if (req.stop !== undefined) request.stop = req.stop.map(scrub);
    if (req.tools !== undefined) request.tools = req.tools.map((t) => t.name);
    if (req.toolChoice !== undefined) request.toolChoice = req.toolChoice;
  }
  const line: Record<string, unknown> = {
    callId: ctx.id, provider: ctx.provider, model: modelForTelemetry(ctx, ctx.model), idempotencyKey: ctx.idempotencyKey, request,
  };
  if (result !== null) {
    const response: Record<string, unknown> = { text: scrub(result.text) };
    if (result.reasoning !== null) response.reasoning = scrub(result.reasoning);
    if (result.toolCalls.length > 0) {
      response.toolCalls = result.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: deepScrub(c.arguments, scrub, 0) }));
    }
    response.finishReason = result.finishReason;
    line.response = response;
  }
  return line;
}

function messageBody(m: ChatMessage, scrub: (s: string) => string): object {
  const out: Record<string, unknown> = { role: m.role };
  out.content = typeof m.content === 'string' ? scrub(m.content) : m.content.map((p) => partBody(p, scrub));
  if (m.name !== undefined) out.name = m.name;
  if (m.toolCallId !== undefined) out.toolCallId = m.toolCallId;
  if (m.toolCalls !== undefined) out.toolCalls = m.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: deepScrub(c.arguments, scrub, 0) }));
  return out;
}

/** Text parts redacted; media as their type, media type and size (never the data; URLs redacted). */
function partBody(p: ContentPart, scrub: (s: string) => string): object {
  if (p.type === 'text') return { type: 'text', text: scrub(p.text) };
  const out: Record<string, unknown> = { type: p.type };
  if (p.mediaType !== undefined) out.mediaType = p.mediaType;
  if ('url' in p && typeof p.url === 'string') out.url = p.url.startsWith('data:') ? `data:… (${p.url.length} chars)` : scrub(p.url);
  if ('data' in p && typeof p.data === 'string') out.dataChars = p.data.length;
  return out;
}

const warned = new WeakSet<object>();

/** Report a throwing logger once, as a process warning (the call goes on). */
function reportLoggerError(logger: object, err: unknown): void {
  if (warned.has(logger)) return;
  warned.add(logger);
  const message = err instanceof Error ? err.message : String(err);
  process.emitWarning(`llm-fiber: the logger failed (${message}); further failures of this logger are not reported`, {
    code: 'LLM_FIBER_LOGGER',
  });
}
