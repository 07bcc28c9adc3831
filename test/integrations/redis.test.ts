import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rateLimit, type RateLimits, type RateLimitStore } from '../../middleware/rate-limit.js';
import { ConfigError, FiberError, RateLimitError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import { redisStore, SCRIPT, type IoRedisScriptClient } from '../../src/integrations/redis.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { emuFiber, recordingLogger, trackHandles, type HandleTracker } from '../helpers/core.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

type Client = ReturnType<typeof createClient>;

let server: RedisServer;
let emu: Emulator;
let handles: HandleTracker;
const clients: Client[] = [];
const fibers: Fiber[] = [];
let client: Client;
let seq = 0;

async function connect(): Promise<Client> {
  const c = createClient({ url: server.url });
  c.on('error', () => { /* reported through the failing command */ });
  await c.connect();
  clients.push(c);
  return c;
}

beforeAll(async () => {
  handles = trackHandles();
  server = await startRedisServer();
  emu = await startEmulator();
  client = await connect();
});

afterAll(async () => {
  for (const f of fibers) await f.close();
  for (const c of clients) if (c.isOpen) await c.close();
  await emu?.close();
  await server?.stop();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

/** A key no other test touches. */
const freshKey = () => `test-${process.pid}-${++seq}`;

const REQUESTS_600: RateLimits = { requests: { perMinute: 600, capacity: 1 } };       // 1 per 100 ms
const TOKENS_6000: RateLimits = { tokens: { perMinute: 6_000, capacity: 100 } };       // 0.1 per ms

describe('redisStore: the bucket script', () => {
  it('grants a full bucket, then computes the wait from the refill rate (like the in-memory store)', async () => {
    const store = redisStore(client);
    const key = freshKey();
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 1_000)).toEqual({ ok: true });
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 1_000)).toEqual({ ok: false, waitMs: 100, reason: 'requests' });
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 1_040)).toEqual({ ok: false, waitMs: 60, reason: 'requests' });
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 1_100)).toEqual({ ok: true });
  });

  it('takes both costs or neither, waiting for the longer bucket', async () => {
    const store = redisStore(client);
    const key = freshKey();
    const limits: RateLimits = { ...REQUESTS_600, ...TOKENS_6000 };
    expect(await store.take(key, { requests: 1, tokens: 60 }, limits, 0)).toEqual({ ok: true });
    expect(await store.take(key, { requests: 1, tokens: 60 }, limits, 100)).toEqual({ ok: false, waitMs: 100, reason: 'tokens' });
    // The refused take left the request it could have had: it is granted with the tokens at 200 ms.
    expect(await store.take(key, { requests: 1, tokens: 60 }, limits, 200)).toEqual({ ok: true });
  });

  it('grants a cost above capacity once full and charges the debt', async () => {
    const store = redisStore(client);
    const key = freshKey();
    expect(await store.take(key, { requests: 0, tokens: 250 }, TOKENS_6000, 0)).toEqual({ ok: true });
    expect(await store.take(key, { requests: 0, tokens: 10 }, TOKENS_6000, 0)).toEqual({ ok: false, waitMs: 1_600, reason: 'tokens' });
  });

  it('settles a reservation and honours a pause', async () => {
    const store = redisStore(client);
    const key = freshKey();
    const now = Date.now();
    expect(await store.take(key, { requests: 0, tokens: 100 }, TOKENS_6000, now)).toEqual({ ok: true });
    await store.settle!(key, -40);
    expect(await store.take(key, { requests: 0, tokens: 40 }, TOKENS_6000, now)).toEqual({ ok: true });
    expect(await store.take(key, { requests: 0, tokens: 1 }, TOKENS_6000, now)).toEqual({ ok: false, waitMs: 10, reason: 'tokens' });
    await store.pause!(key, now + 5_000);
    expect(await store.take(key, { requests: 0, tokens: 1 }, TOKENS_6000, now + 1_000)).toEqual({ ok: false, waitMs: 4_000, reason: 'paused' });
    expect(await store.take(key, { requests: 0, tokens: 1 }, TOKENS_6000, now + 5_000)).toEqual({ ok: true });
  });

  it('keeps a pause set before any take, with full buckets behind it', async () => {
    const store = redisStore(client);
    const key = freshKey();
    const now = Date.now();
    await store.pause!(key, now + 1_000);
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, now)).toEqual({ ok: false, waitMs: 1_000, reason: 'paused' });
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, now + 1_000)).toEqual({ ok: true });
  });

  it('expires a key once its buckets would be full again', async () => {
    const store = redisStore(client, { prefix: 'ttl-test:' });
    const key = freshKey();
    await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, Date.now());
    const ttl = await client.pTTL(`ttl-test:${key}`);
    // Full again after 100 ms, plus the 1 s margin.
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_100);
    const fields = await client.hGetAll(`ttl-test:${key}`);
    expect(Object.keys(fields).sort()).toEqual(['p', 'r', 'rc', 'rr', 't', 'tc', 'tr', 'ts']);
  });

  it('never over-grants under many concurrent takes from several connections', async () => {
    const store = [redisStore(client), redisStore(await connect()), redisStore(await connect())];
    const key = freshKey();
    // 10 requests and 1000 tokens of capacity, refilling 1 request and 1 token a minute: nothing refills meanwhile.
    const limits: RateLimits = { requests: { perMinute: 1, capacity: 10 }, tokens: { perMinute: 1, capacity: 1_000 } };
    const now = Date.now();
    const requestOnly = await Promise.all(Array.from({ length: 200 }, (_, i) => store[i % 3]!.take(key, { requests: 1, tokens: 0 }, limits, now)));
    expect(requestOnly.filter((r) => r.ok)).toHaveLength(10);
    const key2 = freshKey();
    const tokenOnly = await Promise.all(Array.from({ length: 200 }, (_, i) => store[i % 3]!.take(key2, { requests: 0, tokens: 30 }, limits, now)));
    expect(tokenOnly.filter((r) => r.ok)).toHaveLength(33);
  });

  it('falls back to EVAL when the server does not know the script (NOSCRIPT), which caches it again', async () => {
    const store = redisStore(client);
    const sha = createHash('sha1').update(SCRIPT).digest('hex');
    await store.take(freshKey(), { requests: 1, tokens: 0 }, REQUESTS_600, Date.now());
    await client.scriptFlush();
    expect(await client.scriptExists(sha)).toEqual([0]);
    expect(await store.take(freshKey(), { requests: 1, tokens: 0 }, REQUESTS_600, Date.now())).toEqual({ ok: true });
    expect(await client.scriptExists(sha)).toEqual([1]);
  });

  it('works with an ioredis-shaped client (evalsha(sha, numKeys, ...args))', async () => {
    const calls: string[] = [];
    // ioredis' positional signatures, served by a raw node-redis command: what ioredis sends on the wire.
    const io: IoRedisScriptClient = {
      evalsha: (sha, numKeys, ...args) => { calls.push('evalsha'); return client.sendCommand(['EVALSHA', sha, String(numKeys), ...args]); },
      eval: (script, numKeys, ...args) => { calls.push('eval'); return client.sendCommand(['EVAL', script, String(numKeys), ...args]); },
    };
    const store = redisStore(io);
    const key = freshKey();
    await client.scriptFlush();
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 0)).toEqual({ ok: true });
    expect(await store.take(key, { requests: 1, tokens: 0 }, REQUESTS_600, 0)).toEqual({ ok: false, waitMs: 100, reason: 'requests' });
    expect(calls).toEqual(['evalsha', 'eval', 'evalsha']);
  });

  it('wraps a Redis failure in a FiberError with code rate_limit_store_failed', async () => {
    const broken = await connect();
    const store = redisStore(broken);
    await broken.close();
    const err = await store.take(freshKey(), { requests: 1, tokens: 0 }, REQUESTS_600, 0).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FiberError);
    expect((err as FiberError).code).toBe('rate_limit_store_failed');
  });

  it('rejects what is not a node-redis or ioredis client, and unknown options, with ConfigError', () => {
    expect(() => redisStore({} as never)).toThrow(ConfigError);
    expect(() => redisStore(null as never)).toThrow(ConfigError);
    expect(() => redisStore(client, { prefx: 'x' } as never)).toThrow(/unknown option "prefx"/);
  });
});

describe('redisStore: Fibers sharing one limit', () => {
  /** Two Fibers, as two processes would be: separate clients, connections and middleware, one Redis bucket. */
  async function twoProcesses(options: Parameters<typeof rateLimit>[0], prefix: string) {
    const made: Array<{ fiber: Fiber; logger: ReturnType<typeof recordingLogger> }> = [];
    for (let i = 0; i < 2; i++) {
      const store: RateLimitStore = redisStore(await connect(), { prefix });
      const logger = recordingLogger();
      const fiber = emuFiber(emu, { logger }).use(rateLimit({ ...options, store }));
      fibers.push(fiber);
      made.push({ fiber, logger });
    }
    return made;
  }

  it('never lets them together exceed the bucket', async () => {
    // 3 requests of burst, refilling one every 10 s: nothing refills during the test.
    const [a, b] = await twoProcesses({ requestsPerMinute: 6, burst: { requests: 3 } }, `shared-${freshKey()}:`);
    const calls = [a!, b!].flatMap(({ fiber }) => Array.from({ length: 3 }, (_, i) => fiber.chat({ messages: `call ${i}`, timeout: 2_000 })));
    const outcomes = await Promise.allSettled(calls);
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as RateLimitError] : []));
    expect(ok).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const err of refused) {
      expect(err).toBeInstanceOf(RateLimitError);
      expect(err.code).toBe('local_rate_limit');
      expect(err.retryAfterMs).toBeGreaterThan(2_000);
    }
    expect(emu.requests).toHaveLength(3);
  });

  it('makes one process wait for the refill when the other took the token', async () => {
    const [a, b] = await twoProcesses({ requestsPerMinute: 600, burst: { requests: 1 } }, `shared-${freshKey()}:`);
    await Promise.all([a!.fiber.chat({ messages: 'first process' }), b!.fiber.chat({ messages: 'second process' })]);
    const waits = [a!, b!].flatMap(({ logger }) => logger.calls.filter((c) => c.message?.startsWith('rate limit: waiting')));
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(waits[0]!.fields).toMatchObject({ key: 'openai', reason: 'requests' });
    expect(waits[0]!.fields.waitMs).toBeGreaterThan(0);
    expect(waits[0]!.fields.waitMs).toBeLessThanOrEqual(100);
    expect(emu.requests).toHaveLength(2);
  });

  it("shares a server-requested pause: one process's x-ratelimit-remaining-requests: 0 slows the other", async () => {
    const [a, b] = await twoProcesses({ requestsPerMinute: 6_000 }, `shared-${freshKey()}:`);
    emu.script({ headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' } });
    await a!.fiber.chat({ messages: 'spends the limit' });
    const err = await b!.fiber.chat({ messages: 'other process', timeout: 500 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).code).toBe('local_rate_limit');
    expect((err as RateLimitError).retryAfterMs).toBeGreaterThan(350_000);
    expect(emu.requests).toHaveLength(1);
  });
});

describe('rateLimit with an unreachable Redis', () => {
  /** A store whose client was closed: every take fails as an outage would. */
  async function brokenStore(): Promise<RateLimitStore> {
    const broken = await connect();
    const store = redisStore(broken, { prefix: `down-${freshKey()}:` });
    await broken.close();
    return store;
  }

  it("fails the call by default (onStoreError: 'fail'), without sending it", async () => {
    const fiber = emuFiber(emu).use(rateLimit({ requestsPerMinute: 600, store: await brokenStore() }));
    fibers.push(fiber);
    const err = await fiber.chat({ messages: 'hi' }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FiberError);
    expect((err as FiberError).code).toBe('rate_limit_store_failed');
    expect(emu.requests).toHaveLength(0);
  });

  it("sends the call unlimited with onStoreError: 'allow', and says so in a warn record", async () => {
    const logger = recordingLogger();
    const fiber = emuFiber(emu, { logger }).use(rateLimit({ requestsPerMinute: 600, tokensPerMinute: 60_000, store: await brokenStore(), onStoreError: 'allow' }));
    fibers.push(fiber);
    expect((await fiber.chat({ messages: 'hi' })).text).toBe('You said: hi');
    emu.script({ chunks: ['a', 'b'] });
    const s = fiber.chatStream({ messages: 'hi' });
    for await (const _ of s) { /* drain */ }
    expect((await s.result()).text).toBe('ab');
    expect(emu.requests).toHaveLength(2);
    const warns = logger.calls.filter((c) => c.level === 'warn' && c.message?.startsWith('rate limit: the store failed'));
    expect(warns).toHaveLength(2);
    expect(warns[0]!.fields).toMatchObject({ key: 'openai' });
    // Nothing was reserved, so nothing is settled against the broken store afterwards.
    expect(logger.calls.some((c) => c.message?.includes('could not settle'))).toBe(false);
  });

  it("lets calls through after storeTimeoutMs when Redis is down and the client queues commands ('allow')", async () => {
    // Its own server, stopped under a connected client: node-redis queues commands while it reconnects, so a take
    // never fails on its own. The store timeout turns that into a store failure.
    const own = await startRedisServer();
    const c = createClient({ url: own.url, socket: { reconnectStrategy: () => 50 } });
    c.on('error', () => { /* reconnecting */ });
    await c.connect();
    try {
      await own.stop();
      const logger = recordingLogger();
      const fiber = emuFiber(emu, { logger, timeouts: { totalMs: 5_000 } })
        .use(rateLimit({ requestsPerMinute: 600, store: redisStore(c, { prefix: `down-${freshKey()}:` }), onStoreError: 'allow', storeTimeoutMs: 150 }));
      fibers.push(fiber);
      const t0 = performance.now();
      expect((await fiber.chat({ messages: 'hi' })).text).toBe('You said: hi');
      expect(performance.now() - t0).toBeLessThan(2_000);
      const warn = logger.calls.find((w) => w.message?.startsWith('rate limit: the store failed'));
      expect(warn?.fields.error).toMatch(/did not answer take within 150 ms/);
    } finally {
      await c.disconnect().catch(() => {});
    }
  });

  it('rejects an unknown onStoreError', () => {
    expect(() => rateLimit({ onStoreError: 'ignore' as never })).toThrow(/onStoreError/);
  });
});

describe('startRedisServer', () => {
  it('fails with install instructions when the binary is missing', async () => {
    const saved = process.env.REDIS_SERVER_BIN;
    process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
    try {
      await expect(startRedisServer()).rejects.toThrow(/redis-server not found.*apt-get install -y redis-server/);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = saved;
    }
  });
});
