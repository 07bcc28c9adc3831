/**
 * Regressions from a review of the core: a `result()` after partial iteration, throwing hooks on events that do
 * not come from the source, cancellation before the connection exists, error hooks after a pre-commit failure or
 * after `done` went through the hooks, a decoder that cannot start, a `done` left out of a fan-out, pool growth
 * per distinct connect timeout, and `return()` while starting.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openai } from '../../providers/index.js';
import { AbortError, concurrency, defineMiddleware, Fiber, TimeoutError, type FiberOptions } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { TEST_KEY, trackHandles, type HandleTracker } from '../helpers/core.js';

let emu: Emulator;
let handles: HandleTracker;
const fibers: Fiber[] = [];
const make = (o: FiberOptions = {}) => {
  const f = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { openai: TEST_KEY }, defaultModel: 'gpt-4o-mini', ...o });
  fibers.push(f);
  return f;
};
/** `p`, or 'pending' if it has not settled within `ms` (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => { handles = trackHandles(); emu = await startEmulator(); });
beforeEach(() => emu.reset());
afterAll(async () => {
  await Promise.all(fibers.map((f) => f.close()));
  await emu.close();
  await handles.expectAllClosed();
});

describe('review regressions', () => {
  it('settles result() after a partial iteration, driving the rest', async () => {
    emu.script({ chunks: ['a', 'b', 'c'] });
    const s = make().chatStream({ messages: 'hi' });
    expect((await s.next()).done).toBe(false);
    const r = await within(s.result(), 3_000);
    expect(r).not.toBe('pending');
    expect((r as { text: string }).text).toBe('abc');
  });

  it('ends a stream nobody pulls when its deadline passes: result() rejects and onError runs', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 60_000 } });
    const errors: string[] = [];
    const f = make({ retry: false, timeouts: { totalMs: 150 } }).use(defineMiddleware({ name: 'seen', onError: (e) => void errors.push(e.name) }));
    const s = f.chatStream({ messages: 'hi' });
    await s.next();
    const r = s.result();
    const e = await within(r.catch((x) => x), 3_000);
    expect(e).toBeInstanceOf(TimeoutError);
    expect(errors).toEqual(['TimeoutError']);
  });

  it('fails the stream (once, with onError) when a hook throws on done, and frees its concurrency slot', async () => {
    const conc = concurrency({ max: 1 });
    const errors: string[] = [];
    const f = make().use(conc, defineMiddleware({
      name: 'boom',
      onEvent(e) { if (e.type === 'done') throw new Error('boom'); return undefined; },
      onError(err) { errors.push(err.code ?? ''); },
    }));
    const s = f.chatStream({ messages: 'hi' });
    const r = s.result();
    r.catch(() => undefined);
    let thrown: unknown = null;
    try { for await (const _ of s) { /* drain */ } } catch (e) { thrown = e; }
    expect((thrown as { code?: string }).code).toBe('hook_failed');
    expect(await within(r.then(() => 'resolved', (e) => e.code), 1_000)).toBe('hook_failed');
    expect(errors).toEqual(['hook_failed']);
    expect(conc.stats()).toEqual({});
    expect((await f.chat({ messages: 'next' })).text).toBe('You said: next');
  });

  it('keeps done for the outer hooks when an inner hook fans it out to nothing', async () => {
    const conc = concurrency({ max: 1 });
    const f = make().use(conc, defineMiddleware({ name: 'eat', onEvent: (e) => (e.type === 'done' ? [] : undefined) }));
    const types: string[] = [];
    for await (const e of f.chatStream({ messages: 'hi' })) types.push(e.type);
    expect(types.at(-1)).toBe('done');
    expect(conc.stats()).toEqual({});
  });

  it('records one success, not a failure too, when the consumer breaks on a chunk flushed before done', async () => {
    const f = make().use(defineMiddleware({
      name: 'flush',
      onEvent: (e) => (e.type === 'done' ? [{ type: 'chunk', delta: '[tail]', t: e.t }, e] : undefined),
    }));
    for await (const e of f.chatStream({ messages: 'hi' })) if (e.type === 'chunk' && e.delta === '[tail]') break;
    const snap = f.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: { provider: 'openai', model: 'gpt-4o-mini' }, value: 1 }]);
    expect(snap.error_count).toBeUndefined();
  });

  it('does not run error hooks again when the consumer breaks while handed the retry logs of a failed stream', async () => {
    emu.script({ status: 500, times: 2 });
    const errors: string[] = [];
    const f = make({ retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 } }).use(defineMiddleware({ name: 'seen', onError: (e) => void errors.push(e.code ?? '') }));
    for await (const e of f.chatStream({ messages: 'hi' })) if (e.type === 'log') break;
    const snap = f.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: { provider: 'openai', model: 'gpt-4o-mini' }, value: 1 }]);
    expect(errors).toEqual([]);
  });

  it('ends a pending first next() silently when the consumer returns while the call starts', async () => {
    emu.script({ delayMs: 300 });
    const s = make().chatStream({ messages: 'hi' });
    const p = s.next().then((r) => r, (e) => e);
    await new Promise((r) => setTimeout(r, 50));
    await s.return();
    expect(await p).toEqual({ done: true, value: undefined });
  });

  it('caps the connection pools kept for distinct connect timeouts', async () => {
    const f = make();
    for (let i = 0; i < 20; i++) await f.chat({ messages: 'hi', timeout: { connectMs: 1_000 + i } });
    expect((f as unknown as { core: { transport: { agents: Map<number, unknown> } } }).core.transport.agents.size).toBeLessThanOrEqual(8);
  });
});

describe('review regressions: purpose-built servers', () => {
  it('cancels a call still connecting (TLS handshake never answered) at the total deadline and on abort', async () => {
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const f = new Fiber({ baseUrls: { openai: `https://127.0.0.1:${port}/v1` }, apiKeys: { openai: TEST_KEY }, defaultModel: 'gpt-4o-mini', retry: false, timeouts: { connectMs: 4_000 } });
    try {
      const t0 = performance.now();
      const e1 = await f.chat({ messages: 'hi', timeout: 200 }).catch((e) => e);
      expect(e1).toBeInstanceOf(TimeoutError);
      expect(e1.phase).toBe('total');
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const e2 = await f.chat({ messages: 'hi', signal: ac.signal }).catch((e) => e);
      expect(e2).toBeInstanceOf(AbortError);
      // both well before the 4 s connect timeout
      expect(performance.now() - t0).toBeLessThan(3_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
      await f.close();
    }
  });

  it('drops the connection when the adapter cannot start its stream decoder', async () => {
    let open = 0;
    const srv = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hi\n\n');
      const iv = setInterval(() => res.write(': ping\n\n'), 50);
      res.on('close', () => clearInterval(iv));
    });
    srv.on('connection', (s) => { open++; s.on('close', () => { open--; }); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const broken = { ...openai(), stream() { throw new Error('decoder init failed'); } };
    const f = new Fiber({ baseUrls: { openai: `http://127.0.0.1:${port}/v1` }, apiKeys: { openai: TEST_KEY }, defaultModel: 'gpt-4o-mini', providers: [broken], retry: false });
    const err = await f.chatStream({ messages: 'hi' }).result().catch((e) => e);
    expect(err.name).toBe('StreamError');
    const closed = await within(f.close().then(() => 'closed'), 3_000);
    expect(closed).toBe('closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(open).toBe(0);
    srv.close();
  });
});
