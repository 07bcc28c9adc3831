/**
 * The onion kernel. `compose` is plain Koa: middleware run outside-in, `await next()` runs everything inside, an
 * error propagates outward, a middleware may short-circuit by not calling `next()`, and calling `next()` twice
 * rejects (it would send a second, paid request).
 */
import { ConfigError, FiberError } from './errors.js';
import type { EventHook, ErrorHook, FiberContext, HookOut, Middleware, MiddlewareSpec, Next, StreamEvent } from './types.js';

const noopNext: Next = () => Promise.resolve();

/**
 * Compose middleware into one. Stream hooks of the parts are chained (innermost first) onto the result, so a
 * composed bundle behaves like its parts used one after another within a single scope.
 * @example const stack = compose([mwA, mwB]); fiber.use(stack);
 */
export function compose(middleware: readonly Middleware[]): Middleware {
  if (!Array.isArray(middleware)) throw new ConfigError('compose: expected an array of middleware');
  for (let i = 0; i < middleware.length; i++) {
    if (typeof middleware[i] !== 'function') throw new ConfigError(`compose: middleware at index ${i} is not a function`);
  }
  const stack = middleware.slice();
  const composed = function composed(ctx: FiberContext, next?: Next): Promise<void> {
    return run(stack, ctx, next ?? noopNext);
  } as Middleware;
  const onEvent = chainHooks(stack.map(hookOf).filter(isFn).reverse());
  // The bundle's hook is the chain: it wants what any part wants (every type if one part takes them all).
  const withHooks = stack.filter((m) => typeof m.onEvent === 'function');
  const events = withHooks.some((m) => m.events === undefined)
    ? undefined
    : Object.freeze([...new Set(withHooks.flatMap((m) => m.events!))]);
  const errorHooks = stack.map((m) => m.onError).filter(isFn).reverse();
  const onError: ErrorHook | undefined = errorHooks.length === 0 ? undefined : async (err, ctx) => {
    for (const h of errorHooks) await h(err, ctx);
  };
  const scopes = new Set(stack.map((m) => m.scope ?? 'request'));
  if (scopes.size > 1) throw new ConfigError('compose: all composed middleware must share one scope');
  Object.defineProperties(composed, {
    scope: { value: scopes.values().next().value ?? 'request' },
    onEvent: { value: onEvent },
    events: { value: onEvent === undefined ? undefined : events },
    onError: { value: onError },
    middlewareName: { value: 'compose' },
  });
  return composed;
}

/** Run `stack` around `last` (Koa semantics). Used by the Fiber for each scope, once per call or attempt. */
export function run(stack: readonly Middleware[], ctx: FiberContext, last: Next): Promise<void> {
  let index = -1;
  const n = stack.length;
  function dispatch(i: number): Promise<void> {
    if (i <= index) {
      return Promise.reject(new ConfigError('middleware called next() more than once', { code: 'next_called_twice' }));
    }
    index = i;
    const fn = i === n ? last : stack[i]!;
    try {
      return i === n ? (fn as Next)() : (fn as Middleware)(ctx, dispatch.bind(null, i + 1));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return dispatch(0);
}

/**
 * Define a middleware from a spec: the handler plus optional stream hooks and scope.
 * @example
 * const stamp = defineMiddleware({ name: 'stamp', handle: (ctx, next) => { ctx.state.stamp = Date.now(); return next(); } });
 */
export function defineMiddleware(spec: MiddlewareSpec): Middleware {
  if (spec === null || typeof spec !== 'object') throw new ConfigError('defineMiddleware: expected a spec object');
  const { name, scope, handle, onEvent, onError, events } = spec;
  if (typeof name !== 'string' || name === '') throw new ConfigError('defineMiddleware: `name` must be a non-empty string');
  if (scope !== undefined && scope !== 'request' && scope !== 'attempt') {
    throw new ConfigError(`defineMiddleware(${name}): scope must be 'request' or 'attempt'`);
  }
  for (const [k, v] of [['handle', handle], ['onEvent', onEvent], ['onError', onError]] as const) {
    if (v !== undefined && typeof v !== 'function') throw new ConfigError(`defineMiddleware(${name}): \`${k}\` must be a function`);
  }
  for (const k of Object.keys(spec)) {
    if (!['name', 'scope', 'handle', 'onEvent', 'onError', 'events'].includes(k)) throw new ConfigError(`defineMiddleware(${name}): unknown option "${k}"`);
  }
  if (events !== undefined) {
    checkEvents(events, `defineMiddleware(${name})`, true);
    if (onEvent === undefined) throw new ConfigError(`defineMiddleware(${name}): events needs an onEvent hook`);
  }
  const body = handle ?? ((_ctx: FiberContext, next: Next) => next());
  const mw = { [name]: (ctx: FiberContext, next: Next) => body(ctx, next) }[name] as Middleware;
  Object.defineProperties(mw, {
    scope: { value: scope ?? 'request', enumerable: true },
    onEvent: { value: onEvent, enumerable: true },
    events: { value: events === undefined ? undefined : Object.freeze([...events]), enumerable: true },
    onError: { value: onError, enumerable: true },
    middlewareName: { value: name, enumerable: true },
  });
  return mw;
}

const EVENT_TYPES: ReadonlySet<string> = new Set<StreamEvent['type']>(['chunk', 'reasoning', 'tool_call', 'usage', 'log', 'done']);

/** `events` must be an array of stream event types (non-empty from `defineMiddleware`), wherever it came from. */
function checkEvents(events: unknown, where: string, nonEmpty: boolean): void {
  if (!Array.isArray(events) || (nonEmpty && events.length === 0) || events.some((t) => !EVENT_TYPES.has(t))) {
    throw new ConfigError(`${where}: events must be ${nonEmpty ? 'a non-empty' : 'an'} array of ${[...EVENT_TYPES].join(', ')}`);
  }
}

/**
 * A middleware's hook as the pipeline runs it: `onEvent` itself, or, when it declared `events`, a filter in front
 * of it (so the general path never hands it other types). The stream's inline loop also skips the call entirely
 * for chunks a hook does not want (`wantsChunks`).
 */
export function hookOf(m: Middleware): EventHook | undefined {
  const hook = m.onEvent;
  const events = m.events;
  if (typeof hook !== 'function' || events === undefined) return hook;
  // A hand-built middleware carries `events` unchecked: a string here would become a set of letters.
  checkEvents(events, `middleware ${m.middlewareName ?? m.name ?? ''}`, false);
  const wanted = new Set<string>(events);
  return (event, ctx) => (wanted.has(event.type) ? hook(event, ctx) : undefined);
}

/** Whether a middleware's hook wants `chunk` events (no `events` declared: every type). */
export function wantsChunks(m: Middleware): boolean {
  return m.events === undefined || m.events.includes('chunk');
}

function isFn<T>(v: T | undefined): v is T {
  return typeof v === 'function';
}

/**
 * Chain event hooks into one (hooks given innermost first). `undefined` passes the event on, `null` drops it (never
 * `done`), an event replaces it, an array fans out; promises are awaited only when a hook returns one.
 */
export function chainHooks(hooks: readonly EventHook[]): EventHook | undefined {
  if (hooks.length === 0) return undefined;
  if (hooks.length === 1) return hooks[0];
  return (event, ctx) => {
    const out: StreamEvent[] = [];
    const r = applyHooks(hooks, 0, event, ctx, out);
    if (r === undefined) return out.length === 1 ? out[0] : out.length === 0 ? null : out;
    return r.then(() => (out.length === 1 ? out[0] : out.length === 0 ? null : out));
  };
}

/**
 * Run `event` through `hooks[i..]`, pushing what comes out onto `out`. Returns a promise only if some hook was
 * async; the synchronous path allocates nothing.
 */
export function applyHooks(
  hooks: readonly EventHook[],
  i: number,
  event: StreamEvent,
  ctx: FiberContext,
  out: StreamEvent[],
): Promise<void> | undefined {
  for (; i < hooks.length; i++) {
    let r: HookOut | Promise<HookOut>;
    try {
      r = hooks[i]!(event, ctx);
    } catch (err) {
      throw hookError(err);
    }
    if (r === undefined) continue;
    if (r === null) {
      if (event.type === 'done') continue; // `done` cannot be dropped
      return undefined;
    }
    if (typeof (r as Promise<HookOut>).then === 'function') {
      const next = i + 1;
      return (r as Promise<HookOut>).then(
        (v) => settle(hooks, next, event, v, ctx, out),
        (err) => { throw hookError(err); },
      );
    }
    if (Array.isArray(r)) return fanOut(hooks, i + 1, keepDoneIn(r, event), ctx, out);
    event = r as StreamEvent;
  }
  out.push(event);
  return undefined;
}

/** `done` cannot be dropped: a fan-out that left it out gets it back at the end, and the outer hooks still see it. */
function keepDoneIn(events: StreamEvent[], event: StreamEvent): StreamEvent[] {
  if (event.type !== 'done') return events;
  for (let k = 0; k < events.length; k++) if (events[k]!.type === 'done') return events;
  return [...events, event];
}

/**
 * Continue after hook `i - 1` returned `r` for `event` (any kind of result, a promise included): the slow path
 * behind the inline loop in `FiberStream`.
 */
export function resumeHooks(
  hooks: readonly EventHook[], i: number, event: StreamEvent, r: HookOut | Promise<HookOut>, ctx: FiberContext, out: StreamEvent[],
): Promise<void> | undefined {
  if (r !== null && r !== undefined && typeof (r as Promise<HookOut>).then === 'function') {
    return (r as Promise<HookOut>).then(
      (v) => settle(hooks, i, event, v, ctx, out),
      (err) => { throw hookError(err); },
    );
  }
  return settle(hooks, i, event, r as HookOut, ctx, out);
}

function settle(hooks: readonly EventHook[], i: number, event: StreamEvent, v: HookOut, ctx: FiberContext, out: StreamEvent[]): Promise<void> | undefined {
  if (v === undefined) return applyHooks(hooks, i, event, ctx, out);
  if (v === null) return event.type === 'done' ? applyHooks(hooks, i, event, ctx, out) : undefined;
  if (Array.isArray(v)) return fanOut(hooks, i, keepDoneIn(v, event), ctx, out);
  return applyHooks(hooks, i, v, ctx, out);
}

function fanOut(hooks: readonly EventHook[], i: number, events: StreamEvent[], ctx: FiberContext, out: StreamEvent[]): Promise<void> | undefined {
  for (let k = 0; k < events.length; k++) {
    const r = applyHooks(hooks, i, events[k]!, ctx, out);
    if (r !== undefined) {
      const rest = events.slice(k + 1);
      return r.then(() => fanOut(hooks, i, rest, ctx, out));
    }
  }
  return undefined;
}

export function hookError(err: unknown): FiberError {
  if (err instanceof FiberError) return err;
  return new FiberError(`onEvent hook threw: ${err instanceof Error ? err.message : String(err)}`, { code: 'hook_failed', cause: err });
}
