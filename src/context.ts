/**
 * The per-call context and its clock.
 *
 * One `CallContext` lives for one call (all its attempts). It owns the call's single watchdog timer: at any time
 * one `setTimeout` is armed for the earliest of the total deadline, the current attempt's first-event deadline and
 * the idle deadline. Content events only store a timestamp; the timer re-arms itself lazily when it fires early,
 * so a 20,000-chunk stream costs no timer work per chunk.
 */
import { AbortError, FiberError, scrubSecrets, TimeoutError, type TimeoutPhase } from './errors.js';
import type { Timeouts } from './timeouts.js';
import type {
  ChatRequest, ChatResult, EventSource, FallbackPolicy, FiberContext, FiberState, LogListener, LogLevel, NormalizedRequest, RetryPolicy, StreamEvent,
} from './types.js';

/** The longest delay `setTimeout` honours (2^31 - 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const now = () => performance.now();
let seq = 0;

/** What the built-in middleware need from the Fiber that runs the call. */
export interface FiberRuntime {
  defaultModel: string | undefined;
  registry: import('./routing.js').ModelRegistry;
  /** Names of the registered providers. */
  known: ReadonlySet<string>;
  /** Sink the `metrics` middleware writes to (the in-memory store plus any user sinks). */
  sink: import('./types.js').MetricsSink;
  /** The API keys this Fiber knows, for redactors (never log or send these anywhere). */
  secrets: readonly string[];
}

/** The API keys of the Fiber running `ctx`, for redactors; undefined when it has none. */
export function secretsOf(ctx: FiberContext): readonly string[] | undefined {
  const s = (ctx as Partial<CallContext>).runtime?.secrets;
  return s !== undefined && s.length > 0 ? s : undefined;
}

/** A model name for log lines and spans: the Fiber's keys in it (a key pasted into `model`) are replaced. */
export function modelForTelemetry(ctx: FiberContext, model: string): string {
  const secrets = secretsOf(ctx);
  return secrets === undefined ? model : scrubSecrets(model, secrets);
}

/** Where `ctx.log()` goes after commit (the stream's delivery queue). */
export interface LogSink {
  pushLog(event: StreamEvent): void;
  /** The call was cancelled (deadline, caller signal, a hook): the stream ends now. */
  streamAborted(reason: FiberError): void;
}

export class CallContext implements FiberContext {
  readonly id: string;
  readonly kind: 'chat' | 'stream';
  request!: NormalizedRequest;
  readonly input: Readonly<ChatRequest>;
  provider = '';
  model = '';
  attempt = 0;
  committed = false;
  readonly metadata: Readonly<Record<string, string>>;
  readonly timing: { readonly startedAt: number; ttfbMs: number | null };
  readonly idempotencyKey: string;
  private _timeouts: Timeouts;
  retry: RetryPolicy | null = null;
  fallback: FallbackPolicy | null = null;
  /** The Fiber's shared pieces (registry, default model, metrics sink). */
  readonly runtime: FiberRuntime;
  /** The unresolved model name (set by `normalize`, read by `route`). */
  modelName = '';
  result?: ChatResult;
  source?: EventSource;
  responseHeaders?: (name: string) => string | undefined;
  responseStatus?: number;
  requestId?: string;
  state: FiberState = {};

  /** Why the call was cancelled, once it was. */
  abortReason: FiberError | null = null;
  /** Cancels the in-flight attempt (set by the transport while a request is open). */
  abortAttempt: ((reason: FiberError) => void) | null = null;
  /**
   * Why the current attempt alone was cancelled (a first-event timeout): the call, its deadline and the attempt
   * loop go on, so the loop may retry it. Cleared when the next attempt is sent.
   */
  attemptAbortReason: FiberError | null = null;
  /** Rejects a pending backoff sleep. */
  private abortSleep: ((reason: FiberError) => void) | null = null;
  /** Events logged before commit, delivered first. */
  preEvents: StreamEvent[] | null = null;
  logSink: LogSink | null = null;
  private logListeners: LogListener[] | null;
  private controller: AbortController | null = null;
  private userSignal: AbortSignal | undefined;
  private onUserAbort: (() => void) | null = null;

  // clock
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private totalAt = Infinity;
  private firstEventAt = Infinity;
  private idleMs = 0;
  private clockStarted = false;
  lastEventAt = -1;
  /**
   * True while the consumer, not the server, is the reason no event arrived (events wait unread, or the socket is
   * paused for backpressure): the idle timeout measures the provider, never a slow reader. Set by the transport.
   */
  idleHold: (() => boolean) | null = null;

  constructor(kind: 'chat' | 'stream', input: ChatRequest, timeouts: Timeouts, idempotencyKey: string, runtime: FiberRuntime) {
    this.runtime = runtime;
    this.id = `call_${(++seq).toString(36)}`;
    this.kind = kind;
    this.input = input;
    this.metadata = input.metadata ?? EMPTY;
    this.timing = { startedAt: now(), ttfbMs: null };
    this._timeouts = timeouts;
    this.idempotencyKey = idempotencyKey;
    this.logListeners = null;
    const signal = input.signal;
    if (signal) {
      this.userSignal = signal;
      if (signal.aborted) this.abortReason = abortFromSignal(signal);
      else {
        this.onUserAbort = () => this.abort(abortFromSignal(signal));
        signal.addEventListener('abort', this.onUserAbort, { once: true });
      }
    }
  }

  get timeouts(): Timeouts {
    return this._timeouts;
  }

  /** Replacing the timeouts (the `timeout()` middleware) re-arms the total deadline. */
  set timeouts(t: Timeouts) {
    const changed = t.totalMs !== this._timeouts.totalMs;
    this._timeouts = t;
    if (changed && this.clockStarted) {
      this.totalAt = t.totalMs === undefined || !Number.isFinite(t.totalMs) ? Infinity : this.timing.startedAt + t.totalMs;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
      if (this.totalAt !== Infinity) this.arm(this.totalAt);
    }
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: FiberError): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.stopClock();
    this.controller?.abort(reason);
    const a = this.abortAttempt;
    if (a !== null) { this.abortAttempt = null; a(reason); }
    const s = this.abortSleep;
    if (s !== null) { this.abortSleep = null; s(reason); }
    this.source?.cancel(reason);
    this.logSink?.streamAborted(reason);
  }

  log(level: LogLevel, message: string, data?: object): void {
    const listeners = this.logListeners;
    if (listeners !== null) {
      for (let i = 0; i < listeners.length; i++) {
        try {
          listeners[i]!(level, message, data, this);
        } catch {
          // A failing log sink must not fail the call it reports on.
        }
      }
    }
    if (this.kind !== 'stream') return;
    const event: StreamEvent = data === undefined
      ? { type: 'log', level, message, t: now() - this.timing.startedAt }
      : { type: 'log', level, message, data, t: now() - this.timing.startedAt };
    if (this.logSink !== null) this.logSink.pushLog(event);
    else (this.preEvents ??= []).push(event);
  }

  onLog(listener: LogListener): void {
    (this.logListeners ??= []).push(listener);
  }

  // -- clock ------------------------------------------------------------------------------------------------

  /** Arm the total deadline (once per call). */
  startClock(): void {
    this.clockStarted = true;
    const total = this.timeouts.totalMs;
    // `totalMs: Infinity` is the documented way to have no call deadline: no timer then.
    if (total !== undefined && Number.isFinite(total)) {
      this.totalAt = this.timing.startedAt + total;
      this.arm(this.totalAt);
    }
  }

  /** Remaining ms before the total deadline (Infinity when none). */
  remainingMs(): number {
    return this.totalAt - now();
  }

  /** A new attempt is being dispatched: reset what belongs to the attempt. */
  attemptStarted(): void {
    this.attemptAbortReason = null;
    if (this.kind !== 'stream') return;
    this.lastEventAt = -1;
    this.idleMs = this.timeouts.idleMs ?? 0;
    this.firstEventAt = Infinity;
  }

  /**
   * The attempt's request was written to the connection: its first-event deadline runs from here (streams), so
   * connecting (bounded by `connectMs`) does not eat into `firstEventMs` — "from sending the request".
   */
  requestSent(): void {
    if (this.kind !== 'stream' || this.lastEventAt >= 0) return;
    const first = this.timeouts.firstEventMs;
    if (first === undefined) return;
    this.firstEventAt = now() + first;
    if (this.firstEventAt < this.timerAt) this.arm(this.firstEventAt);
  }

  /** Content events arrived at `t` (performance.now()). Cheap: a timestamp, no timer work. */
  contentEvent(t: number): void {
    if (this.lastEventAt < 0) {
      this.firstEventAt = Infinity;
      if (this.timing.ttfbMs === null) this.timing.ttfbMs = t - this.timing.startedAt;
      if (this.idleMs > 0 && t + this.idleMs < this.timerAt) { this.lastEventAt = t; this.arm(t + this.idleMs); return; }
    }
    this.lastEventAt = t;
  }

  stopClock(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.timerAt = Infinity;
    if (this.onUserAbort !== null && this.userSignal) {
      this.userSignal.removeEventListener('abort', this.onUserAbort);
      this.onUserAbort = null;
    }
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    // Capped at what a timer holds (Node fires longer delays after 1 ms): past the cap, fire() finds nothing due
    // and re-arms.
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, at - now())));
  }

  private fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const t = now();
    let phase: TimeoutPhase | null = null;
    let limit = 0;
    if (t >= this.totalAt) { phase = 'total'; limit = this.timeouts.totalMs!; }
    else if (t >= this.firstEventAt) { phase = 'first_event'; limit = this.timeouts.firstEventMs!; }
    else if (this.idleMs > 0 && this.lastEventAt >= 0 && t >= this.lastEventAt + this.idleMs) {
      if (this.idleHold !== null && this.idleHold()) this.lastEventAt = t;
      else { phase = 'idle'; limit = this.idleMs; }
    }
    if (phase !== null) {
      const what = phase === 'total' ? 'call' : phase === 'first_event' ? 'first event' : 'idle gap between events';
      const err = new TimeoutError(`${this.provider || 'llm-fiber'}${this.model ? ' ' + this.model : ''}: ${what} exceeded ${limit} ms`, {
        phase, provider: this.provider, model: this.model, attempts: this.attempt,
      });
      if (phase !== 'first_event') {
        this.abort(err);
        return;
      }
      // A first-event timeout is the attempt's, not the call's: nothing reached the caller, so the attempt loop
      // may retry it (`isRetryable` spares every phase but 'total') within the same total deadline.
      this.firstEventAt = Infinity;
      this.attemptAbortReason = err;
      const a = this.abortAttempt;
      if (a !== null) { this.abortAttempt = null; a(err); }
    }
    let next = Math.min(this.totalAt, this.firstEventAt);
    if (this.idleMs > 0 && this.lastEventAt >= 0) next = Math.min(next, this.lastEventAt + this.idleMs);
    if (next !== Infinity) this.arm(next);
  };

  /** Sleep `ms`, cut short (rejecting) by abort or the deadline. */
  sleep(ms: number): Promise<void> {
    if (this.abortReason) return Promise.reject(this.abortReason);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.abortSleep = null; resolve(); }, ms);
      this.abortSleep = (reason) => { clearTimeout(timer); reject(reason); };
    });
  }
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

function abortFromSignal(signal: AbortSignal): FiberError {
  const r = signal.reason;
  if (r instanceof FiberError) return r;
  return new AbortError('llm-fiber: call aborted by the caller', { code: 'aborted', cause: r });
}
