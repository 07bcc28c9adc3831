/**
 * The dev preset (`new Fiber({ preset: 'dev', logger })` and `presets.dev()`): the prod stack with
 * `logging({ logger, level: 'debug', bodies: true })` outermost. Real pino instances writing to a captured
 * stream, real HTTP against the embedded emulator. See src/presets.ts, docs/features/middleware.md#presets and
 * docs/features/observability.md "Bodies (dev)".
 */
import { describe, expect, it } from 'vitest';
import { BODIES_MESSAGE, CALL_MESSAGE } from '../../middleware/logging.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import { presets } from '../../src/presets.js';
import type { CounterPoint, HistogramPoint } from '../../src/types.js';
import { collect, FAST_RETRY, rejectionOf, TEST_KEY, textOf } from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';
import { capturePino, LEVEL, type CapturedPino, type PinoRecord } from '../helpers/pino.js';

const emu = useEmulator();

/** A key with no known API-key shape: only the Fiber's own secret list can scrub it. */
const PLAIN_KEY = 'plainsecretvalue12345';
const CANARY_EMAIL = 'dev.canary.person@example.com';
const OPENAI = { provider: 'openai', model: 'gpt-4o-mini' };

/** A dev-preset Fiber on the emulator with fast retries, logging to `log`. */
function devFiber(log: CapturedPino | null, options: FiberOptions = {}): Fiber {
  return closeAfterAll(new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: TEST_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: FAST_RETRY,
    preset: 'dev',
    ...(log !== null ? { logger: log.logger } : {}),
    ...options,
  }));
}

const callLines = (log: CapturedPino): PinoRecord[] => log.records().filter((r) => r.msg === CALL_MESSAGE);
const bodyLines = (log: CapturedPino): PinoRecord[] => log.records().filter((r) => r.msg === BODIES_MESSAGE);
const retryLines = (log: CapturedPino): PinoRecord[] =>
  log.records().filter((r) => r.level === LEVEL.warn && String(r.msg).startsWith('retrying in'));

/** No raw line (the JSON text pino wrote) holds any of `secrets`. */
function expectNoLineContains(log: CapturedPino, secrets: string[]): void {
  expect(log.lines.length).toBeGreaterThan(0);
  for (const line of log.lines) {
    for (const s of secrets) expect(line, `a log line leaked ${s}`).not.toContain(s);
  }
}

describe("preset: 'dev' with a logger", () => {
  it('writes the info call line and one debug bodies line with the request messages and the response text (chat)', async () => {
    const log = capturePino('debug');
    const fiber = devFiber(log);
    emu.script({ text: 'Hello from the emulator', usage: { prompt: 4, completion: 4 } });
    const result = await fiber.chat({ messages: [['system', 'Be brief.'], ['user', 'say hello']], temperature: 0.3, maxTokens: 20 });
    expect(result.text).toBe('Hello from the emulator');

    const calls = callLines(log);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      level: LEVEL.info, kind: 'chat', ...OPENAI, status: 'ok', attempts: 1,
      tokens: { prompt: 4, completion: 4, total: 8 }, finishReason: 'stop', cached: false, requestId: 'req_emu_1',
    });
    const bodies = bodyLines(log);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toMatchObject({
      level: LEVEL.debug, callId: calls[0]!.callId, ...OPENAI,
      idempotencyKey: emu.requests[0]!.headers['idempotency-key'],
      request: {
        model: 'gpt-4o-mini', temperature: 0.3, maxTokens: 20,
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'say hello' }],
      },
      response: { text: 'Hello from the emulator', finishReason: 'stop' },
    });
    // Exactly these two lines: nothing per request, no headers anywhere.
    expect(log.records()).toHaveLength(2);
    expect(log.text().toLowerCase()).not.toContain('authorization');
  });

  it('writes the info call line and the bodies line at done for a stream, with the streamed text', async () => {
    const log = capturePino('debug');
    const fiber = devFiber(log);
    emu.script({ chunks: ['strea', 'med ', 'reply'] });
    const { events, error } = await collect(fiber.chatStream({ messages: 'stream please' }));
    expect(error).toBeNull();
    expect(textOf(events)).toBe('streamed reply');
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.info, kind: 'stream', status: 'ok', ...OPENAI })]);
    expect(bodyLines(log)).toEqual([expect.objectContaining({
      level: LEVEL.debug,
      request: expect.objectContaining({ messages: [{ role: 'user', content: 'stream please' }] }),
      response: { text: 'streamed reply', finishReason: 'stop' },
    })]);
  });

  describe.each([
    ['an unshaped key', PLAIN_KEY],
    ['an sk- key', TEST_KEY],
  ])('never writes the e-mail or the API key (%s) in any line', (_label, key) => {
    const prompt = `Mail ${CANARY_EMAIL} and use key ${key} please`;

    it('chat: the prompt and the echoed reply hold both; the lines hold neither', async () => {
      const log = capturePino('debug');
      const fiber = devFiber(log, { apiKeys: { openai: key } });
      // The default echo reply repeats the prompt: the response text carries the canaries too.
      const result = await fiber.chat({ messages: prompt, metadata: { note: `contact ${CANARY_EMAIL}` } });
      expect(result.text).toBe(`You said: ${prompt}`);
      expect(emu.requests[0]!.headers.authorization).toBe(`Bearer ${key}`);

      expect(callLines(log)).toHaveLength(1);
      const body = bodyLines(log)[0]!;
      const content = (body.request as { messages: Array<{ content: string }> }).messages[0]!.content;
      expect(content).toMatch(/^Mail \S+ and use key \S+ please$/);
      expect(content).toContain('[redacted]');
      expect((body.response as { text: string }).text).toMatch(/^You said: Mail \S+ and use key \S+ please$/);
      expectNoLineContains(log, [key, CANARY_EMAIL]);
    });

    it('stream: the same, with the bodies line written at done', async () => {
      const log = capturePino('debug');
      const fiber = devFiber(log, { apiKeys: { openai: key } });
      const { events, error } = await collect(fiber.chatStream({ messages: prompt }));
      expect(error).toBeNull();
      expect(textOf(events)).toBe(`You said: ${prompt}`);
      expect(callLines(log)).toEqual([expect.objectContaining({ kind: 'stream', status: 'ok' })]);
      const body = bodyLines(log)[0]!;
      expect((body.response as { text: string }).text).toContain('[redacted]');
      expectNoLineContains(log, [key, CANARY_EMAIL]);
    });

    it('a 400 that echoes the key and the e-mail: an error line and a bodies line without a response', async () => {
      const log = capturePino('debug');
      const fiber = devFiber(log, { apiKeys: { openai: key } });
      emu.script({ status: 400, errorCode: 'invalid_request_error', errorMessage: `Bad input from ${CANARY_EMAIL} with key ${key}` });
      const err = await rejectionOf(fiber.chat({ messages: prompt }));
      expect(err.name).toBe('BadRequestError');
      expect(emu.requests).toHaveLength(1);

      const calls = callLines(log);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        level: LEVEL.error, kind: 'chat', ...OPENAI, status: 'BadRequestError', httpStatus: 400,
        code: 'invalid_request_error', retryable: false, attempts: 1, errorMessage: expect.stringContaining('Bad input from'),
      });
      const bodies = bodyLines(log);
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toMatchObject({ level: LEVEL.debug, callId: calls[0]!.callId, request: { model: 'gpt-4o-mini' } });
      expect(bodies[0]).not.toHaveProperty('response');
      expectNoLineContains(log, [key, CANARY_EMAIL]);
    });

    it('a stream failing with a 400 before its first event: an error line and a bodies line without a response', async () => {
      const log = capturePino('debug');
      const fiber = devFiber(log, { apiKeys: { openai: key } });
      emu.script({ status: 400, errorCode: 'invalid_request_error', errorMessage: `Rejected ${CANARY_EMAIL} ${key}` });
      const { events, error } = await collect(fiber.chatStream({ messages: prompt }));
      expect(error).toMatchObject({ name: 'BadRequestError', status: 400 });
      expect(events.filter((e) => e.type !== 'log')).toEqual([]);
      expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.error, kind: 'stream', status: 'BadRequestError' })]);
      const bodies = bodyLines(log);
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).not.toHaveProperty('response');
      expectNoLineContains(log, [key, CANARY_EMAIL]);
    });
  });

  it('skips the bodies line when the pino logger is above debug, but still writes the call line', async () => {
    const log = capturePino('info');
    const fiber = devFiber(log);
    await fiber.chat({ messages: 'hi' });
    expect(callLines(log)).toHaveLength(1);
    expect(bodyLines(log)).toEqual([]);
    expect(log.records()).toHaveLength(1);
  });

  it('differs from prod only in the bodies line: prod writes the same call line and no bodies', async () => {
    const devLog = capturePino('debug');
    const prodLog = capturePino('debug');
    const dev = devFiber(devLog);
    const prod = devFiber(prodLog, { preset: 'prod' });
    await dev.chat({ messages: 'same' });
    await prod.chat({ messages: 'same' });
    expect(bodyLines(prodLog)).toEqual([]);
    expect(bodyLines(devLog)).toHaveLength(1);
    const strip = (r: PinoRecord) => {
      const { time: _t, callId: _c, idempotencyKey: _i, latencyMs: _l, ttfbMs: _f, requestId: _r, ...rest } = r;
      return rest;
    };
    expect(callLines(devLog).map(strip)).toEqual(callLines(prodLog).map(strip));
  });
});

describe('the dev preset keeps the prod stack', () => {
  it('records metrics in fiber.metrics', async () => {
    const log = capturePino('debug');
    const fiber = devFiber(log);
    emu.script({ text: 'ok', usage: { prompt: 2, completion: 1 } });
    await fiber.chat({ messages: 'hi' });
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.tokens_total).toEqual([{ tags: OPENAI, value: 3 }]);
    expect((snap.latency_ms as HistogramPoint[])[0]).toMatchObject({ tags: OPENAI, count: 1 });
  });

  it('retries twice by default (retryable failures), with a warn line per retry, and counts them', async () => {
    const log = capturePino('debug');
    const fiber = devFiber(log);
    emu.script({ status: 503, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'OverloadedError', attempts: 3 });
    expect(emu.requests).toHaveLength(3);
    expect(retryLines(log)).toHaveLength(2);
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.error, status: 'OverloadedError', attempts: 3 })]);
    expect(bodyLines(log)).toHaveLength(1);
    const snap = fiber.metrics.snapshot();
    expect(snap.retry_count as CounterPoint[]).toEqual([{ tags: OPENAI, value: 2 }]);
    expect(snap.error_count as CounterPoint[]).toEqual([{ tags: { ...OPENAI, error: 'OverloadedError' }, value: 1 }]);
  });

  it('takes the Fiber\'s `retry` option (retry: false → one attempt)', async () => {
    const fiber = devFiber(capturePino('debug'), { retry: false });
    emu.script({ status: 503, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'OverloadedError', attempts: 1 });
    expect(emu.requests).toHaveLength(1);
  });

  it('applies the Fiber\'s timeouts (total deadline)', async () => {
    const log = capturePino('debug');
    const fiber = devFiber(log, { timeouts: { totalMs: 150 } });
    emu.script({ delayMs: 5_000 });
    const started = performance.now();
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'total' });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.error, status: 'TimeoutError' })]);
  });

  it('tries a per-call fallback model (the preset includes fallback())', async () => {
    const fiber = devFiber(capturePino('debug'), { retry: false });
    emu.script({ match: (r) => (r.body as { model?: string }).model === 'gpt-4o-mini', status: 503, times: Infinity });
    const result = await fiber.chat({ messages: 'hi', fallback: ['gpt-4o'] });
    expect(result.model).toBe('gpt-4o');
    expect(emu.requests.map((r) => (r.body as { model: string }).model)).toEqual(['gpt-4o-mini', 'gpt-4o']);
  });

  it('writes nothing without a logger, and still records metrics', async () => {
    const fiber = devFiber(null);
    await fiber.chat({ messages: 'hi' });
    expect(fiber.metrics.snapshot().request_count).toEqual([{ tags: OPENAI, value: 1 }]);
  });
});

describe('presets.dev() as a middleware list', () => {
  it('is the prod list with one logging middleware in front (and the same list without a logger)', () => {
    const log = capturePino('debug');
    expect(presets.dev()).toHaveLength(presets.prod().length);
    expect(presets.dev({ logger: log.logger })).toHaveLength(presets.prod().length + 1);
    expect(presets.dev({ logger: log.logger })).toHaveLength(presets.prod({ logger: log.logger }).length);
    for (const mw of presets.dev({ logger: log.logger })) expect(typeof mw).toBe('function');
  });

  it("works with preset: 'none': bodies line, metrics, its own retry and timeouts", async () => {
    const log = capturePino('debug');
    const fiber = closeAfterAll(new Fiber({
      baseUrls: { openai: emu.baseUrls.openai },
      apiKeys: { openai: PLAIN_KEY },
      defaultModel: 'gpt-4o-mini',
      preset: 'none',
      middleware: presets.dev({ logger: log.logger, retry: { ...FAST_RETRY, retries: 1 }, timeouts: { totalMs: 5_000 } }),
    }));
    emu.script({ status: 500 });
    emu.script({ text: `echo ${PLAIN_KEY} to ${CANARY_EMAIL}` });
    const result = await fiber.chat({ messages: 'hi' });
    expect(result.attempts).toBe(2);
    expect(emu.requests).toHaveLength(2);
    expect(retryLines(log)).toHaveLength(1);
    expect(callLines(log)).toEqual([expect.objectContaining({ level: LEVEL.info, status: 'ok', attempts: 2 })]);
    expect(bodyLines(log)).toEqual([expect.objectContaining({ response: { text: 'echo [redacted] to [redacted]', finishReason: 'stop' } })]);
    expectNoLineContains(log, [PLAIN_KEY, CANARY_EMAIL]);
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: OPENAI, value: 1 }]);
    expect(snap.retry_count).toEqual([{ tags: OPENAI, value: 1 }]);

    // Its retry policy is the list's: one retry, not the default two.
    log.clear();
    emu.script({ status: 500, times: Infinity });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'ServerError', attempts: 2 });
  });

  it("its timeouts option applies the list's deadline", async () => {
    const fiber = closeAfterAll(new Fiber({
      baseUrls: { openai: emu.baseUrls.openai },
      apiKeys: { openai: TEST_KEY },
      defaultModel: 'gpt-4o-mini',
      preset: 'none',
      middleware: presets.dev({ retry: false, timeouts: { totalMs: 150 } }),
    }));
    emu.script({ delayMs: 5_000 });
    const err = await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'total' });
    expect(emu.requests).toHaveLength(1);
  });
});
