/**
 * `llm-fiber/redis`: a `RateLimitStore` in Redis, so many processes share one requests/tokens-per-minute limit.
 *
 * Every operation is one atomic Lua script (`SCRIPT`, below) run with `EVALSHA`, falling back to `EVAL` when the
 * server answers `NOSCRIPT` (a restarted server, a failover, `SCRIPT FLUSH`); `EVAL` caches the script again, so
 * the next call is an `EVALSHA`. The script refills both buckets of a key to the caller's clock and takes both
 * costs or neither, exactly as `takeFromBuckets()` does for the in-memory store, so no interleaving of processes
 * can grant more than the buckets hold. One hash per key (`<prefix><key>`) holds the levels; it expires
 * (`PEXPIRE`) once both buckets would be full again and any pause is over, since a missing key reads as full.
 *
 * Clients (bring your own; this file imports no Redis package, and the types below are structural):
 * - node-redis v4 and v5 (`redis` / `@redis/client`): `client.evalSha(sha, { keys, arguments })` and
 *   `client.eval(script, { keys, arguments })`; a cluster client (`createCluster`) works too.
 * - ioredis v5: `client.evalsha(sha, numKeys, ...args)` and `client.eval(script, numKeys, ...args)`; `Cluster` too.
 * The script touches one key per call, so it is cluster-safe.
 *
 * Clocks: the middleware passes `Date.now()`, so hosts sharing a store need synchronised clocks (NTP is plenty;
 * skew of s ms lets the host that runs ahead see s ms more refill).
 */
import { createHash } from 'node:crypto';
import { ConfigError, FiberError } from '../errors.js';
import type { RateLimitCosts, RateLimits, RateLimitStore, TakeResult } from '../../middleware/rate-limit.js';

/** What `redisStore()` needs of a node-redis v4/v5 client (or cluster). */
export interface NodeRedisScriptClient {
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** What `redisStore()` needs of an ioredis v5 client (or cluster). */
export interface IoRedisScriptClient {
  evalsha(sha1: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/** A Redis client `redisStore()` accepts: node-redis v4/v5 or ioredis v5. */
export type RedisScriptClient = NodeRedisScriptClient | IoRedisScriptClient;

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /**
   * Prefix of the bucket keys; the middleware's key (`openai`, `openai:gpt-4o`) follows it.
   * @default 'llm-fiber:rl:'
   */
  prefix?: string;
}

/**
 * The bucket script. KEYS[1] is the bucket hash; ARGV[1] the operation, ARGV[2] the caller's clock (ms).
 *   take   ARGV[3..6] request capacity, request refill per ms, token capacity, token refill per ms (0 = no bucket)
 *          ARGV[7..8] request cost, token cost             → {1} or {0, wait ms, 1 requests | 2 tokens | 3 paused}
 *   settle ARGV[3] token delta (charge > 0, refund < 0)    → 1   (ARGV[2] only dates the expiry)
 *   pause  ARGV[3] paused until (ms)                       → 1   (ARGV[2] only dates the expiry)
 * Hash fields: r t (levels as of ts), ts, p (paused until), rc rr tc tr (the limits of the last take, which settle
 * and pause need for the expiry). Lua numbers are stored with 17 significant digits, so levels keep their fractions.
 */
export const SCRIPT = `
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local f = redis.call('HMGET', key, 'r', 't', 'ts', 'p', 'rc', 'rr', 'tc', 'tr')
local p = tonumber(f[4]) or 0
if op ~= 'take' and not f[3] then
  -- No buckets yet: nothing to settle; a pause is kept on its own (a missing level reads as a full bucket).
  if op == 'pause' then
    local u = tonumber(ARGV[3])
    if u > p then p = u end
    redis.call('HSET', key, 'p', p)
    redis.call('PEXPIRE', key, math.ceil(math.max(0, p - now)) + 1000)
  end
  return 1
end
local rc, rr, tc, tr
if op == 'take' then
  rc = tonumber(ARGV[3]); rr = tonumber(ARGV[4]); tc = tonumber(ARGV[5]); tr = tonumber(ARGV[6])
else
  rc = tonumber(f[5]) or 0; rr = tonumber(f[6]) or 0; tc = tonumber(f[7]) or 0; tr = tonumber(f[8]) or 0
end
local ts = tonumber(f[3]) or now
local r = tonumber(f[1]) or rc
local t = tonumber(f[2]) or tc
local result = 1
if op == 'take' then
  -- Refill to the caller's clock (never backwards: a caller whose clock lags gets no refill, not a negative one).
  local elapsed = math.max(0, now - ts)
  if now > ts then ts = now end
  if rr > 0 then r = math.min(rc, r + elapsed * rr) end
  if tr > 0 then t = math.min(tc, t + elapsed * tr) end
  local rcost = tonumber(ARGV[7])
  local tcost = tonumber(ARGV[8])
  local wait = 0
  local why = 0
  if p > now then
    wait = p - now
    why = 3
  else
    if rr > 0 and rcost > 0 then
      local need = math.min(rcost, rc)
      if r < need then wait = (need - r) / rr; why = 1 end
    end
    if tr > 0 and tcost > 0 then
      local need = math.min(tcost, tc)
      if t < need then
        local w = (need - t) / tr
        if w > wait then wait = w; why = 2 end
      end
    end
  end
  if wait > 0 then
    result = {0, math.ceil(wait), why}
  else
    if rr > 0 then r = r - rcost end
    if tr > 0 then t = t - tcost end
    result = {1}
  end
elseif op == 'settle' then
  -- Levels stay as of ts (the next take refills them), so a settle never depends on the settling host's clock.
  if tr > 0 then t = t - tonumber(ARGV[3]) end
elseif op == 'pause' then
  local u = tonumber(ARGV[3])
  if u > p then p = u end
end
redis.call('HSET', key, 'r', r, 't', t, 'ts', ts, 'p', p, 'rc', rc, 'rr', rr, 'tc', tc, 'tr', tr)
-- Expire when both buckets would be full again and any pause is over: a missing key reads as full buckets.
local fullAt = ts
if rr > 0 and r < rc then fullAt = ts + (rc - r) / rr end
if tr > 0 and t < tc then
  local x = ts + (tc - t) / tr
  if x > fullAt then fullAt = x end
end
if p > fullAt then fullAt = p end
redis.call('PEXPIRE', key, math.ceil(math.max(0, fullAt - now)) + 1000)
return result
`;

const SHA1 = createHash('sha1').update(SCRIPT).digest('hex');
const REASONS = [undefined, 'requests', 'tokens', 'paused'] as const;

/**
 * A rate-limit store in Redis, shared by every process that points at the same server and prefix. Pass your own
 * connected client (node-redis v4/v5 or ioredis v5); closing it stays your job.
 * @example
 * import { createClient } from 'redis';
 * import { redisStore } from 'llm-fiber/redis';
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * fiber.use(rateLimit({ requestsPerMinute: 500, tokensPerMinute: 200_000, store: redisStore(client) }));
 */
export function redisStore(client: RedisScriptClient, options: RedisStoreOptions = {}): RateLimitStore {
  if (options === null || typeof options !== 'object') throw new ConfigError('redisStore: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'prefix') throw new ConfigError(`redisStore: unknown option "${k}" (known: prefix)`);
  const prefix = options.prefix ?? 'llm-fiber:rl:';
  if (typeof prefix !== 'string') throw new ConfigError('redisStore: `prefix` must be a string');
  const run = scriptRunner(client);

  const call = async (op: string, key: string, args: string[]): Promise<unknown> => {
    try {
      return await run(prefix + key, [op, ...args]);
    } catch (e) {
      throw new FiberError(`redisStore: ${op} on "${prefix + key}" failed: ${e instanceof Error ? e.message : String(e)}`, {
        code: 'rate_limit_store_failed', cause: e,
      });
    }
  };

  return {
    async take(key: string, costs: RateLimitCosts, limits: RateLimits, nowMs: number): Promise<TakeResult> {
      const r = limits.requests;
      const t = limits.tokens;
      const reply = await call('take', key, [
        String(nowMs),
        String(r?.capacity ?? 0), String(r === undefined ? 0 : r.perMinute / 60_000),
        String(t?.capacity ?? 0), String(t === undefined ? 0 : t.perMinute / 60_000),
        String(costs.requests), String(costs.tokens),
      ]);
      if (!Array.isArray(reply) || reply.length === 0) {
        throw new FiberError(`redisStore: unexpected reply to take on "${prefix + key}"`, { code: 'rate_limit_store_failed' });
      }
      if (Number(reply[0]) === 1) return { ok: true };
      const reason = REASONS[Number(reply[2])];
      return reason === undefined ? { ok: false, waitMs: Number(reply[1]) } : { ok: false, waitMs: Number(reply[1]), reason };
    },
    async settle(key: string, tokenDelta: number): Promise<void> {
      await call('settle', key, [String(Date.now()), String(tokenDelta)]);
    },
    async pause(key: string, untilMs: number): Promise<void> {
      await call('pause', key, [String(Date.now()), String(untilMs)]);
    },
  };
}

/** Run the script for one key with EVALSHA, falling back to EVAL on NOSCRIPT; adapts to the client's signature. */
function scriptRunner(client: RedisScriptClient): (key: string, args: string[]) => Promise<unknown> {
  if (client === null || typeof client !== 'object') throw new ConfigError('redisStore: expected a connected node-redis or ioredis client');
  const c = client as Partial<NodeRedisScriptClient> & Partial<IoRedisScriptClient>;
  if (typeof c.evalSha === 'function' && typeof c.eval === 'function') {
    const nr = client as NodeRedisScriptClient;
    return async (key, args) => {
      const options = { keys: [key], arguments: args };
      try {
        return await nr.evalSha(SHA1, options);
      } catch (e) {
        if (!isNoScript(e)) throw e;
        return nr.eval(SCRIPT, options);
      }
    };
  }
  if (typeof c.evalsha === 'function' && typeof c.eval === 'function') {
    const io = client as IoRedisScriptClient;
    return async (key, args) => {
      try {
        return await io.evalsha(SHA1, 1, key, ...args);
      } catch (e) {
        if (!isNoScript(e)) throw e;
        return io.eval(SCRIPT, 1, key, ...args);
      }
    };
  }
  throw new ConfigError('redisStore: expected a node-redis v4/v5 client (evalSha/eval) or an ioredis v5 client (evalsha/eval)');
}

/**
 * Redis reports an uncached script as an error reply whose first word is the code `NOSCRIPT` (the protocol's error
 * code convention, the same in node-redis' `ErrorReply` and ioredis' `ReplyError`).
 */
function isNoScript(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOSCRIPT');
}
