/**
 * `FiberStream`: the caller's end of a streaming call, and the event pipeline that runs `onEvent` hooks.
 *
 * Pull-based. Nothing happens until the first `next()` (or `result()`): that runs the middleware onion, which
 * returns once the first event is buffered (commit point). After that each `next()` takes one event from the
 * source, runs it through the hooks (innermost first) and hands it over. When an event is already buffered and no
 * hook is async, `next()` returns an already-resolved promise: no generator, no per-middleware stream, no array.
 * The socket is paused by the source while the consumer lags (see `StreamCall`), so a slow reader bounds memory.
 *
 * Ending: the source ends cleanly → a `done` event built from the provider's final facts and the text actually
 * delivered goes through the hooks and is always last. The source fails → the `onError` hooks run once and the
 * iterator throws. `abort()` rejects the pending and next `next()` and `result()` with `AbortError`; `break`
 * (iterator `return()`) releases the socket silently.
 */
import { applyHooks, hookError, resumeHooks } from './compose.js';
import type { CallContext, LogSink } from './context.js';
import { AbortError, FiberError, toFiberError } from './errors.js';
import { buildResult } from './result.js';
import type { ChatResult, ErrorHook, EventHook, EventSource, StreamEvent, StreamFinal } from './types.js';

const IDLE = 0;
const STARTING = 1;
const OPEN = 2;
const DONE = 3;
const FAILED = 4;
const CLOSED = 5;

const DONE_RESULT: IteratorResult<StreamEvent> = Object.freeze({ done: true, value: undefined }) as IteratorResult<StreamEvent>;

/** Runs the onion for a stream and returns the committed context (with `ctx.source` set). */
export type StreamStarter = (stream: FiberStream) => Promise<CallContext>;

/** A streaming call: an async iterable of `StreamEvent`s with `abort()` and `result()`. */
export class FiberStream implements AsyncIterableIterator<StreamEvent>, LogSink {
  private state = IDLE;
  private ctx: CallContext | null = null;
  private source: EventSource | null = null;
  private readonly out: StreamEvent[] = [];
  private outHead = 0;
  private text = '';
  private doneQueued = false;
  private failure: FiberError | null = null;
  private pendingHook: Promise<void> | null = null;
  /** A pre-commit failure to throw once the retry `log` events before it were handed over. */
  private pendingFailure: FiberError | null = null;
  private slowCalls = 0;
  private tail: Promise<unknown> | null = null;
  private iterating = false;
  /** Calls of the caller's `next()`, and the promise of the last one (so `drive()` never races it). */
  private callerNexts = 0;
  private callerPending: Promise<unknown> | null = null;
  /** A `done` event has been through every hook (it is queued for delivery). */
  private doneThroughHooks = false;
  private final: ChatResult | null = null;
  private resultPromise: Promise<ChatResult> | null = null;
  private resolveResult: ((r: ChatResult) => void) | null = null;
  private rejectResult: ((e: FiberError) => void) | null = null;

  /** @internal */
  constructor(
    private readonly starter: StreamStarter,
    private readonly hooks: readonly EventHook[],
    private readonly errorHooks: readonly ErrorHook[],
    /** Parallel to `hooks`: hooks that take no `chunk` events (declared with `events`) are not called for chunks. */
    private readonly skipChunks: readonly boolean[] = [],
  ) {}

  /** @internal The Fiber registers the call's context as soon as it exists, so `abort()` can reach it. */
  attach(ctx: CallContext): void {
    this.ctx = ctx;
    if (this.state === FAILED && this.failure !== null) ctx.abort(this.failure);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    this.iterating = true;
    this.callerNexts++;
    const p = this.pull();
    this.callerPending = p;
    return p;
  }

  /** One event for whoever drives: the caller's `next()`, or `drive()` for a lone `result()`. */
  private pull(): Promise<IteratorResult<StreamEvent>> {
    if (this.slowCalls === 0 && this.state === OPEN && this.pendingHook === null) {
      let ev: StreamEvent | undefined;
      try {
        ev = this.pullSync();
      } catch (e) {
        return this.serial(() => this.failWith(toFiberError(e)));
      }
      if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    }
    return this.serial(() => this.nextSlow());
  }

  /** Leaving a `for await` loop early: release the connection, silently. */
  return(): Promise<IteratorResult<StreamEvent>> {
    if (this.state <= OPEN) {
      const err = new AbortError('llm-fiber: stream closed by the consumer', { code: 'consumer_closed' });
      const wasOpen = this.state === OPEN && this.pendingFailure === null && !this.doneThroughHooks;
      this.state = CLOSED;
      this.failure = err;
      this.ctx?.abort(err);
      this.ctx?.stopClock();
      if (wasOpen) void this.runErrorHooks(err);
      this.rejectResult?.(err);
      this.settleResult();
      this.releaseWaiters();
    }
    return Promise.resolve(DONE_RESULT);
  }

  /** Cancel the call: the pending and next iteration and `result()` reject with `AbortError`; the socket is released. */
  abort(): void {
    if (this.state >= DONE) return;
    const err = new AbortError('llm-fiber: stream aborted by the caller', {
      code: 'aborted', provider: this.ctx?.provider, model: this.ctx?.model, attempts: this.ctx?.attempt,
    });
    const wasOpen = this.state === OPEN && this.pendingFailure === null && !this.doneThroughHooks;
    this.state = FAILED;
    this.failure = err;
    this.ctx?.abort(err);
    this.ctx?.stopClock();
    if (wasOpen) void this.runErrorHooks(err);
    this.rejectResult?.(err);
    this.settleResult();
    this.releaseWaiters();
  }

  /**
   * The final `ChatResult`. Drives the stream itself when nobody iterates. Its rejection is reported only through
   * the returned promise (never as an unhandled rejection unless the caller drops it).
   */
  result(): Promise<ChatResult> {
    if (this.resultPromise === null) {
      this.resultPromise = new Promise<ChatResult>((resolve, reject) => {
        this.resolveResult = resolve;
        this.rejectResult = reject;
      });
      if (this.state === DONE && this.final !== null) this.resolveResult!(this.final);
      else if ((this.state === FAILED || this.state === CLOSED) && this.failure !== null) this.rejectResult!(this.failure);
      else void this.drive(); // drive() never races a caller that iterates (see there)
    }
    return this.resultPromise;
  }

  /** @internal `ctx.log()` after commit lands here, in order with the stream's own events. */
  pushLog(event: StreamEvent): void {
    if (this.state !== OPEN) return;
    this.enqueue(event);
  }

  // ---------------------------------------------------------------------------------------------------------

  /**
   * Drive the stream for a `result()` nobody iterates. Deferred by one macrotask, and it stops pulling once the
   * caller iterates: `const r = s.result(); for await (const e of s) ...` must hand the caller every event, not
   * split them between the caller and this loop (the caller's iteration then settles `result()`).
   */
  private async drive(): Promise<void> {
    await macrotask();
    try {
      for (;;) {
        if (this.state >= DONE) return;
        if (this.iterating) {
          // The caller iterates too: never race it. Let its pending next() settle, then give it a turn to ask
          // again; pull (the events go nowhere) only when it did not, i.e. it stopped iterating.
          const seen = this.callerNexts;
          if (this.callerPending !== null) await this.callerPending.catch(noop);
          await macrotask();
          if (this.callerNexts !== seen) continue;
        }
        if ((await this.pull()).done) return;
      }
    } catch {
      // Already reported: failWith() rejected the result promise with this error.
    }
  }

  /**
   * @internal The call was cancelled from outside the stream (its deadline, the caller's signal, a hook's
   * `ctx.abort()`): end the stream now, so `result()` settles and the `onError` hooks run even if nobody is
   * pulling.
   */
  streamAborted(reason: FiberError): void {
    if (this.state === OPEN && this.pendingFailure === null) void this.failWith(reason).catch(noop);
    this.releaseWaiters();
  }

  /** Settled when the stream is ended from outside (deadline, signal, `abort()`, `return()`): see `untilStopped`. */
  private stopped: Promise<void> | null = null;
  private resolveStopped: (() => void) | null = null;

  /** A `next()` waiting on an async hook must not outlive the stream: it waits on this too. */
  private untilStopped(): Promise<void> {
    return this.stopped ??= new Promise<void>((resolve) => { this.resolveStopped = resolve; });
  }

  private releaseWaiters(): void {
    if (this.resolveStopped !== null) { this.resolveStopped(); this.resolveStopped = null; }
    else this.stopped ??= Promise.resolve();
  }

  /**
   * Run slow-path calls one at a time (a caller may call `next()` again before the previous promise settled).
   * The count drops synchronously when a slow call finishes, so the following `next()` takes the fast path.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        return await fn();
      } finally {
        this.slowCalls--;
      }
    };
    const p = this.slowCalls++ === 0 || this.tail === null ? run() : this.tail.then(run, run);
    this.tail = p;
    return p;
  }

  private async nextSlow(): Promise<IteratorResult<StreamEvent>> {
    if (this.state === IDLE) await this.start();
    for (;;) {
      const state = this.state;
      if (state === DONE || state === CLOSED) return DONE_RESULT;
      if (state === FAILED) throw this.failure!;
      const aborted = this.ctx?.abortReason ?? null;
      if (aborted !== null && this.pendingFailure === null) return this.failWith(aborted);
      if (this.pendingHook !== null) {
        const p = this.pendingHook;
        let settled = false;
        try {
          // An async hook that never settles must not hold the caller past the stream's end (its deadline).
          await Promise.race([p.then(() => { settled = true; }), this.untilStopped()]);
        } catch (e) {
          return this.failWith(toFiberError(e));
        }
        // Stopped first: the hook is abandoned (whatever it yields later goes nowhere) and the loop ends the stream.
        if (this.pendingHook === p) this.pendingHook = null;
        if (!settled && this.state === OPEN && this.pendingFailure === null) return this.failWith(this.ctx?.abortReason ?? toFiberError(new Error('stream stopped')));
        continue;
      }
      let ev: StreamEvent | undefined;
      try {
        ev = this.pullSync();
      } catch (e) {
        return this.failWith(toFiberError(e));
      }
      if (ev !== undefined) return { value: ev, done: false };
      if (this.pendingHook !== null) continue;
      if (this.pendingFailure !== null) {
        const err = this.pendingFailure;
        this.pendingFailure = null;
        this.state = FAILED;
        this.failure = err;
        this.rejectResult?.(err);
        this.settleResult();
        throw err;
      }
      const src = this.source!;
      if (src.error !== null) return this.failWith(src.error);
      if (src.ended) {
        if (this.doneQueued) return DONE_RESULT;
        this.doneQueued = true;
        const ctx = this.ctx!;
        let done: StreamEvent;
        try {
          done = { type: 'done', result: buildResult(src.final(), ctx, this.text), t: performance.now() - ctx.timing.startedAt };
        } catch (e) {
          return this.failWith(toFiberError(e, { provider: ctx.provider, model: ctx.model }));
        }
        this.enqueue(done);
        continue;
      }
      await src.wait();
    }
  }

  private async start(): Promise<void> {
    this.state = STARTING;
    let ctx: CallContext;
    try {
      ctx = await this.starter(this);
    } catch (e) {
      const err = toFiberError(e);
      if (this.state === STARTING) {
        const pre = this.ctx?.preEvents ?? null;
        this.ctx?.stopClock();
        if (pre !== null && pre.length > 0) {
          // The call failed before its first event, but it retried on the way: hand over the retry `log` events
          // (they explain the failure), then throw. The middleware already saw this failure as a rejection of
          // `next()`, so the `onError` hooks do not run for it.
          this.ctx!.preEvents = null;
          for (const ev of pre) this.out.push(ev);
          this.pendingFailure = err;
          this.source = EMPTY_SOURCE;
          this.state = OPEN;
          return;
        }
        this.state = FAILED;
        this.failure = err;
        this.rejectResult?.(err);
        this.settleResult();
      }
      // Closed by the consumer while starting: `break` releases silently.
      if (this.state === CLOSED) return;
      throw this.failure ?? err;
    }
    if (this.state !== STARTING) {
      // Aborted or closed while the onion ran. The middleware saw `next()` resolve, so they wait for an end:
      // tell them through the error hooks.
      ctx.source?.cancel(this.failure);
      ctx.stopClock();
      if (this.failure !== null) await this.runErrorHooks(this.failure);
      return;
    }
    this.ctx = ctx;
    if (ctx.source === undefined) {
      // A short-circuit that set a result (a cache hit) streams it as a replay; anything else is a broken stack.
      if (ctx.result !== undefined) {
        ctx.source = replaySource(ctx.result);
      } else {
        const err = new FiberError(`${ctx.provider} ${ctx.model}: the middleware stack returned without a stream`, {
          code: 'no_result', provider: ctx.provider, model: ctx.model,
        });
        this.state = OPEN;
        await this.failWith(err).catch(noop);
        throw err;
      }
    }
    this.source = ctx.source;
    this.state = OPEN;
    ctx.logSink = this;
    const pre = ctx.preEvents;
    if (pre !== null) {
      ctx.preEvents = null;
      for (const ev of pre) this.enqueue(ev);
    }
  }

  /** Run an event through the hooks into `out` (used for events that do not come from the source). */
  private enqueue(event: StreamEvent): void {
    const isDone = event.type === 'done';
    if (this.hooks.length === 0) {
      this.out.push(event);
      if (isDone) this.doneThroughHooks = true;
      return;
    }
    const run = (): Promise<void> | undefined => {
      const p = applyHooks(this.hooks, 0, event, this.ctx!, this.out);
      if (!isDone) return p;
      return p ? p.then(() => this.keepDone(event)) : this.keepDone(event);
    };
    if (this.pendingHook !== null) {
      const chained = this.pendingHook.then(run);
      this.pendingHook = chained.then(noop);
      return;
    }
    let p: Promise<void> | undefined;
    try {
      p = run();
    } catch (e) {
      // A hook threw synchronously: the stream fails through the slow path, like an async hook's rejection.
      p = Promise.reject(hookError(e));
      p.catch(noop);
    }
    if (p !== undefined) this.pendingHook = p;
  }

  /** `done` cannot be dropped: if the hooks swallowed it, deliver the original. */
  private keepDone(done: StreamEvent): undefined {
    this.doneThroughHooks = true;
    for (let i = this.outHead; i < this.out.length; i++) if (this.out[i]!.type === 'done') return undefined;
    this.out.push(done);
    return undefined;
  }

  /**
   * The next deliverable event, if one is available without waiting. Hooks that pass an event on or replace it
   * run inline; a drop continues with the next source event; fan-out and async hooks take the general path
   * (`resumeHooks`) through `out`.
   */
  private pullSync(): StreamEvent | undefined {
    const out = this.out;
    const hooks = this.hooks;
    const n = hooks.length;
    for (;;) {
      if (this.outHead < out.length) {
        const ev = out[this.outHead++]!;
        if (this.outHead === out.length) { out.length = 0; this.outHead = 0; }
        return this.deliver(ev);
      }
      if (this.pendingHook !== null) return undefined;
      let ev = this.source!.read();
      if (ev === undefined) return undefined;
      if (n === 0) return this.deliver(ev);
      const ctx = this.ctx!;
      const skip = this.skipChunks;
      let i = 0;
      for (; i < n; i++) {
        if (skip[i] === true && ev.type === 'chunk') continue;
        let r;
        try {
          r = hooks[i]!(ev, ctx);
        } catch (err) {
          throw hookError(err);
        }
        if (r === undefined) continue;
        if (r !== null && typeof (r as StreamEvent).type === 'string') { ev = r as StreamEvent; continue; }
        if (r === null) {
          if (ev.type === 'done') continue; // `done` cannot be dropped
          break;
        }
        const p = resumeHooks(hooks, i + 1, ev, r, ctx, out);
        if (p !== undefined) this.pendingHook = p;
        break;
      }
      if (i === n) return this.deliver(ev);
    }
  }

  private deliver(ev: StreamEvent): StreamEvent | undefined {
    if (this.state !== OPEN) return undefined;
    const ctx = this.ctx!;
    // A hook (a budget, a guard) may have cancelled the call while events were still buffered: deliver nothing
    // more; the slow path turns the cancellation into the error.
    if (ctx.abortReason !== null && this.pendingFailure === null) return undefined;
    ctx.committed = true;
    if (ev.type === 'chunk') {
      this.text += ev.delta;
    } else if (ev.type === 'done') {
      const result = ev.result;
      result.text = this.text;
      if (typeof result.message.content === 'string') result.message.content = this.text;
      this.final = result;
      this.state = DONE;
      ctx.stopClock();
      // A hook may end the stream early (a budget's `done`): release the connection if the source is still open.
      const src = this.source!;
      if (!src.ended && src.error === null) src.cancel(null);
      this.resolveResult?.(result);
      this.out.length = 0;
      this.outHead = 0;
    }
    return ev;
  }

  private async failWith(err: FiberError): Promise<IteratorResult<StreamEvent>> {
    if (this.state === OPEN || this.state === STARTING) {
      this.state = FAILED;
      this.failure = err;
      const ctx = this.ctx;
      if (ctx !== null) {
        if (ctx.abortReason === null) ctx.abort(err);
        ctx.stopClock();
      }
      this.rejectResult?.(err);
      this.settleResult();
      await this.runErrorHooks(err);
    }
    if (this.state === CLOSED) return DONE_RESULT;
    throw this.failure ?? err;
  }

  private async runErrorHooks(err: FiberError): Promise<void> {
    const ctx = this.ctx;
    if (ctx === null) return;
    for (const h of this.errorHooks) {
      try {
        await h(err, ctx);
      } catch (hookErr) {
        ctx.log('error', 'onError hook threw', { error: hookErr instanceof Error ? hookErr.message : String(hookErr) });
      }
    }
  }

  /** Mark a result promise nobody awaited yet as handled (its rejection goes only to whoever awaits it). */
  private settleResult(): void {
    if (this.resultPromise !== null) this.resultPromise.catch(noop);
  }
}

function noop(): void {}

function macrotask(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** The source of a stream that failed before commit: nothing to read, never ends (the failure is thrown first). */
const EMPTY_SOURCE: EventSource = {
  read: () => undefined,
  ended: false,
  error: null,
  wait: () => Promise.resolve(),
  final: () => { throw new Error('unreachable'); },
  cancel: noop,
};

/** A stream source replaying a finished result (a short-circuit that set `ctx.result` on a stream, e.g. a cache). */
export function replaySource(result: ChatResult): EventSource {
  const events: StreamEvent[] = [];
  if (result.reasoning) events.push({ type: 'reasoning', delta: result.reasoning, t: 0 });
  if (result.text) events.push({ type: 'chunk', delta: result.text, t: 0 });
  for (const tc of result.toolCalls) events.push({ type: 'tool_call', toolCall: tc, t: 0 });
  events.push({ type: 'usage', usage: result.usage, t: 0 });
  let i = 0;
  let cancelled = false;
  return {
    read: () => (cancelled ? undefined : events[i++]),
    get ended() { return cancelled || i >= events.length; },
    error: null,
    wait: () => Promise.resolve(),
    final: (): StreamFinal => ({
      text: result.text, reasoning: result.reasoning, toolCalls: result.toolCalls, finishReason: result.finishReason,
      usage: result.usage, model: result.model, id: result.id, raw: result.raw, cached: result.cached,
      ...(result.message.providerData !== undefined ? { providerData: result.message.providerData } : {}),
    }),
    cancel: () => { cancelled = true; },
  };
}
