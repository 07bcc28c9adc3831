import { describe, expect, it } from 'vitest';
import { concurrency, type ConcurrencyMiddleware } from '../../middleware/concurrency.js';
import { anthropic } from '../../providers/anthropic/index.js';
import { defineMiddleware } from '../../src/compose.js';
import { AbortError, ConfigError, RateLimitError, ServerError, StreamError, TimeoutError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import type { RecordedRequest } from '../../src/testing/index.js';
import type { ChatMessage, Middleware } from '../../src/types.js';
import {
  collect, emuFiber, FAST_RETRY, iter, recordingLogger, rejectionOf, TEST_KEY,
} from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';

const emu = useEmulator();

/** A Fiber on the emulator (OpenAI and Anthropic routes) with `mw` used after the prod preset. */
function fiberWith(mw: Middleware[], options: FiberOptions = {}): Fiber {
  const f = emuFiber(emu, {
    baseUrls: { openai: emu.baseUrls.openai, anthropic: emu.baseUrls.anthropic },
    apiKeys: { openai: TEST_KEY, anthropic: TEST_KEY },
    providers: [anthropic()],
    ...options,
  });
  f.use(...mw);
  closeAfterAll(f);
  return f;
}

/**
 * Requests in flight as the server sees them: +1 when a request reaches the emulator (a rule's `match`), -1 when
 * the client has the whole response (an attempt-scope probe inside the limiter: `next()` for chat, `done` or the
 * failure for streams). `max` is the highest count seen at an arrival.
 */
function inFlightProbe() {
  const probe = { now: 0, max: 0 };
  const arrived = (_req: RecordedRequest) => {
    probe.now++;
    probe.max = Math.max(probe.max, probe.now);
    return true;
  };
  const mw = defineMiddleware({
    name: 'inFlightProbe',
    scope: 'attempt',
    async handle(ctx, next) {
      if (ctx.kind === 'chat') {
        try { await next(); } finally { probe.now--; }
        return;
      }
      try { await next(); } catch (e) { probe.now--; throw e; }
    },
    onEvent(event) { if (event.type === 'done') probe.now--; return undefined; },
    onError() { probe.now--; },
  });
  return { probe, arrived, mw };
}

/** The user text of a recorded OpenAI request. */
const userText = (r: RecordedRequest) => ((r.body as { messages: ChatMessage[] }).messages.at(-1)!.content as string);
const isText = (text: string) => (r: RecordedRequest) => r.provider === 'openai' && userText(r) === text;

/** Poll until `cond` holds: a guard against hanging, not a timing assertion. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const queued = (c: ConcurrencyMiddleware, key = 'openai') => c.stats()[key]?.queued ?? 0;
const active = (c: ConcurrencyMiddleware, key = 'openai') => c.stats()[key]?.active ?? 0;

describe('concurrency: chat calls', () => {
  it('never lets more than max requests be in flight at the server, and starts queued calls as others finish', async () => {
    const limit = concurrency({ max: 2 });
    const { probe, arrived, mw } = inFlightProbe();
    const logger = recordingLogger();
    const fiber = fiberWith([limit, mw], { logger });
    emu.script({ delayMs: 30, times: Infinity, match: arrived });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => fiber.chat({ messages: `call ${i}` })));
    expect(results.map((r) => r.text)).toEqual(Array.from({ length: 6 }, (_, i) => `You said: call ${i}`));
    expect(emu.requests).toHaveLength(6);
    expect(probe.max).toBe(2);
    expect(probe.now).toBe(0);
    // Four calls found both slots taken and each reported its wait.
    const waits = logger.calls.filter((c) => c.message?.startsWith('concurrency: waited'));
    expect(waits).toHaveLength(4);
    for (const w of waits) expect(w.fields).toMatchObject({ key: 'openai', max: 2, waitedMs: expect.any(Number) });
    expect(limit.stats()).toEqual({});
  });

  it('holds the slot across retries, so a queued call cannot overtake a retrying one', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit], { retry: FAST_RETRY });
    emu.script({ status: 503, match: isText('first') });
    emu.script({ delayMs: 10, match: isText('first') });
    const first = fiber.chat({ messages: 'first' });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const second = fiber.chat({ messages: 'second' });
    await until(() => queued(limit) === 1, 'the second call is queued');
    expect((await first).attempts).toBe(2);
    await second;
    expect(emu.requests.map(userText)).toEqual(['first', 'first', 'second']);
    expect(limit.stats()).toEqual({});
  });

  it('keeps one limiter per provider by default', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    const release = new AbortController();
    emu.script({ delayMs: 5_000, match: isText('stalled') });
    const stalled = fiber.chat({ messages: 'stalled', signal: release.signal });
    await until(() => active(limit, 'openai') === 1, 'the OpenAI slot is taken');
    // Anthropic has its own limiter: this call does not wait for the stalled OpenAI one.
    const other = await fiber.chat({ model: 'claude-3-5-haiku-latest', messages: 'other provider' });
    expect(other.provider).toBe('anthropic');
    expect(limit.stats()).toEqual({ openai: { active: 1, queued: 0 } });
    release.abort();
    expect(await rejectionOf(stalled)).toBeInstanceOf(AbortError);
    expect(limit.stats()).toEqual({});
  });

  it("keys limiters by provider and model with key: 'model', and shares one with perProvider: false", async () => {
    const byModel = concurrency({ max: 1, key: 'model' });
    const global = concurrency({ max: 1, perProvider: false });
    const fiberA = fiberWith([byModel]);
    const fiberB = fiberWith([global]);
    const release = new AbortController();
    emu.script({ delayMs: 5_000, times: 2, match: isText('stalled') });
    const stalledA = fiberA.chat({ model: 'gpt-4o-mini', messages: 'stalled', signal: release.signal });
    const stalledB = fiberB.chat({ model: 'gpt-4o-mini', messages: 'stalled', signal: release.signal });
    await until(() => byModel.stats()['openai:gpt-4o-mini']?.active === 1 && global.stats()['*']?.active === 1, 'both slots are taken');
    // Another model has its own slot under key: 'model'...
    await fiberA.chat({ model: 'gpt-4o', messages: 'other model' });
    // ...while one global limiter queues every call, whatever its provider.
    const queuedB = fiberB.chat({ model: 'claude-3-5-haiku-latest', messages: 'queued' });
    await until(() => global.stats()['*']?.queued === 1, 'the Anthropic call queues behind the OpenAI one');
    release.abort();
    await rejectionOf(stalledA);
    await rejectionOf(stalledB);
    expect((await queuedB).provider).toBe('anthropic');
    expect(byModel.stats()).toEqual({});
    expect(global.stats()).toEqual({});
  });

  it('lets a queued call aborted by its signal leave without taking a slot', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    const releaseFirst = new AbortController();
    emu.script({ delayMs: 5_000, match: isText('first') });
    const first = fiber.chat({ messages: 'first', signal: releaseFirst.signal });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const callerGivesUp = new AbortController();
    const second = fiber.chat({ messages: 'second', signal: callerGivesUp.signal });
    await until(() => queued(limit) === 1, 'the second call is queued');
    callerGivesUp.abort();
    const err = await rejectionOf(second);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.code).toBe('aborted');
    expect(limit.stats()).toEqual({ openai: { active: 1, queued: 0 } });
    releaseFirst.abort();
    await rejectionOf(first);
    // The aborted call never reached the server, and the slot it did not take is free.
    expect(emu.requests.map(userText)).toEqual(['first']);
    expect(limit.stats()).toEqual({});
    await fiber.chat({ messages: 'third' });
    expect(limit.stats()).toEqual({});
  });

  it("fails a call whose total deadline passes while queued with TimeoutError 'total'", async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    const releaseFirst = new AbortController();
    emu.script({ delayMs: 5_000, match: isText('first') });
    const first = fiber.chat({ messages: 'first', signal: releaseFirst.signal });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const err = await rejectionOf(fiber.chat({ messages: 'second', timeout: 30 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('total');
    expect(limit.stats()).toEqual({ openai: { active: 1, queued: 0 } });
    releaseFirst.abort();
    await rejectionOf(first);
    expect(emu.requests).toHaveLength(1);
    expect(limit.stats()).toEqual({});
  });

  it("rejects a call beyond maxQueue at once with RateLimitError 'local_queue_full', not retryable", async () => {
    const limit = concurrency({ max: 1, maxQueue: 1 });
    const fiber = fiberWith([limit]);
    emu.script({ delayMs: 40, match: isText('first') });
    const first = fiber.chat({ messages: 'first' });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const second = fiber.chat({ messages: 'second' });
    await until(() => queued(limit) === 1, 'the second call is queued');
    const err = await rejectionOf(fiber.chat({ messages: 'third' }));
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ code: 'local_queue_full', retryable: false, provider: 'openai', model: 'gpt-4o-mini' });
    await Promise.all([first, second]);
    expect(emu.requests.map(userText)).toEqual(['first', 'second']);
    expect(limit.stats()).toEqual({});
  });

  it("gives up on a slot after queueTimeoutMs with RateLimitError 'local_queue_timeout'", async () => {
    const limit = concurrency({ max: 1, queueTimeoutMs: 10 });
    const fiber = fiberWith([limit]);
    const releaseFirst = new AbortController();
    emu.script({ delayMs: 5_000, match: isText('first') });
    const first = fiber.chat({ messages: 'first', signal: releaseFirst.signal });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const err = await rejectionOf(fiber.chat({ messages: 'second' }));
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ code: 'local_queue_timeout', retryable: false });
    expect(limit.stats()).toEqual({ openai: { active: 1, queued: 0 } });
    releaseFirst.abort();
    await rejectionOf(first);
    expect(limit.stats()).toEqual({});
  });

  it('leaks no slot after failed calls', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit], { retry: FAST_RETRY });
    emu.script({ status: 500, times: 3 });
    expect(await rejectionOf(fiber.chat({ messages: 'fails after retries' }))).toBeInstanceOf(ServerError);
    emu.script({ status: 400 });
    await rejectionOf(fiber.chat({ messages: 'bad request' }));
    emu.script({ resetBeforeResponse: true, times: 3 });
    await rejectionOf(fiber.chat({ messages: 'connection reset' }));
    expect(limit.stats()).toEqual({});
    // Both slots' worth of calls still run: nothing was left holding the one slot.
    const { probe, arrived, mw } = inFlightProbe();
    const fiber2 = fiberWith([limit, mw]);
    emu.script({ delayMs: 5, times: Infinity, match: arrived });
    await Promise.all([fiber2.chat({ messages: 'a' }), fiber2.chat({ messages: 'b' })]);
    expect(probe.max).toBe(1);
    expect(limit.stats()).toEqual({});
  });
});

describe('concurrency: streams', () => {
  it('holds the slot until the stream is done, not when its first event arrives', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    emu.script({ chunks: ['a', 'b', 'c'], match: isText('stream') });
    const stream = fiber.chatStream({ messages: 'stream' });
    const it1 = iter(stream);
    expect((await it1.next()).value).toMatchObject({ type: 'chunk', delta: 'a' });
    const chat = fiber.chat({ messages: 'after the stream' });
    await until(() => queued(limit) === 1, 'the chat call queues behind the open stream');
    expect(emu.requests).toHaveLength(1);
    const rest = await collect({ [Symbol.asyncIterator]: () => it1 });
    expect(rest.events.at(-1)!.type).toBe('done');
    await chat;
    expect(emu.requests.map(userText)).toEqual(['stream', 'after the stream']);
    expect(limit.stats()).toEqual({});
  });

  it('releases the slot when the consumer breaks out of the loop', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    emu.script({ chunks: ['a', 'b', 'c'], chunkDelayMs: 20, match: isText('stream') });
    const stream = fiber.chatStream({ messages: 'stream' });
    let queuedChat: Promise<unknown> | null = null;
    for await (const ev of stream) {
      expect(ev.type).toBe('chunk');
      queuedChat = fiber.chat({ messages: 'after the break' });
      await until(() => queued(limit) === 1, 'the chat call queues behind the open stream');
      break;
    }
    await queuedChat;
    expect(emu.requests.map(userText)).toEqual(['stream', 'after the break']);
    expect(limit.stats()).toEqual({});
  });

  it('releases the slot when the stream is aborted', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    emu.script({ chunks: ['a', 'b', 'c'], chunkDelayMs: 20, match: isText('stream') });
    const stream = fiber.chatStream({ messages: 'stream' });
    const it1 = iter(stream);
    await it1.next();
    const chat = fiber.chat({ messages: 'after the abort' });
    await until(() => queued(limit) === 1, 'the chat call queues behind the open stream');
    stream.abort();
    await expect(it1.next()).rejects.toBeInstanceOf(AbortError);
    await chat;
    expect(limit.stats()).toEqual({});
  });

  it('releases the slot when a committed stream fails', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    emu.script({ chunks: ['a', 'b', 'c', 'd'], dropAfterEvents: 2 });
    const { events, error } = await collect(fiber.chatStream({ messages: 'dropped' }));
    expect(events.length).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(StreamError);
    expect(limit.stats()).toEqual({});
  });

  it('lets a stream aborted while queued leave the queue without a slot', async () => {
    const limit = concurrency({ max: 1 });
    const fiber = fiberWith([limit]);
    const releaseFirst = new AbortController();
    emu.script({ delayMs: 5_000, match: isText('first') });
    const first = fiber.chat({ messages: 'first', signal: releaseFirst.signal });
    await until(() => active(limit) === 1 && emu.requests.length === 1, 'the first call holds the slot and reached the server');
    const stream = fiber.chatStream({ messages: 'queued stream' });
    const pending = iter(stream).next();
    await until(() => queued(limit) === 1, 'the stream is queued');
    stream.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(limit.stats()).toEqual({ openai: { active: 1, queued: 0 } });
    releaseFirst.abort();
    await rejectionOf(first);
    expect(emu.requests).toHaveLength(1);
    expect(limit.stats()).toEqual({});
  });

  it('keeps at most max streams open at the server', async () => {
    const limit = concurrency({ max: 2 });
    const { probe, arrived, mw } = inFlightProbe();
    const fiber = fiberWith([limit, mw]);
    emu.script({ chunks: ['x', 'y', 'z'], chunkDelayMs: 5, times: Infinity, match: arrived });
    const all = await Promise.all(Array.from({ length: 5 }, (_, i) => collect(fiber.chatStream({ messages: `s${i}` }))));
    for (const r of all) expect(r.error).toBeNull();
    expect(emu.requests).toHaveLength(5);
    expect(probe.max).toBe(2);
    expect(limit.stats()).toEqual({});
  });
});

describe('concurrency: options', () => {
  it('rejects bad options with ConfigError when the middleware is made', () => {
    expect(() => concurrency({ max: 0 })).toThrow(ConfigError);
    expect(() => concurrency({ max: 1.5 })).toThrow(ConfigError);
    expect(() => concurrency(undefined as never)).toThrow(ConfigError);
    expect(() => concurrency({ max: 1, maxQueue: -1 })).toThrow(ConfigError);
    expect(() => concurrency({ max: 1, queueTimeoutMs: Infinity })).toThrow(ConfigError);
    expect(() => concurrency({ max: 1, key: 'region' as never })).toThrow(ConfigError);
    expect(() => concurrency({ max: 1, perProvider: false, key: 'model' })).toThrow(ConfigError);
    expect(() => concurrency({ max: 1, limit: 2 } as never)).toThrow(/unknown option "limit"/);
  });

  it('is a request-scope middleware named concurrency', () => {
    const mw = concurrency({ max: 1 });
    expect(mw.scope).toBe('request');
    expect(mw.middlewareName).toBe('concurrency');
  });
});
