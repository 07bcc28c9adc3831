import { describe, expect, it } from 'vitest';
import {
  estimateRequestTokens, memoryRateLimitStore, parseDurationMs, rateLimit, serverLimitHit, takeFromBuckets,
  type BucketState, type RateLimitStore, type RateLimits, type TakeResult,
} from '../../middleware/rate-limit.js';
import { anthropic } from '../../providers/anthropic/index.js';
import { AbortError, ConfigError, RateLimitError } from '../../src/errors.js';
import type { Fiber, FiberOptions } from '../../src/fiber.js';
import type { LoggerLike, Middleware, NormalizedRequest } from '../../src/types.js';
import {
  collect, emuFiber, logsOf, recordingLogger, rejectionOf, TEST_KEY, type LogCall,
} from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';

const emu = useEmulator();

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

/** A store that records what the middleware asked of it and what it answered. */
function recordingStore(inner: RateLimitStore = memoryRateLimitStore()) {
  const takes: Array<{ key: string; requests: number; tokens: number; nowMs: number; result: TakeResult }> = [];
  const settles: Array<{ key: string; tokenDelta: number }> = [];
  const pauses: Array<{ key: string; untilMs: number; atMs: number }> = [];
  const store: RateLimitStore = {
    async take(key, costs, limits, nowMs) {
      const result = await inner.take(key, costs, limits, nowMs);
      takes.push({ key, ...costs, nowMs, result });
      return result;
    },
    async settle(key, tokenDelta) {
      settles.push({ key, tokenDelta });
      await inner.settle!(key, tokenDelta);
    },
    async pause(key, untilMs) {
      pauses.push({ key, untilMs, atMs: Date.now() });
      await inner.pause!(key, untilMs);
    },
  };
  return { store, takes, settles, pauses };
}

const waitLogs = (calls: readonly LogCall[]) => calls.filter((c) => c.message?.startsWith('rate limit: waiting'));

const REQUESTS_600: RateLimits = { requests: { perMinute: 600, capacity: 1 } };            // 1 per 100 ms
const TOKENS_6000: RateLimits = { tokens: { perMinute: 6_000, capacity: 100 } };            // 0.1 per ms
const fresh = (limits: RateLimits): BucketState => ({
  requests: limits.requests?.capacity ?? 0, tokens: limits.tokens?.capacity ?? 0, ts: 0, pausedUntil: 0,
});

describe('token buckets (the algorithm both stores run)', () => {
  it('grants a full bucket, then computes the wait for the next request from the refill rate', () => {
    const s = fresh(REQUESTS_600);
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, REQUESTS_600, 0)).toEqual({ ok: true });
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, REQUESTS_600, 0)).toEqual({ ok: false, waitMs: 100, reason: 'requests' });
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, REQUESTS_600, 40)).toEqual({ ok: false, waitMs: 60, reason: 'requests' });
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, REQUESTS_600, 100)).toEqual({ ok: true });
  });

  it('refills continuously and never above capacity', () => {
    const limits: RateLimits = { requests: { perMinute: 600, capacity: 3 } };
    const s = fresh(limits);
    for (let i = 0; i < 3; i++) expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, limits, 0).ok).toBe(true);
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, limits, 0).ok).toBe(false);
    // 10 s later the bucket holds 3 again, not 100.
    for (let i = 0; i < 3; i++) expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, limits, 10_000).ok).toBe(true);
    expect(takeFromBuckets(s, { requests: 1, tokens: 0 }, limits, 10_000)).toEqual({ ok: false, waitMs: 100, reason: 'requests' });
  });

  it('waits for the token bucket with the longer wait, taking both costs or neither', () => {
    const limits: RateLimits = { ...REQUESTS_600, ...TOKENS_6000 };
    const s = fresh(limits);
    expect(takeFromBuckets(s, { requests: 1, tokens: 60 }, limits, 0)).toEqual({ ok: true });
    // 100 ms later: a request is back, but 40 + 10 tokens < 60 → wait (60 - 50) / 0.1 = 100 ms for tokens.
    expect(takeFromBuckets(s, { requests: 1, tokens: 60 }, limits, 100)).toEqual({ ok: false, waitMs: 100, reason: 'tokens' });
    expect(s.requests).toBe(1);
    expect(takeFromBuckets(s, { requests: 1, tokens: 60 }, limits, 200)).toEqual({ ok: true });
  });

  it('grants a cost above capacity once the bucket is full, and makes later calls wait for the debt', () => {
    const s = fresh(TOKENS_6000);
    expect(takeFromBuckets(s, { requests: 0, tokens: 250 }, TOKENS_6000, 0)).toEqual({ ok: true });
    expect(s.tokens).toBe(-150);
    // 10 tokens need the debt repaid first: (10 + 150) / 0.1 = 1600 ms.
    expect(takeFromBuckets(s, { requests: 0, tokens: 10 }, TOKENS_6000, 0)).toEqual({ ok: false, waitMs: 1_600, reason: 'tokens' });
  });

  it('settles the reservation and honours a pause', async () => {
    const store = memoryRateLimitStore();
    expect(await store.take('k', { requests: 0, tokens: 100 }, TOKENS_6000, 0)).toEqual({ ok: true });
    await store.settle!('k', -40);                       // used 60 of the 100 reserved
    expect(await store.take('k', { requests: 0, tokens: 40 }, TOKENS_6000, 0)).toEqual({ ok: true });
    expect(await store.take('k', { requests: 0, tokens: 1 }, TOKENS_6000, 0)).toEqual({ ok: false, waitMs: 10, reason: 'tokens' });
    await store.pause!('k', 5_000);
    expect(await store.take('k', { requests: 0, tokens: 1 }, TOKENS_6000, 1_000)).toEqual({ ok: false, waitMs: 4_000, reason: 'paused' });
    expect(await store.take('k', { requests: 0, tokens: 1 }, TOKENS_6000, 5_000)).toEqual({ ok: true });
  });

  it('keeps a pause set before any take, with full buckets behind it', async () => {
    const store = memoryRateLimitStore();
    await store.pause!('k', 1_000);
    expect(await store.take('k', { requests: 1, tokens: 0 }, REQUESTS_600, 0)).toEqual({ ok: false, waitMs: 1_000, reason: 'paused' });
    expect(await store.take('k', { requests: 1, tokens: 0 }, REQUESTS_600, 1_000)).toEqual({ ok: true });
  });

  it('keeps keys apart', async () => {
    const store = memoryRateLimitStore();
    expect((await store.take('openai', { requests: 1, tokens: 0 }, REQUESTS_600, 0)).ok).toBe(true);
    expect((await store.take('anthropic', { requests: 1, tokens: 0 }, REQUESTS_600, 0)).ok).toBe(true);
    expect((await store.take('openai', { requests: 1, tokens: 0 }, REQUESTS_600, 0)).ok).toBe(false);
  });
});

describe('server rate-limit headers', () => {
  const headersOf = (h: Record<string, string>) => (name: string) => h[name];
  const none = { requests: 0, tokens: 0 };

  it('parses the Go durations OpenAI sends', () => {
    expect(parseDurationMs('1s')).toBe(1_000);
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('20ms')).toBe(20);
    expect(parseDurationMs('1h2m3.5s')).toBe(3_723_500);
    expect(parseDurationMs('0.5s')).toBe(500);
    expect(parseDurationMs('2')).toBe(2_000);
    expect(parseDurationMs('soon')).toBeNull();
    expect(parseDurationMs('1x')).toBeNull();
  });

  it('pauses until the OpenAI reset when a remaining count is 0, taking the later of the two', () => {
    const hit = serverLimitHit(headersOf({
      'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s',
    }), none, 1_000);
    expect(hit?.untilMs).toBe(361_000);
    expect(hit?.why).toContain('x-ratelimit-remaining-tokens: 0');
  });

  it('does nothing while the remaining count is above the headroom', () => {
    const h = headersOf({ 'x-ratelimit-remaining-requests': '3', 'x-ratelimit-reset-requests': '1s' });
    expect(serverLimitHit(h, none, 0)).toBeNull();
    expect(serverLimitHit(h, { requests: 5, tokens: 0 }, 0)?.untilMs).toBe(1_000);
  });

  it('reads the Anthropic headers with their RFC 3339 reset times', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const hit = serverLimitHit(headersOf({
      'anthropic-ratelimit-requests-remaining': '12', 'anthropic-ratelimit-requests-reset': '2025-01-01T00:00:05Z',
      'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': '2025-01-01T00:00:30Z',
    }), none, now);
    expect(hit?.untilMs).toBe(now + 30_000);
  });

  it('ignores a reset already past', () => {
    const now = Date.parse('2025-01-01T00:01:00Z');
    expect(serverLimitHit(headersOf({
      'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': '2025-01-01T00:00:30Z',
    }), none, now)).toBeNull();
  });
});

describe('rateLimit middleware', () => {
  it('makes the next call wait for the request bucket and reports the computed wait', async () => {
    const { store, takes } = recordingStore();
    const logger = recordingLogger();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 600, burst: { requests: 1 }, store })], { logger });
    // Both calls take at once: one gets the only token, the other must wait for the next (1 per 100 ms).
    await Promise.all([fiber.chat({ messages: 'one' }), fiber.chat({ messages: 'two' })]);
    expect(emu.requests).toHaveLength(2);
    const refused = takes.filter((t) => !t.result.ok);
    // (A timer may fire a hair early against Date.now(); a second, tiny wait is then legitimate.)
    expect(refused.length).toBeGreaterThanOrEqual(1);
    const waitMs = (refused[0]!.result as { waitMs: number }).waitMs;
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(100);
    const logs = waitLogs(logger.calls);
    expect(logs).toHaveLength(refused.length);
    expect(logs[0]).toMatchObject({ level: 'info', fields: { key: 'openai', waitMs, reason: 'requests', requests: 1 } });
    expect(takes.filter((t) => t.result.ok)).toHaveLength(2);
  });

  it('emits the wait as a log event on streams', async () => {
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 600, burst: { requests: 1 } })]);
    const both = await Promise.all([collect(fiber.chatStream({ messages: 'one' })), collect(fiber.chatStream({ messages: 'two' }))]);
    for (const r of both) expect(r.error).toBeNull();
    const waits = both.flatMap((r) => logsOf(r.events)).filter((e) => e.message.startsWith('rate limit: waiting'));
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(waits[0]).toMatchObject({ level: 'info', data: { reason: 'requests', waitMs: expect.any(Number) } });
    expect((waits[0]!.data as { waitMs: number }).waitMs).toBeLessThanOrEqual(100);
  });

  it("fails fast with RateLimitError 'local_rate_limit' when the wait would pass the deadline", async () => {
    const { store, takes } = recordingStore();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 60, burst: { requests: 1 }, store })]);
    await fiber.chat({ messages: 'one' });
    const err = await rejectionOf(fiber.chat({ messages: 'two', timeout: 200 }));
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err).toMatchObject({ code: 'local_rate_limit', provider: 'openai', model: 'gpt-4o-mini' });
    const waitMs = (takes.at(-1)!.result as { waitMs: number }).waitMs;
    expect((err as RateLimitError).retryAfterMs).toBe(waitMs);
    expect(waitMs).toBeGreaterThan(200);
    expect(waitMs).toBeLessThanOrEqual(1_000);
    // It asked the store once and did not retry: no sleep, and nothing reached the server.
    expect(takes).toHaveLength(2);
    expect(emu.requests).toHaveLength(1);
  });

  it("cuts a wait short when the caller aborts", async () => {
    const controller = new AbortController();
    // Abort the moment the middleware announces its wait.
    const logger: LoggerLike = {
      debug() {}, warn() {}, error() {},
      info(_fields, message) { if (message?.startsWith('rate limit: waiting')) controller.abort(); },
    };
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 60, burst: { requests: 1 } })], { logger });
    await fiber.chat({ messages: 'one' });
    const err = await rejectionOf(fiber.chat({ messages: 'two', signal: controller.signal }));
    expect(err).toBeInstanceOf(AbortError);
    expect(emu.requests).toHaveLength(1);
  });

  it('reserves the estimate and settles it with the real usage (chat)', async () => {
    const { store, takes, settles } = recordingStore();
    const fiber = fiberWith([rateLimit({ tokensPerMinute: 60_000, store, estimateTokens: () => 500 })]);
    emu.script({ usage: { prompt: 100, completion: 50 } });
    const result = await fiber.chat({ messages: 'hi' });
    expect(result.usage.total).toBe(150);
    expect(takes[0]).toMatchObject({ key: 'openai', requests: 0, tokens: 500 });
    expect(settles).toEqual([{ key: 'openai', tokenDelta: -350 }]);
  });

  it('settles a stream at done', async () => {
    const { store, settles } = recordingStore();
    const fiber = fiberWith([rateLimit({ tokensPerMinute: 60_000, store, estimateTokens: () => 10 })]);
    emu.script({ usage: { prompt: 30, completion: 12 } });
    const { error } = await collect(fiber.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(settles).toEqual([{ key: 'openai', tokenDelta: 32 }]);
  });

  it('estimates chars / 4 of the messages plus maxTokens by default', async () => {
    const { store, takes } = recordingStore();
    const fiber = fiberWith([rateLimit({ tokensPerMinute: 60_000, store })]);
    await fiber.chat({ messages: [['system', 'x'.repeat(40)], ['user', 'y'.repeat(39)]], maxTokens: 100 });
    expect(takes[0]!.tokens).toBe(20 + 100);
    const req = { model: 'm', stream: false, messages: [{ role: 'user', content: [{ type: 'text', text: 'abcd' }] }] } as NormalizedRequest;
    expect(estimateRequestTokens(req)).toBe(1);
  });

  it('counts each attempt, retries included', async () => {
    const { store, takes } = recordingStore();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 6_000, store })]);
    emu.script({ status: 503 });
    await fiber.chat({ messages: 'retried' });
    expect(emu.requests).toHaveLength(2);
    expect(takes.filter((t) => t.result.ok)).toHaveLength(2);
  });

  it('pauses on x-ratelimit-remaining-requests: 0 until the reset, before a 429', async () => {
    const { store, pauses, takes } = recordingStore();
    const logger = recordingLogger();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 6_000, store })], { logger });
    emu.script({ headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '150ms' } });
    await fiber.chat({ messages: 'one' });
    expect(pauses).toHaveLength(1);
    expect(pauses[0]!.key).toBe('openai');
    expect(pauses[0]!.untilMs - pauses[0]!.atMs).toBeGreaterThan(140);
    expect(pauses[0]!.untilMs - pauses[0]!.atMs).toBeLessThanOrEqual(150);
    await fiber.chat({ messages: 'two' });
    const paused = takes.filter((t) => !t.result.ok);
    expect(paused).toHaveLength(1);
    expect(paused[0]!.result).toMatchObject({ ok: false, reason: 'paused' });
    const waitMs = (paused[0]!.result as { waitMs: number }).waitMs;
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(150);
    expect(waitLogs(logger.calls)[0]).toMatchObject({ level: 'warn', fields: { reason: 'paused', waitMs } });
    expect(emu.requests).toHaveLength(2);
  });

  it('fails fast when the server reset is past the deadline (x-ratelimit-reset-tokens: 6m0s)', async () => {
    const fiber = fiberWith([rateLimit({ tokensPerMinute: 1_000_000 })]);
    emu.script({ headers: { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' } });
    await fiber.chat({ messages: 'one' });
    const err = await rejectionOf(fiber.chat({ messages: 'two', timeout: 1_000 }));
    expect(err).toMatchObject({ name: 'RateLimitError', code: 'local_rate_limit' });
    expect((err as RateLimitError).retryAfterMs).toBeGreaterThan(359_000);
    expect((err as RateLimitError).retryAfterMs).toBeLessThanOrEqual(360_000);
    expect(emu.requests).toHaveLength(1);
  });

  it('pauses below the headroom', async () => {
    const { store, pauses } = recordingStore();
    const fiber = fiberWith([rateLimit({ store, headroom: { requests: 5 } })]);
    emu.script({ headers: { 'x-ratelimit-remaining-requests': '6', 'x-ratelimit-reset-requests': '1s' } });
    await fiber.chat({ messages: 'above' });
    expect(pauses).toHaveLength(0);
    emu.script({ headers: { 'x-ratelimit-remaining-requests': '5', 'x-ratelimit-reset-requests': '20ms' } });
    await fiber.chat({ messages: 'at the headroom' });
    expect(pauses).toHaveLength(1);
  });

  it('pauses on the Anthropic headers (RFC 3339 reset)', async () => {
    const { store, pauses } = recordingStore();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 6_000, store })]);
    const reset = new Date(Date.now() + 60_000);
    reset.setMilliseconds(0);
    emu.script({
      provider: 'anthropic',
      headers: {
        'anthropic-ratelimit-requests-remaining': '40', 'anthropic-ratelimit-requests-reset': new Date(Date.now() + 1_000).toISOString(),
        'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': reset.toISOString(),
      },
    });
    await fiber.chat({ model: 'claude-3-5-haiku-latest', messages: 'one' });
    expect(pauses).toEqual([{ key: 'anthropic', untilMs: reset.getTime(), atMs: expect.any(Number) }]);
    const err = await rejectionOf(fiber.chat({ model: 'claude-3-5-haiku-latest', messages: 'two', timeout: 500 }));
    expect(err).toMatchObject({ name: 'RateLimitError', code: 'local_rate_limit' });
    expect((err as RateLimitError).retryAfterMs).toBeGreaterThan(58_000);
    // Other providers are not paused.
    await fiber.chat({ messages: 'openai is fine' });
  });

  it("pauses the key for a 429's retry-after so the calls beside it slow down too", async () => {
    const { store, pauses } = recordingStore();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 6_000, store })]);
    emu.script({ status: 429, retryAfterMs: '30' });
    const result = await fiber.chat({ messages: 'throttled once' });
    expect(result.attempts).toBe(2);
    expect(pauses).toHaveLength(1);
    expect(pauses[0]!.untilMs - pauses[0]!.atMs).toBeGreaterThan(20);
    expect(pauses[0]!.untilMs - pauses[0]!.atMs).toBeLessThanOrEqual(30);
  });

  it("keys buckets by provider and model with key: 'model'", async () => {
    const { store, takes } = recordingStore();
    const fiber = fiberWith([rateLimit({ requestsPerMinute: 600, burst: { requests: 1 }, store, key: 'model' })]);
    await fiber.chat({ model: 'gpt-4o-mini', messages: 'a' });
    await fiber.chat({ model: 'gpt-4o', messages: 'b' });
    expect(takes.map((t) => [t.key, t.result.ok])).toEqual([['openai:gpt-4o-mini', true], ['openai:gpt-4o', true]]);
  });

  it('rejects bad options with ConfigError when the middleware is made', () => {
    expect(() => rateLimit({ requestsPerMinute: 0 })).toThrow(ConfigError);
    expect(() => rateLimit({ tokensPerMinute: -1 })).toThrow(ConfigError);
    expect(() => rateLimit({ burst: { requests: 2 } })).toThrow(/needs requestsPerMinute/);
    expect(() => rateLimit({ requestsPerMinute: 10, burst: { calls: 2 } as never })).toThrow(/unknown option "burst.calls"/);
    expect(() => rateLimit({ store: {} as never })).toThrow(ConfigError);
    expect(() => rateLimit({ key: 'region' as never })).toThrow(ConfigError);
    expect(() => rateLimit({ headroom: { tokens: -1 } })).toThrow(ConfigError);
    expect(() => rateLimit({ rpm: 10 } as never)).toThrow(/unknown option "rpm"/);
  });

  it('rejects an estimate that is not a finite number >= 0 with ConfigError', async () => {
    const fiber = fiberWith([rateLimit({ tokensPerMinute: 1_000, estimateTokens: () => Number.NaN })]);
    expect(await rejectionOf(fiber.chat({ messages: 'hi' }))).toBeInstanceOf(ConfigError);
    expect(emu.requests).toHaveLength(0);
  });

  it('is an attempt-scope middleware named rateLimit', () => {
    const mw = rateLimit({ requestsPerMinute: 10 });
    expect(mw.scope).toBe('attempt');
    expect(mw.middlewareName).toBe('rateLimit');
  });
});

describe('a store that does not answer', () => {
  const hanging = (): RateLimitStore => ({ take: () => new Promise(() => {}) });

  it('fails the attempt after storeTimeoutMs with rate_limit_store_failed, sending nothing', async () => {
    const f = fiberWith([rateLimit({ requestsPerMinute: 600, store: hanging(), storeTimeoutMs: 100 })]);
    const t0 = performance.now();
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect((err as { code?: string }).code).toBe('rate_limit_store_failed');
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(emu.requests).toHaveLength(0);
  });

  it("lets the call through after storeTimeoutMs with onStoreError: 'allow'", async () => {
    const f = fiberWith([rateLimit({ requestsPerMinute: 600, store: hanging(), storeTimeoutMs: 100, onStoreError: 'allow' })]);
    expect((await f.chat({ messages: 'hi' })).text).toBe('You said: hi');
  });

  it('never holds a call past its own deadline', async () => {
    const f = fiberWith([rateLimit({ requestsPerMinute: 600, store: hanging(), storeTimeoutMs: 60_000 })], { timeouts: { totalMs: 200 } });
    const t0 = performance.now();
    const err = await rejectionOf(f.chat({ messages: 'hi' }));
    expect(err).toMatchObject({ name: 'TimeoutError', phase: 'total' });
    expect(performance.now() - t0).toBeLessThan(1_500);
  });

  it('rejects a storeTimeoutMs that is not a positive number', () => {
    expect(() => rateLimit({ storeTimeoutMs: 0 })).toThrow(/storeTimeoutMs/);
  });
});
