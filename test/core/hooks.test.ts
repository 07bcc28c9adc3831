import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compose, defineMiddleware } from '../../src/compose.js';
import { AbortError, FiberError, OverloadedError, ServerError, StreamError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { EventHook, FiberContext, Middleware, MiddlewareSpec, StreamEvent } from '../../src/types.js';
import { collect, emuFiber, iter, rejectionOf, typesOf, trackHandles, type HandleTracker } from '../helpers/core.js';

let emu: Emulator;
let handles: HandleTracker;
const opened: Fiber[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
});

afterAll(async () => {
  await Promise.all(opened.map((f) => f.close()));
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

/** A Fiber on the emulator with `middleware` used after the preset. */
function withHooks(...middleware: Middleware[]): Fiber {
  const f = emuFiber(emu).use(...middleware);
  opened.push(f);
  return f;
}

const hook = (name: string, onEvent: EventHook, extra: Partial<MiddlewareSpec> = {}) => defineMiddleware({ name, onEvent, ...extra });

type Done = Extract<StreamEvent, { type: 'done' }>;
type Chunk = Extract<StreamEvent, { type: 'chunk' }>;
const doneOf = (events: StreamEvent[]) => events.at(-1) as Done;
const deltas = (events: StreamEvent[]) => events.filter((e): e is Chunk => e.type === 'chunk').map((e) => e.delta);

describe('onEvent', () => {
  it('sees every event in order, the same the caller gets', async () => {
    emu.script({ status: 503, retryAfterMs: '1' });
    emu.script({ chunks: ['a', 'b', 'c'] });
    const seen: StreamEvent[] = [];
    const f = withHooks(hook('spy', (ev) => { seen.push(ev); return undefined; }));
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['log', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    expect(seen).toEqual(events);
  });

  it('is given the call context', async () => {
    const contexts = new Set<FiberContext>();
    const f = withHooks(hook('ctx', (_ev, ctx) => { contexts.add(ctx); return undefined; }));
    await collect(f.chatStream({ messages: 'hi', idempotencyKey: 'ctx-key' }));
    expect(contexts.size).toBe(1);
    const [ctx] = [...contexts];
    expect(ctx).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', idempotencyKey: 'ctx-key', kind: 'stream', committed: true });
  });

  it('is not called for a chat', async () => {
    let calls = 0;
    const f = withHooks(hook('count', () => { calls++; return undefined; }));
    await f.chat({ messages: 'hi' });
    expect(calls).toBe(0);
  });

  it('transforms a chunk, and result.text is the delivered text', async () => {
    emu.script({ chunks: ['Hello', ' world'] });
    const upper = hook('upper', (ev) => (ev.type === 'chunk' ? { ...ev, delta: ev.delta.toUpperCase() } : undefined));
    const stream = withHooks(upper).chatStream({ messages: 'hi' });
    const { events } = await collect(stream);
    expect(deltas(events)).toEqual(['HELLO', ' WORLD']);
    const result = await stream.result();
    expect(result.text).toBe('HELLO WORLD');
    expect(result.message.content).toBe('HELLO WORLD');
    expect(doneOf(events).result).toBe(result);
  });

  it('drops chunks by returning null, and result.text excludes them', async () => {
    emu.script({ chunks: ['keep ', 'drop ', 'keep'] });
    const dropper = hook('dropper', (ev) => (ev.type === 'chunk' && ev.delta.startsWith('drop') ? null : undefined));
    const { events } = await collect(withHooks(dropper).chatStream({ messages: 'hi' }));
    expect(deltas(events)).toEqual(['keep ', 'keep']);
    expect(doneOf(events).result.text).toBe('keep keep');
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'usage', 'done']);
  });

  it('fans one event out into several', async () => {
    emu.script({ chunks: ['ab', 'cd'] });
    const splitter = hook('splitter', (ev) => (ev.type === 'chunk' ? [...ev.delta].map((c) => ({ ...ev, delta: c })) : undefined));
    const { events } = await collect(withHooks(splitter).chatStream({ messages: 'hi' }));
    expect(deltas(events)).toEqual(['a', 'b', 'c', 'd']);
    expect(doneOf(events).result.text).toBe('abcd');
  });

  it('lets a hook hold text and flush it before done', async () => {
    emu.script({ chunks: ['se', 'cr', 'et'] });
    let held = '';
    const holder = hook('holder', (ev) => {
      if (ev.type === 'chunk') { held += ev.delta; return null; }
      if (ev.type === 'done') return [{ type: 'chunk', delta: `[${held.length} chars]`, t: ev.t }, ev];
      return undefined;
    });
    const { events } = await collect(withHooks(holder).chatStream({ messages: 'hi' }));
    expect(typesOf(events)).toEqual(['usage', 'chunk', 'done']);
    expect(doneOf(events).result.text).toBe('[6 chars]');
  });

  it('awaits an async hook and keeps the order', async () => {
    emu.script({ chunks: ['1', '2', '3', '4'] });
    const slow = hook('slow', async (ev) => {
      await new Promise((r) => setTimeout(r, ev.type === 'chunk' ? 5 - Number(ev.delta) : 0));
      return ev.type === 'chunk' ? { ...ev, delta: `<${ev.delta}>` } : undefined;
    });
    const { events, error } = await collect(withHooks(slow).chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(deltas(events)).toEqual(['<1>', '<2>', '<3>', '<4>']);
    expect(doneOf(events).result.text).toBe('<1><2><3><4>');
  });

  it('drives an async hook from result() alone', async () => {
    emu.script({ chunks: ['x', 'y'] });
    const slow = hook('slow', async (ev) => (ev.type === 'chunk' ? { ...ev, delta: ev.delta.toUpperCase() } : undefined));
    expect((await withHooks(slow).chatStream({ messages: 'hi' }).result()).text).toBe('XY');
  });

  it('cannot drop done', async () => {
    const dropAll = hook('dropAll', () => null);
    const stream = withHooks(dropAll).chatStream({ messages: 'hello' });
    const { events, error } = await collect(stream);
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['done']);
    const result = await stream.result();
    expect(result.text).toBe('');
    expect(result.usage.total).toBeGreaterThan(0);
  });

  it('cannot drop done from an async hook', async () => {
    const dropAll = hook('dropAllAsync', async () => null);
    const { events, error } = await collect(withHooks(dropAll).chatStream({ messages: 'hello' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['done']);
  });

  it('runs hooks innermost first: an outer hook sees what the inner one produced', async () => {
    emu.script({ chunks: ['abc'] });
    const seenByOuter: string[] = [];
    const outer = hook('outer', (ev) => { if (ev.type === 'chunk') seenByOuter.push(ev.delta); return undefined; });
    const inner = hook('inner', (ev) => (ev.type === 'chunk' ? { ...ev, delta: ev.delta.toUpperCase() } : undefined));
    const { events } = await collect(withHooks(outer, inner).chatStream({ messages: 'hi' }));
    expect(seenByOuter).toEqual(['ABC']);
    expect(deltas(events)).toEqual(['ABC']);
  });

  it('hides a dropped event from the outer hooks', async () => {
    emu.script({ chunks: ['a', 'b'] });
    const seenByOuter: string[] = [];
    const outer = hook('outer', (ev) => { seenByOuter.push(ev.type); return undefined; });
    const inner = hook('inner', (ev) => (ev.type === 'chunk' && ev.delta === 'a' ? null : undefined));
    await collect(withHooks(outer, inner).chatStream({ messages: 'hi' }));
    expect(seenByOuter).toEqual(['chunk', 'usage', 'done']);
  });

  it('fails the stream with a FiberError hook_failed when a hook throws, and tells onError once', async () => {
    const errors: FiberError[] = [];
    const thrower = hook('thrower', (ev) => { if (ev.type === 'usage') throw new Error('boom'); return undefined; }, {
      onError: (err) => { errors.push(err); },
    });
    const { events, error } = await collect(withHooks(thrower).chatStream({ messages: 'hello' }));
    expect(error).toBeInstanceOf(FiberError);
    expect(error).toMatchObject({ code: 'hook_failed' });
    expect((error as Error).message).toContain('boom');
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'chunk']);
    expect(errors).toEqual([error]);
    expect(emu.requests).toHaveLength(1);
  });
});

describe('onError', () => {
  /** A middleware that counts its done events and onError calls. */
  function ends() {
    const seen = { done: 0, errors: [] as FiberError[] };
    const mw = defineMiddleware({
      name: 'ends',
      onEvent: (ev) => { if (ev.type === 'done') seen.done++; return undefined; },
      onError: (err) => { seen.errors.push(err); },
    });
    return { seen, mw };
  }

  it('is called once on a failure after commit, and done never comes', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], dropAfterEvents: 2 });
    const { seen, mw } = ends();
    const { error } = await collect(withHooks(mw).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect(seen.errors).toEqual([error]);
    expect(seen.done).toBe(0);
  });

  it('is called once for an in-stream provider error', async () => {
    emu.script({ chunks: ['a', 'b'], inStreamError: { after: 2 } });
    const { seen, mw } = ends();
    const { error } = await collect(withHooks(mw).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(ServerError);
    expect(seen.errors).toEqual([error]);
    expect(seen.done).toBe(0);
  });

  it('is never called on success, and done comes once', async () => {
    const { seen, mw } = ends();
    await collect(withHooks(mw).chatStream({ messages: 'hi' }));
    expect(seen.errors).toEqual([]);
    expect(seen.done).toBe(1);
  });

  it('is called once with the AbortError of stream.abort()', async () => {
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 5_000 } });
    const { seen, mw } = ends();
    const stream = withHooks(mw).chatStream({ messages: 'hi' });
    const it = iter(stream);
    await it.next();
    const pending = it.next();
    stream.abort();
    const err = await rejectionOf(pending);
    expect(err).toBeInstanceOf(AbortError);
    await new Promise((r) => setImmediate(r));
    expect(seen.errors).toEqual([err]);
    expect(seen.done).toBe(0);
  });

  it('is not called for a failure before commit: the middleware sees next() reject instead', async () => {
    emu.script({ status: 503, times: Infinity });
    const rejections: unknown[] = [];
    const { seen } = ends();
    const mw = defineMiddleware({
      name: 'ends',
      async handle(_ctx, next) { try { await next(); } catch (e) { rejections.push(e); throw e; } },
      onError: (err) => { seen.errors.push(err); },
    });
    const { error } = await collect(withHooks(mw).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(OverloadedError);
    expect(rejections).toEqual([error]);
    expect(seen.errors).toEqual([]);
  });

  it('keeps the stream error when an onError hook throws', async () => {
    emu.script({ chunks: ['a', 'b'], dropAfterEvents: 2 });
    const bad = defineMiddleware({ name: 'bad', onError: () => { throw new Error('hook broke'); } });
    const { error } = await collect(withHooks(bad).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
  });
});

describe('onEvent with `events`', () => {
  it('calls a hook only for the event types it declared', async () => {
    emu.script({ status: 503, retryAfterMs: '1' });
    emu.script({ chunks: ['a', 'b', 'c'] });
    const seen: string[] = [];
    const f = withHooks(hook('done-only', (ev) => { seen.push(ev.type); return undefined; }, { events: ['done'] }));
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['log', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    expect(seen).toEqual(['done']);
  });

  it('hands a done-only hook the `done` an inner hook made out of a chunk', async () => {
    emu.script({ chunks: ['a', 'b', 'c', 'd'] });
    const seen: StreamEvent[] = [];
    // Used after the spy, so it is inner and runs first: it ends the stream at the second chunk (as a budget does).
    const stopper = hook('stop-at-b', (ev) => {
      if (ev.type !== 'chunk' || ev.delta !== 'b') return undefined;
      return { type: 'done', t: ev.t, result: { text: 'ab', reasoning: null, toolCalls: [], message: { role: 'assistant', content: 'ab' }, finishReason: 'length', usage: { prompt: 1, completion: 2, total: 3, costEstimate: null }, raw: null, model: 'gpt-4o-mini', provider: 'openai', id: null, latencyMs: 1, ttfbMs: 1, attempts: 1, cached: false } } as StreamEvent;
    });
    const spy = hook('done-spy', (ev) => { seen.push(ev); return undefined; }, { events: ['done'] });
    const f = withHooks(spy, stopper);
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(deltas(events)).toEqual(['a']);
    expect(seen.map((e) => e.type)).toEqual(['done']);
    expect((seen[0] as Done).result.finishReason).toBe('length');
  });

  it('keeps the filter on the general path (after an async hook)', async () => {
    emu.script({ chunks: ['a', 'b'] });
    const seen: string[] = [];
    const slow = hook('async', async () => undefined);
    const spy = hook('done-only', (ev) => { seen.push(ev.type); return undefined; }, { events: ['done'] });
    const f = withHooks(spy, slow);
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(deltas(events)).toEqual(['a', 'b']);
    expect(seen).toEqual(['done']);
  });

  it('validates `events`', () => {
    const noop: EventHook = () => undefined;
    expect(() => hook('x', noop, { events: [] })).toThrow(/events must be a non-empty array/);
    expect(() => hook('x', noop, { events: ['chunks' as never] })).toThrow(/events must be a non-empty array/);
    expect(() => defineMiddleware({ name: 'x', events: ['done'] })).toThrow(/events needs an onEvent hook/);
    // hand-built middleware: checked when it joins a Fiber
    const handMade = Object.assign(async (_ctx: FiberContext, next: () => Promise<void>) => next(), { onEvent: noop, events: 'done' as never });
    expect(() => withHooks(handMade)).toThrow(/events must be an array/);
  });

  it('composes: a bundle wants what its parts want', () => {
    const noop: EventHook = () => undefined;
    const a = hook('a', noop, { events: ['done'] });
    const b = hook('b', noop, { events: ['usage', 'done'] });
    const c = hook('c', noop);
    expect([...compose([a, b]).events!].sort()).toEqual(['done', 'usage']);
    expect(compose([a, c]).events).toBeUndefined();
  });
});

describe('an async hook that never settles', () => {
  it('does not hold the caller past the deadline', async () => {
    emu.script({ chunks: ['a', 'b'] });
    const stuck = hook('stuck', (ev) => (ev.type === 'chunk' && ev.delta === 'b' ? new Promise(() => {}) : undefined));
    const f = withHooks(stuck);
    const s = f.chatStream({ messages: 'hi', timeout: 200 });
    const t0 = performance.now();
    const { events, error } = await collect(s);
    expect(deltas(events)).toEqual(['a']);
    expect(error).toMatchObject({ name: 'TimeoutError', phase: 'total' });
    expect(performance.now() - t0).toBeLessThan(2_000);
    await expect(s.result()).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('lets abort() end a next() that waits on it', async () => {
    emu.script({ chunks: ['a', 'b'] });
    const stuck = hook('stuck', (ev) => (ev.type === 'chunk' && ev.delta === 'b' ? new Promise(() => {}) : undefined));
    const s = withHooks(stuck).chatStream({ messages: 'hi' });
    const it = s[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'chunk', delta: 'a' });
    const pending = it.next();
    setTimeout(() => s.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'aborted' });
  });
});
