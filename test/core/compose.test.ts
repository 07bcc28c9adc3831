import { beforeAll, describe, expect, it } from 'vitest';
import { compose, defineMiddleware } from '../../src/compose.js';
import { ConfigError, FiberError, RateLimitError, ServerError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import type { ChatResult, FiberContext, Middleware, Next } from '../../src/types.js';
import { collect, emuFiber, rejectionOf, typesOf } from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';

const emu = useEmulator();
let fiber: Fiber;

beforeAll(() => {
  fiber = closeAfterAll(emuFiber(emu));
});

/** A middleware that records `<name>:in` before `next()` and `<name>:out` after it. */
function tracer(name: string, log: string[]): Middleware {
  return async (_ctx, next) => {
    log.push(`${name}:in`);
    await next();
    log.push(`${name}:out`);
  };
}

/** A bare context for running `compose()` directly: compose itself reads nothing from it. */
const bareCtx = () => ({ state: {} }) as unknown as FiberContext;
const noop = async () => {};

function fakeResult(text: string): ChatResult {
  return {
    text, reasoning: null, toolCalls: [], message: { role: 'assistant', content: text }, finishReason: 'stop',
    usage: { prompt: 1, completion: 2, total: 3, costEstimate: null }, raw: null, model: 'gpt-4o-mini',
    provider: 'openai', id: 'short-circuit', latencyMs: 0, ttfbMs: null, attempts: 0, cached: true,
  };
}

describe('compose()', () => {
  it('runs middleware outside-in and unwinds inside-out', async () => {
    const log: string[] = [];
    await compose([tracer('a', log), tracer('b', log)])(bareCtx(), async () => { log.push('core'); });
    expect(log).toEqual(['a:in', 'b:in', 'core', 'b:out', 'a:out']);
  });

  it('rejects a second next() with ConfigError next_called_twice', async () => {
    const twice: Middleware = async (_ctx, next) => { await next(); await next(); };
    let inner = 0;
    const err = await rejectionOf(compose([twice])(bareCtx(), async () => { inner++; }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('next_called_twice');
    expect(inner).toBe(1);
  });

  it('propagates an inner error to an outer try/catch around next()', async () => {
    const boom = new ServerError('inner failed', { code: 'boom' });
    const seen: unknown[] = [];
    const outer: Middleware = async (_ctx, next) => {
      try { await next(); } catch (e) { seen.push(e); throw e; }
    };
    const inner: Middleware = async () => { throw boom; };
    await expect(compose([outer, inner])(bareCtx(), noop)).rejects.toBe(boom);
    expect(seen).toEqual([boom]);
  });

  it('turns a synchronous throw in a middleware into a rejection', async () => {
    const sync = (() => { throw new ConfigError('sync', { code: 'sync_throw' }); }) as unknown as Middleware;
    const p = compose([sync])(bareCtx(), noop);
    expect(p).toBeInstanceOf(Promise);
    expect((await rejectionOf(p)).code).toBe('sync_throw');
  });

  it('stops at a middleware that does not call next()', async () => {
    const log: string[] = [];
    const stop: Middleware = async () => { log.push('stop'); };
    await compose([tracer('a', log), stop, tracer('c', log)])(bareCtx(), async () => { log.push('core'); });
    expect(log).toEqual(['a:in', 'stop', 'a:out']);
  });

  it('rejects a non-array with ConfigError', () => {
    expect(() => compose('nope' as unknown as Middleware[])).toThrow(ConfigError);
  });

  it('rejects an element that is not a function with ConfigError naming its index', () => {
    expect(() => compose([tracer('a', []), 42 as unknown as Middleware])).toThrow(/index 1/);
  });

  it('rejects middleware of mixed scopes with ConfigError', () => {
    const req = defineMiddleware({ name: 'r' });
    const att = defineMiddleware({ name: 'a', scope: 'attempt' });
    expect(() => compose([req, att])).toThrow(ConfigError);
  });

  it('keeps the scope of its parts', () => {
    const att = defineMiddleware({ name: 'a', scope: 'attempt' });
    expect(compose([att]).scope).toBe('attempt');
    expect(compose([]).scope).toBe('request');
  });
});

describe('defineMiddleware()', () => {
  const invalid: Array<[string, unknown, RegExp]> = [
    ['a spec that is not an object', null, /expected a spec object/],
    ['an empty name', { name: '' }, /`name` must be a non-empty string/],
    ['a missing name', {}, /`name` must be a non-empty string/],
    ['an unknown scope', { name: 'x', scope: 'call' }, /scope must be 'request' or 'attempt'/],
    ['a handle that is not a function', { name: 'x', handle: 'go' }, /`handle` must be a function/],
    ['an onEvent that is not a function', { name: 'x', onEvent: {} }, /`onEvent` must be a function/],
    ['an onError that is not a function', { name: 'x', onError: 1 }, /`onError` must be a function/],
    ['an unknown key', { name: 'x', hande: () => undefined }, /unknown option "hande"/],
  ];
  it.each(invalid)('rejects %s with ConfigError', (_what, spec, message) => {
    let thrown: unknown;
    try {
      defineMiddleware(spec as Parameters<typeof defineMiddleware>[0]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
  });

  it('makes a middleware that carries its name, scope and hooks', () => {
    const onEvent = () => undefined;
    const mw = defineMiddleware({ name: 'stamp', scope: 'attempt', onEvent });
    expect(mw.middlewareName).toBe('stamp');
    expect(mw.scope).toBe('attempt');
    expect(mw.onEvent).toBe(onEvent);
    expect(mw.name).toBe('stamp');
  });

  it('passes straight to next() when it has no handle', async () => {
    const log: string[] = [];
    await compose([defineMiddleware({ name: 'empty' })])(bareCtx(), async () => { log.push('core'); });
    expect(log).toEqual(['core']);
  });
});

describe('the Fiber onion', () => {
  it('runs used middleware as an onion around the provider request', async () => {
    const log: string[] = [];
    const seenRequests: number[] = [];
    const probe: Middleware = async (_ctx, next) => {
      seenRequests.push(emu.requests.length);
      await next();
      seenRequests.push(emu.requests.length);
    };
    const f = emuFiber(emu).use(tracer('a', log), tracer('b', log), probe);
    try {
      await f.chat({ messages: 'hi' });
    } finally {
      await f.close();
    }
    expect(log).toEqual(['a:in', 'b:in', 'b:out', 'a:out']);
    expect(seenRequests).toEqual([0, 1]);
  });

  it('rejects the call with ConfigError next_called_twice and sends one request', async () => {
    const twice: Middleware = async (_ctx, next) => { await next(); await next(); };
    const f = emuFiber(emu).use(twice);
    try {
      const err = await rejectionOf(f.chat({ messages: 'hi' }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.code).toBe('next_called_twice');
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(1);
  });

  it('returns the result a middleware set without calling next(), sending nothing', async () => {
    const cached = fakeResult('from cache');
    const shortCircuit: Middleware = async (ctx) => { ctx.result = cached; };
    const f = emuFiber(emu).use(shortCircuit);
    try {
      const result = await f.chat({ messages: 'hi' });
      expect(result).toBe(cached);
    } finally {
      await f.close();
    }
    expect(emu.requests).toEqual([]);
  });

  it('replays the result a middleware set on a stream without calling next(), sending nothing', async () => {
    const shortCircuit: Middleware = async (ctx) => { ctx.result = fakeResult('from cache'); };
    const f = emuFiber(emu).use(shortCircuit);
    try {
      const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
      expect(error).toBeNull();
      expect(typesOf(events)).toEqual(['chunk', 'usage', 'done']);
      const done = events.at(-1) as Extract<(typeof events)[number], { type: 'done' }>;
      expect(done.result.text).toBe('from cache');
      expect(done.result.id).toBe('short-circuit');
    } finally {
      await f.close();
    }
    expect(emu.requests).toEqual([]);
  });

  it('lets an outer try/catch around next() see the typed provider error', async () => {
    emu.script({ status: 429, retryAfter: '3' });
    const seen: unknown[] = [];
    const outer: Middleware = async (_ctx, next) => {
      try { await next(); } catch (e) { seen.push(e); throw e; }
    };
    const f = emuFiber(emu, { retry: false }).use(outer);
    let err: FiberError;
    try {
      err = await rejectionOf(f.chat({ messages: 'hi' }));
    } finally {
      await f.close();
    }
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfterMs).toBe(3000);
    expect(seen).toEqual([err]);
    expect(emu.requests).toHaveLength(1);
  });

  it('resolves the call when an outer middleware recovers from the error by setting a result', async () => {
    emu.script({ status: 500 });
    const fallbackResult = fakeResult('recovered');
    const recover: Middleware = async (ctx, next) => {
      try { await next(); } catch { ctx.result = fallbackResult; }
    };
    const f = emuFiber(emu, { retry: false }).use(recover);
    try {
      expect(await f.chat({ messages: 'hi' })).toBe(fallbackResult);
    } finally {
      await f.close();
    }
    expect(emu.requests).toHaveLength(1);
  });

  it('runs an attempt-scope middleware once per attempt and a request-scope one once per call', async () => {
    emu.script({ status: 503, times: Infinity });
    const perAttempt: number[] = [];
    const perRequest: number[] = [];
    const attemptMw = defineMiddleware({
      name: 'perAttempt', scope: 'attempt',
      handle: (ctx, next) => { perAttempt.push(ctx.attempt); return next(); },
    });
    const requestMw = defineMiddleware({
      name: 'perRequest',
      handle: (ctx, next) => { perRequest.push(ctx.attempt); return next(); },
    });
    const f = emuFiber(emu).use(attemptMw, requestMw);
    let err: FiberError;
    try {
      err = await rejectionOf(f.chat({ messages: 'hi' }));
    } finally {
      await f.close();
    }
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(3);
    expect(perAttempt).toEqual([1, 2, 3]);
    expect(perRequest).toEqual([0]);
    expect(emu.requests).toHaveLength(3);
  });

  it('runs request scope before attempt scope whatever the use() order', async () => {
    const log: string[] = [];
    const attemptMw = defineMiddleware({
      name: 'att', scope: 'attempt',
      async handle(_ctx, next) { log.push('att:in'); await next(); log.push('att:out'); },
    });
    const requestMw = defineMiddleware({
      name: 'req',
      async handle(_ctx, next) { log.push('req:in'); await next(); log.push('req:out'); },
    });
    const f = emuFiber(emu).use(attemptMw, requestMw);
    try {
      await f.chat({ messages: 'hi' });
    } finally {
      await f.close();
    }
    expect(log).toEqual(['req:in', 'att:in', 'att:out', 'req:out']);
  });

  it('rejects use() of something that is not a middleware with ConfigError', () => {
    expect(() => fiber.use('logging' as unknown as Middleware)).toThrow(ConfigError);
  });

  it('accepts a composed bundle in use()', async () => {
    const log: string[] = [];
    const f = emuFiber(emu).use(compose([tracer('a', log), tracer('b', log)]));
    try {
      await f.chat({ messages: 'hi' });
    } finally {
      await f.close();
    }
    expect(log).toEqual(['a:in', 'b:in', 'b:out', 'a:out']);
    expect(emu.requests).toHaveLength(1);
  });

  it('resolves next() once the provider result is on ctx', async () => {
    let atReturn: ChatResult | undefined;
    const probe: Middleware = async (ctx, next: Next) => { await next(); atReturn = ctx.result; };
    const f = emuFiber(emu).use(probe);
    try {
      const result = await f.chat({ messages: 'hello' });
      expect(atReturn).toBe(result);
      expect(result.text).toBe('You said: hello');
    } finally {
      await f.close();
    }
  });
});
