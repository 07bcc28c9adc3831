import { describe, expect, it, vi } from 'vitest';
import { BODIES_MESSAGE, CALL_MESSAGE, logging, type LoggingOptions } from '../../middleware/logging.js';
import { redaction } from '../../middleware/redaction.js';
import { defineMiddleware } from '../../src/compose.js';
import { ConfigError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import type { LoggerLike, Middleware } from '../../src/types.js';
import { collect, logsOf, rejectionOf, textOf } from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';
import { capturePino, LEVEL, type CapturedPino } from '../helpers/pino.js';

const CANARY_KEY = 'sk-test-canary-key-123456';
const CANARY_EMAIL = 'canary.person@example.com';

const emu = useEmulator();

/** A Fiber on the emulator (prod preset, fast retries) with `middleware` inside the preset stack. */
function fiberWith(middleware: Middleware[], options: FiberOptions = {}): Fiber {
  const f = new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: CANARY_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    middleware,
    ...options,
  });
  closeAfterAll(f);
  return f;
}

/** A Fiber logging to a fresh captured pino instance. */
function logged(options: Omit<LoggingOptions, 'logger'> = {}, extra: Middleware[] = []): { fiber: Fiber; log: CapturedPino } {
  const log = capturePino('debug');
  return { fiber: fiberWith([logging({ logger: log.logger, ...options }), ...extra]), log };
}

const callLines = (log: CapturedPino) => log.records().filter((r) => r.msg === CALL_MESSAGE);
const bodyLines = (log: CapturedPino) => log.records().filter((r) => r.msg === BODIES_MESSAGE);
const retryLines = (log: CapturedPino) => log.records().filter((r) => r.level === LEVEL.warn && String(r.msg).startsWith('retrying in'));

/** Let `void`-ed onError hooks (consumer close, abort) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('one line per call', () => {
  it('writes one info line for a chat call with provider, model, status, timing, tokens, cost, attempts, ids', async () => {
    const { fiber, log } = logged();
    emu.script({ text: 'hello there', usage: { prompt: 7, completion: 3 } });
    const result = await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme' } });
    const lines = callLines(log);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      level: LEVEL.info, time: expect.any(Number), pid: process.pid, hostname: expect.any(String),
      callId: expect.stringMatching(/^call_/), kind: 'chat', provider: 'openai', model: 'gpt-4o-mini', status: 'ok',
      latencyMs: expect.any(Number), ttfbMs: Math.round(result.ttfbMs! * 100) / 100,
      tokens: { prompt: 7, completion: 3, total: 10 }, costUsd: null, attempts: 1,
      idempotencyKey: emu.requests[0]!.headers['idempotency-key'], requestId: 'req_emu_1',
      finishReason: 'stop', cached: false, metadata: { tenant: 'acme' }, msg: CALL_MESSAGE,
    });
    expect(lines[0]!.latencyMs).toBeGreaterThan(0);
    // Nothing else at info or above: no line per request, no bodies at debug without `bodies`.
    expect(log.records()).toHaveLength(1);
  });

  it('writes one info line for a stream, at done, with its time to first byte and nothing per chunk', async () => {
    const { fiber, log } = logged();
    const chunks = Array.from({ length: 50 }, (_, i) => `w${i} `);
    emu.script({ chunks, usage: { prompt: 4, completion: 50 } });
    const stream = fiber.chatStream({ messages: 'count' });
    const seen: number[] = [];
    for await (const ev of stream) {
      seen.push(log.lines.length);
      if (ev.type === 'done') break;
    }
    // No line while the chunks flowed; the line is written as `done` passes the hook.
    expect(seen.slice(0, -1).every((n) => n === 0)).toBe(true);
    const lines = callLines(log);
    expect(lines).toHaveLength(1);
    expect(log.records()).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      kind: 'stream', status: 'ok', attempts: 1, tokens: { prompt: 4, completion: 50, total: 54 },
      requestId: 'req_emu_1', finishReason: 'stop', cached: false,
      idempotencyKey: emu.requests[0]!.headers['idempotency-key'],
    });
    expect(lines[0]!.ttfbMs).toEqual(expect.any(Number));
    expect(lines[0]!.ttfbMs as number).toBeLessThanOrEqual(lines[0]!.latencyMs as number);
  });

  it('reads the request id from the provider\'s own header (anthropic request-id)', async () => {
    const log = capturePino();
    const fiber = fiberWith([logging({ logger: log.logger })], { baseUrls: { anthropic: emu.baseUrls.anthropic }, apiKeys: { anthropic: CANARY_KEY } });
    await fiber.chat({ model: 'claude-3-5-haiku-latest', messages: 'hi' });
    expect(callLines(log)[0]).toMatchObject({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', status: 'ok', requestId: 'req_emu_1' });
  });

  it('omits requestId when the provider sends none (gemini)', async () => {
    const log = capturePino();
    const fiber = fiberWith([logging({ logger: log.logger })], { baseUrls: { gemini: emu.baseUrls.gemini }, apiKeys: { gemini: CANARY_KEY } });
    await fiber.chat({ model: 'gemini-2.0-flash', messages: 'hi' });
    const line = callLines(log)[0]!;
    expect(line).toMatchObject({ provider: 'gemini', status: 'ok' });
    expect(line).not.toHaveProperty('requestId');
  });
});

describe('retries', () => {
  it('writes a warn line per retry with the reason, the wait and the attempt, then the info line', async () => {
    const { fiber, log } = logged();
    emu.script({ status: 429, retryAfterMs: '3' }).script({ status: 503 });
    const result = await fiber.chat({ messages: 'hi' });
    expect(result.attempts).toBe(3);
    const warns = retryLines(log);
    expect(warns).toHaveLength(2);
    const key = emu.requests[0]!.headers['idempotency-key'];
    expect(warns[0]).toMatchObject({
      callId: expect.stringMatching(/^call_/), provider: 'openai', model: 'gpt-4o-mini', idempotencyKey: key,
      attempt: 1, delayMs: 3, reason: '429 rate_limit_exceeded', error: 'RateLimitError', httpStatus: 429, serverRequested: true,
    });
    expect(warns[1]).toMatchObject({ attempt: 2, reason: expect.stringMatching(/^503/), error: 'OverloadedError', serverRequested: false });
    expect(warns[1]!.delayMs).toEqual(expect.any(Number));
    expect(callLines(log)).toEqual([expect.objectContaining({ status: 'ok', attempts: 3, requestId: 'req_emu_3', idempotencyKey: key })]);
    // One call line, two retry lines: the records before the end come first.
    expect(log.records().map((r) => r.level)).toEqual([LEVEL.warn, LEVEL.warn, LEVEL.info]);
  });

  it('mirrors the retry in the stream: the warn `log` event carries the same fields as the log line', async () => {
    const { fiber, log } = logged();
    emu.script({ status: 503 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    const logEvents = logsOf(events);
    expect(logEvents).toHaveLength(1);
    const ev = logEvents[0]!;
    expect(ev).toMatchObject({ level: 'warn', data: { attempt: 1, reason: expect.stringMatching(/^503/), delayMs: expect.any(Number) } });
    const line = retryLines(log)[0]!;
    expect(line.msg).toBe(ev.message);
    expect(line.level).toBe(LEVEL.warn);
    // Every field of the event's data is on the line, with the same value (JSON drops undefined fields).
    expect(line).toMatchObject(JSON.parse(JSON.stringify(ev.data)) as object);
    expect(callLines(log)).toEqual([expect.objectContaining({ kind: 'stream', status: 'ok', attempts: 2 })]);
  });
});

describe('failures', () => {
  it('names a call refused before any attempt (bad input) as provider and model unknown, with 0 attempts', async () => {
    // new Fiber({ logger }) puts logging() first in the preset stack, ahead of the validation in normalize().
    const log = capturePino('info');
    const fiber = fiberWith([], { logger: log.logger });
    const err = await rejectionOf(fiber.chat({ messages: [] }));
    expect(err.name).toBe('ConfigError');
    const lines = callLines(log);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'ConfigError', attempts: 0 });
    expect(['unknown', 'openai']).toContain(lines[0]!.provider);
    expect(lines[0]!.model).not.toBe('');
    expect(emu.requests).toHaveLength(0);
  });

  it('writes one error line with the error class, code, HTTP status, request id and message', async () => {
    const { fiber, log } = logged();
    emu.script({ status: 404, errorCode: 'model_not_found', errorMessage: 'The model does not exist' });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err.name).toBe('NotFoundError');
    const lines = callLines(log);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      level: LEVEL.error, time: expect.any(Number), pid: process.pid, hostname: expect.any(String),
      callId: expect.stringMatching(/^call_/), kind: 'chat', provider: 'openai', model: 'gpt-4o-mini',
      status: 'NotFoundError', code: 'model_not_found', httpStatus: 404, requestId: 'req_emu_1', retryable: false,
      latencyMs: expect.any(Number), ttfbMs: expect.any(Number), attempts: 1,
      idempotencyKey: emu.requests[0]!.headers['idempotency-key'], errorMessage: err.message, msg: CALL_MESSAGE,
    });
    expect(err.message).toContain('The model does not exist');
  });

  it('logs a persistent 503 as two retries and one error line with the attempts', async () => {
    const { fiber, log } = logged();
    emu.script({ status: 503, times: Infinity });
    await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(retryLines(log)).toHaveLength(2);
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.error, status: 'OverloadedError', httpStatus: 503, attempts: 3, requestId: 'req_emu_3' })]);
  });

  it('logs a stream that fails after its first event once, at error, from onError', async () => {
    const { fiber, log } = logged();
    emu.script({ chunks: ['a ', 'b ', 'c '], inStreamError: { after: 2, status: 500, code: 'server_error' } });
    const { error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'ServerError' });
    await settle();
    expect(callLines(log)).toEqual([expect.objectContaining({ kind: 'stream', level: LEVEL.error, status: 'ServerError', code: 'server_error', attempts: 1 })]);
    expect(callLines(log)[0]!.ttfbMs).toEqual(expect.any(Number));
  });

  it('logs a stream that fails before its first event from the rejection of next()', async () => {
    const { fiber, log } = logged();
    emu.script({ status: 401, errorCode: 'invalid_api_key', errorMessage: `Incorrect API key provided: ${CANARY_KEY}` });
    const { error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toMatchObject({ name: 'AuthError' });
    await settle();
    expect(callLines(log)).toEqual([expect.objectContaining({ kind: 'stream', level: LEVEL.error, status: 'AuthError', code: 'invalid_api_key', httpStatus: 401 })]);
    // The key the provider echoed never reaches a line.
    expect(log.text()).not.toContain(CANARY_KEY);
  });

  it('logs a stream the consumer left early at info with status "closed"', async () => {
    const { fiber, log } = logged();
    emu.script({ chunks: ['one ', 'two ', 'three '], chunkDelayMs: 5 });
    for await (const ev of fiber.chatStream({ messages: 'hi' })) {
      if (ev.type === 'chunk') break;
    }
    await settle();
    const lines = callLines(log);
    expect(lines).toEqual([expect.objectContaining({ level: LEVEL.info, kind: 'stream', status: 'closed', attempts: 1 })]);
    expect(lines[0]).not.toHaveProperty('errorMessage');
  });

  it('logs a stream aborted by the caller at error with AbortError', async () => {
    const { fiber, log } = logged();
    emu.script({ chunks: ['one ', 'two ', 'three '], chunkDelayMs: 20 });
    const stream = fiber.chatStream({ messages: 'hi' });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    stream.abort();
    await expect(it.next()).rejects.toMatchObject({ name: 'AbortError' });
    await settle();
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.error, status: 'AbortError', code: 'aborted' })]);
  });
});

describe('bodies', () => {
  it('writes no bodies line without `bodies: true`, even when the logger is at debug', async () => {
    const { fiber, log } = logged();
    await fiber.chat({ messages: 'hi' });
    expect(bodyLines(log)).toEqual([]);
  });

  it('with `bodies: true`, writes one debug line with the normalized request and the response, never headers', async () => {
    const { fiber, log } = logged({ bodies: true });
    emu.script({ text: 'Hi back' });
    await fiber.chat({ messages: [['system', 'Be brief.'], ['user', 'hi']], temperature: 0.2, headers: { 'x-secret-header': 'hdr-value-123' } });
    const bodies = bodyLines(log);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({
      level: LEVEL.debug, callId: expect.stringMatching(/^call_/), provider: 'openai', model: 'gpt-4o-mini',
      request: { model: 'gpt-4o-mini', temperature: 0.2, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] },
      response: { text: 'Hi back', finishReason: 'stop' },
    });
    expect(log.text()).not.toContain('hdr-value-123');
    expect(log.text()).not.toContain('x-secret-header');
    expect(log.text()).not.toContain(CANARY_KEY);
  });

  it('redacts bodies with the default patterns when no redaction() is installed, then with `redact`', async () => {
    const { fiber, log } = logged({ bodies: true, redact: (s) => s.replace(/ACME-\d+/g, '[acme]') });
    emu.script({ text: `Sure, I mailed ${CANARY_EMAIL} about ACME-42 using ${CANARY_KEY}.` });
    await fiber.chat({ messages: `Mail ${CANARY_EMAIL} about ACME-42, key ${CANARY_KEY}, card 4111 1111 1111 1111` });
    const body = bodyLines(log)[0]!;
    expect(body.request).toMatchObject({ messages: [{ role: 'user', content: 'Mail [redacted] about [acme], key [redacted], card [redacted]' }] });
    expect(body.response).toMatchObject({ text: 'Sure, I mailed [redacted] about [acme] using [redacted].' });
    expect(log.text()).not.toContain(CANARY_EMAIL);
    expect(log.text()).not.toContain(CANARY_KEY);
  });

  it('writes the request body on failure, and the response body of a stream at done', async () => {
    const { fiber, log } = logged({ bodies: true });
    emu.script({ status: 400, errorCode: 'invalid_request_error' });
    await rejectionOf(fiber.chat({ messages: 'bad' }));
    expect(bodyLines(log)).toEqual([expect.objectContaining({ request: expect.objectContaining({ messages: [{ role: 'user', content: 'bad' }] }) })]);
    expect(bodyLines(log)[0]).not.toHaveProperty('response');
    log.clear();
    emu.script({ chunks: ['strea', 'med ', 'text'] });
    await collect(fiber.chatStream({ messages: 'go' }));
    expect(bodyLines(log)).toEqual([expect.objectContaining({ response: { text: 'streamed text', finishReason: 'stop' } })]);
  });

  it('does not build the bodies line when the logger is above debug', async () => {
    const log = capturePino('info');
    const fiber = fiberWith([logging({ logger: log.logger, bodies: true })]);
    const spy = vi.spyOn(log.logger, 'debug');
    await fiber.chat({ messages: 'hi' });
    expect(spy).not.toHaveBeenCalled();
    expect(callLines(log)).toHaveLength(1);
  });
});

describe('redaction of log lines', () => {
  const noisy = defineMiddleware({
    name: 'noisy',
    handle: (ctx, next) => {
      ctx.log('info', `looking up ${CANARY_EMAIL}`, { user: CANARY_EMAIL, nested: { phone: '+1 (415) 555-2671' } });
      return next();
    },
  });

  it('applies the call\'s redaction() to records, metadata and error messages, whichever is used first', async () => {
    for (const order of ['logging-first', 'redaction-first'] as const) {
      const log = capturePino();
      const lg = logging({ logger: log.logger, bodies: true });
      const rd = redaction({ patterns: ['email', 'phone', /TICKET-\d{4}/] });
      const fiber = fiberWith(order === 'logging-first' ? [lg, rd, noisy] : [rd, lg, noisy]);
      emu.script({ status: 400, errorCode: 'invalid_request_error', errorMessage: `Unknown user ${CANARY_EMAIL} on TICKET-1234` });
      await rejectionOf(fiber.chat({ messages: 'hi', metadata: { user: CANARY_EMAIL, ticket: 'TICKET-9876' } }));
      const records = log.records();
      const info = records.find((r) => r.msg === 'looking up [redacted]');
      expect(info, order).toMatchObject({ level: LEVEL.info, user: '[redacted]', nested: { phone: '[redacted]' } });
      expect(callLines(log)[0], order).toMatchObject({
        status: 'BadRequestError', errorMessage: expect.stringContaining('Unknown user [redacted] on [redacted]'),
        metadata: { user: '[redacted]', ticket: '[redacted]' },
      });
      expect(log.text(), order).not.toContain(CANARY_EMAIL);
      expect(log.text(), order).not.toContain('TICKET-');
    }
  });
});

describe('levels and options', () => {
  it('writes nothing below `level`', async () => {
    const log = capturePino('debug');
    const fiber = fiberWith([logging({ logger: log.logger, level: 'warn' })]);
    emu.script({ status: 503 });
    await fiber.chat({ messages: 'hi' });
    expect(log.records().map((r) => r.level)).toEqual([LEVEL.warn]);
  });

  it('keeps the call going when the logger throws, and reports it once as a process warning', async () => {
    const boom = () => { throw new Error('disk full'); };
    const logger: LoggerLike = { debug: boom, info: boom, warn: boom, error: boom };
    const fiber = fiberWith([logging({ logger })]);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      emu.script({ status: 503 });
      await expect(fiber.chat({ messages: 'hi' })).resolves.toMatchObject({ attempts: 2 });
      await fiber.chat({ messages: 'again' });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toContain('disk full');
    } finally {
      warn.mockRestore();
    }
  });

  it('validates its options at construction', () => {
    const { logger } = capturePino();
    expect(() => logging(undefined as unknown as LoggingOptions)).toThrow(ConfigError);
    expect(() => logging({} as LoggingOptions)).toThrow(/logger/);
    expect(() => logging({ logger: { info() {} } as unknown as LoggerLike })).toThrow(ConfigError);
    expect(() => logging({ logger, level: 'trace' as 'debug' })).toThrow(/level/);
    expect(() => logging({ logger, bodies: true, level: 'info' })).toThrow(/debug/);
    expect(() => logging({ logger, redact: 'no' as unknown as (s: string) => string })).toThrow(ConfigError);
    expect(() => logging({ logger, colour: true } as LoggingOptions)).toThrow(/unknown option "colour"/);
  });
});

describe('cost when off', () => {
  const stackOf = (f: Fiber) => (f as unknown as { stack: { hooks: unknown[]; errorHooks: unknown[]; request: Middleware[] } }).stack;

  it('compiles no stream hooks without logging (preset none), and one with it', () => {
    const off = fiberWith([], { preset: 'none' });
    expect(stackOf(off).hooks).toEqual([]);
    expect(stackOf(off).errorHooks).toEqual([]);
    const { logger } = capturePino();
    const on = fiberWith([logging({ logger })], { preset: 'none' });
    expect(stackOf(on).hooks).toHaveLength(1);
    // redaction() without redactOutput adds no hook either: it only leaves a redactor on ctx.state.
    expect(redaction().onEvent).toBeUndefined();
    expect(stackOf(fiberWith([redaction()], { preset: 'none' })).hooks).toEqual([]);
  });

  it('leaves no state and no log listener on a call without logging', async () => {
    const states: Array<Record<string, unknown>> = [];
    const probe = defineMiddleware({
      name: 'probe',
      onEvent(event, ctx) {
        if (event.type === 'done') states.push({ ...ctx.state, listeners: (ctx as unknown as { logListeners: unknown }).logListeners });
        return undefined;
      },
    });
    const fiber = fiberWith([probe], { preset: 'none' });
    const { events } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(textOf(events)).toBe('You said: hi');
    expect(states).toEqual([{ listeners: null }]);
  });
});

describe('canary', () => {
  it('keeps the Fiber\'s key out of the model field, whatever the key looks like', async () => {
    const key = 'plainsecretvalue12345';
    const log = capturePino('debug');
    const keyed = fiberWith([logging({ logger: log.logger, bodies: true })], { apiKeys: { openai: key } });
    emu.script({ text: 'fine' });
    await keyed.chat({ model: `gpt-4o-mini-${key}`, messages: 'hi' });
    emu.script({ status: 400 });
    await rejectionOf(keyed.chat({ model: `gpt-4o-mini-${key}`, messages: 'hi' }));
    expect(log.lines.length).toBeGreaterThanOrEqual(4);
    expect(log.text()).not.toContain(key);
    expect(log.records().filter((r) => r.msg === CALL_MESSAGE).map((r) => r.model)).toEqual(['gpt-4o-mini-[redacted]', 'gpt-4o-mini-[redacted]']);
  });

  it('never writes the canary key or e-mail, whatever the call did', async () => {
    const { fiber, log } = logged({ bodies: true });
    emu.script({ status: 429, errorMessage: `Rate limited for ${CANARY_EMAIL} with key ${CANARY_KEY}` });
    emu.script({ chunks: ['Your key is sk-test-can', 'ary-key-123456 and you are canary.per', 'son@example.com'] });
    const { events } = await collect(fiber.chatStream({ messages: `I am ${CANARY_EMAIL}, my key is ${CANARY_KEY}`, metadata: { who: CANARY_EMAIL } }));
    expect(events.at(-1)!.type).toBe('done');
    emu.script({ status: 400, errorMessage: `bad input from ${CANARY_EMAIL}` });
    await rejectionOf(fiber.chat({ messages: CANARY_EMAIL }));
    expect(log.lines.length).toBeGreaterThanOrEqual(5);
    expect(log.text()).not.toContain(CANARY_KEY);
    expect(log.text()).not.toContain(CANARY_EMAIL);
    expect(log.text()).not.toContain('canary.person');
  });
});
