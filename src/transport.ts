/**
 * The undici transport shared by every provider.
 *
 * It drives `Agent.dispatch()` with handler objects of undici's native (callback) handler interface instead of
 * `undici.request()`: no body `Readable`, no header object unless someone asks for a header, and backpressure is
 * the return value of `onData` (false pauses the socket, `resume()` restarts it when the consumer pulls again).
 * Why undici and why this level: `docs/adrs/0002-undici-transport.md`.
 */
import type { Socket } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import { Agent, buildConnector, errors as undiciErrors } from './undici.js';
import { MAX_TIMER_MS, type CallContext } from './context.js';
import {
  AbortError, ConfigError, ConnectionError, FiberError, ServerError, StreamError, TimeoutError, scrubSecrets, scrubValue,
} from './errors.js';
import { SseParser } from './sse.js';
import { guardedLookup, isPrivateAddress } from './private-network.js';
import type { EventSource, Provider, ResponseInfo, StreamDecoder, StreamEvent, StreamFinal, WireRequest } from './types.js';

/** Stream events buffered ahead of the consumer before the socket is paused. */
const HIGH_WATER_EVENTS = 1024;
/** How long a response may stay open after its stream's end marker before the stream ends without it. */
const END_MARKER_GRACE_MS = 200;

export interface TransportOptions {
  /** Cap on response bytes (a whole JSON body, an error body, or a whole stream). @default 64 MiB */
  maxResponseBytes: number;
  /** Follow 301/302/307/308 (method and body kept); credentials never cross origins. @default false */
  followRedirects?: boolean;
  /** Refuse private, loopback and link-local addresses, literal or resolved. @default false */
  blockPrivateNetworks?: boolean;
}

/** Distinct connect timeouts that get a pool of their own. */
const MAX_AGENTS = 8;
/** Redirects followed per attempt before giving up. */
const MAX_REDIRECTS = 5;
/** Headers that carry credentials: dropped when a redirect leaves the origin. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'api-key', 'x-goog-api-key']);

interface Target { origin: string; path: string }

/**
 * undici's connector, with the connect timeout kept here. undici runs its own on a timer wheel that ticks about
 * once a second (a 200 ms `connectMs` fired after ~1 s), so its connector is built without one and a plain timer
 * ends a handshake (TCP, and TLS for https) at `connectMs`, with undici's own `ConnectTimeoutError`.
 */
function timedConnector(connectMs: number, lookup: typeof guardedLookup | undefined): BuildConnector.connector {
  const connect = buildConnector(lookup === undefined ? { timeout: 0 } : { timeout: 0, lookup: lookup as never });
  // Beyond what a timer can hold (Node fires those after 1 ms): no connect timeout of its own, the deadline rules.
  if (!(connectMs <= MAX_TIMER_MS)) return connect;
  return (options, callback) => {
    let settled = false;
    let socket: Socket | undefined;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      callback(new undiciErrors.ConnectTimeoutError(`connect timed out after ${connectMs} ms (${options.hostname}:${options.port})`), null);
    }, connectMs);
    try {
      socket = connectSocket(connect, options, (err, s) => {
        if (settled) {
          s?.destroy();
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (err !== null) callback(err, null);
        else callback(null, s!);
      });
    } catch (e) {
      // undici reports a connector that throws itself: only the timer is ours to stop.
      settled = true;
      clearTimeout(timer);
      throw e;
    }
  };
}

/** undici's connector returns the socket it opens (its type says void): the timer above destroys it. */
function connectSocket(
  connect: BuildConnector.connector, options: BuildConnector.Options, callback: (err: Error | null, s: Socket | null) => void,
): Socket | undefined {
  return (connect as unknown as (o: BuildConnector.Options, cb: BuildConnector.Callback) => Socket | undefined)(
    options, callback as BuildConnector.Callback,
  );
}

export class Transport {
  private readonly agents = new Map<number, Agent>();
  private readonly targets = new Map<string, Target>();
  private closed = false;

  constructor(readonly options: TransportOptions) {}

  private agent(connectMs: number): Agent {
    let a = this.agents.get(connectMs);
    if (a === undefined && this.agents.size >= MAX_AGENTS) {
      // Connect timeouts live on the pool, one pool per distinct value: past a few values, reuse the pool with the
      // nearest longer timeout (or the longest), so callers computing connectMs cannot grow pools without bound.
      let best: number | undefined;
      for (const ms of this.agents.keys()) {
        if (ms >= connectMs && (best === undefined || ms < best)) best = ms;
      }
      if (best === undefined) best = Math.max(...this.agents.keys());
      return this.agents.get(best)!;
    }
    if (a === undefined) {
      if (this.closed) throw new ConnectionError('llm-fiber: the Fiber is closed', { code: 'closed' });
      const connect = timedConnector(connectMs, this.options.blockPrivateNetworks ? guardedLookup : undefined);
      a = new Agent({ connect, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });
      this.agents.set(connectMs, a);
    }
    return a;
  }

  private target(url: string): Target {
    let t = this.targets.get(url);
    if (t === undefined) {
      const u = new URL(url);
      if (this.options.blockPrivateNetworks) {
        // Literal addresses never reach the resolver, so they are checked here (the URL parser has already
        // normalised numeric forms such as 2130706433 and 0x7f.1 to dotted quads).
        const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
        if (isPrivateAddress(host) || host === 'localhost') {
          throw new ConfigError(`base URL host ${u.hostname} is a private or loopback address and blockPrivateNetworks is on`, { code: 'private_network_blocked' });
        }
      }
      t = { origin: u.origin, path: u.pathname + u.search };
      if (this.targets.size > 256) this.targets.clear();
      this.targets.set(url, t);
    }
    return t;
  }

  /** Send a non-streaming request; resolves with the parsed JSON body of a 2xx, rejects with a typed error. */
  json(ctx: CallContext, provider: Provider, wire: WireRequest, secrets: readonly string[]): Promise<{ body: unknown; info: ResponseMeta }> {
    return new Promise((resolve, reject) => {
      const handler = new JsonHandler(this, wire, 0, ctx, provider, secrets, this.options.maxResponseBytes, resolve, reject);
      this.dispatch(ctx, wire, handler);
    });
  }

  /**
   * Open a streaming request. Resolves with the live source once its first event is buffered (or it ended
   * cleanly without any); rejects with a typed error if it fails before that, so retries need no stream code.
   */
  stream(ctx: CallContext, provider: Provider, wire: WireRequest, secrets: readonly string[]): Promise<StreamCall> {
    return new Promise((resolve, reject) => {
      const call = new StreamCall(this, wire, 0, ctx, provider, secrets, this.options.maxResponseBytes, resolve, reject);
      this.dispatch(ctx, wire, call);
    });
  }

  /**
   * A 3xx arrived. Not followed by default: the call fails with a `ServerError` naming only the target's origin.
   * With `followRedirects`, 301/302/307/308 are re-sent with the same method and body, at most 5 times, and
   * credential headers are dropped when the target is another origin. Returns the next request, or the error.
   */
  redirect(ctx: CallContext, wire: WireRequest, info: ResponseMeta, hops: number, secrets: readonly string[]): WireRequest | FiberError {
    const location = info.header('location');
    let target: URL | null = null;
    try {
      if (location !== undefined) target = new URL(location, wire.url);
    } catch {
      target = null;
    }
    const where = target === null ? 'an invalid location' : target.origin;
    const init = { provider: ctx.provider, model: ctx.model, status: info.status, attempts: ctx.attempt, retryable: false, requestId: info.requestId };
    if (!this.options.followRedirects) {
      return new ServerError(`${ctx.provider} ${ctx.model}: redirected to ${where}; redirects are not followed (set followRedirects: true) (${info.status})`, { ...init, code: 'redirect_not_followed' });
    }
    if (target === null || (target.protocol !== 'http:' && target.protocol !== 'https:')) {
      return new ServerError(`${ctx.provider} ${ctx.model}: redirect to ${where} refused (${info.status})`, { ...init, code: 'redirect_refused' });
    }
    if (![301, 302, 307, 308].includes(info.status)) {
      return new ServerError(`${ctx.provider} ${ctx.model}: ${info.status} redirects would change the method; not followed`, { ...init, code: 'redirect_refused' });
    }
    if (hops >= MAX_REDIRECTS) {
      return new ServerError(`${ctx.provider} ${ctx.model}: more than ${MAX_REDIRECTS} redirects`, { ...init, code: 'too_many_redirects' });
    }
    const sameOrigin = target.origin === new URL(wire.url).origin;
    let headers = wire.headers;
    if (!sameOrigin) {
      headers = {};
      for (const [k, v] of Object.entries(wire.headers)) {
        if (CREDENTIAL_HEADERS.has(k.toLowerCase())) continue;
        if (secrets.some((sec) => sec.length >= 8 && v.includes(sec))) continue;
        headers[k] = v;
      }
    }
    ctx.log('info', `following a ${info.status} redirect to ${target.origin}${sameOrigin ? '' : ' (credentials dropped: other origin)'}`, {
      status: info.status, origin: target.origin, sameOrigin, hop: hops + 1,
    });
    return { method: wire.method, url: target.href, headers, body: wire.body };
  }

  /** Re-dispatch a redirected request with a fresh handler of the same kind. */
  follow(ctx: CallContext, next: WireRequest, make: (t: Transport, w: WireRequest) => JsonHandler | StreamCall): void {
    this.dispatch(ctx, next, make(this, next));
  }

  private dispatch(ctx: CallContext, wire: WireRequest, handler: JsonHandler | StreamCall): void {
    if (ctx.abortReason !== null) { handler.onError(ctx.abortReason); return; }
    const invoke = handler.provider.invoke;
    if (invoke !== undefined) {
      ctx.attemptStarted();
      ctx.requestSent();
      driveCustom(invoke.bind(handler.provider), wire, handler);
      return;
    }
    let agent: Agent;
    let t: Target;
    try {
      agent = this.agent(ctx.timeouts.connectMs);
      t = this.target(wire.url);
    } catch (err) {
      handler.onError(err as Error);
      return;
    }
    const readMs = ctx.timeouts.readMs;
    ctx.attemptStarted();
    // Until undici connects (TCP + TLS) there is no request to abort: a cancellation before then fails the
    // handler at once, and `onConnect` drops the request when it comes.
    ctx.abortAttempt = handler.cancelBeforeConnect;
    agent.dispatch({
      origin: t.origin,
      path: t.path,
      method: wire.method,
      headers: wire.headers,
      body: wire.body,
      headersTimeout: readMs,
      bodyTimeout: readMs,
    }, handler as any);
  }

  async close(): Promise<void> {
    this.closed = true;
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.close()));
  }

  /** Close now, destroying open sockets. */
  async destroy(): Promise<void> {
    this.closed = true;
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.destroy()));
  }
}

/**
 * Feed a provider's own `invoke()` response through the same handler undici would drive: the same status, error,
 * stream and end-marker rules, the same call clock, and backpressure (the body is not pulled while the handler
 * says pause). Aborting the handler aborts the signal given to `invoke`.
 */
function driveCustom(invoke: NonNullable<Provider['invoke']>, wire: WireRequest, handler: JsonHandler | StreamCall): void {
  const ac = new AbortController();
  let finished = false;
  let resumeWaiter: (() => void) | null = null;
  const resume = (): void => { const r = resumeWaiter; resumeWaiter = null; r?.(); };
  const paused = (): Promise<void> => new Promise<void>((r) => { resumeWaiter = r; });
  const fail = (err: Error): void => {
    if (finished) return;
    finished = true;
    handler.onError(err);
  };
  handler.onConnect((reason: Error) => {
    ac.abort(reason);
    resume();
    fail(reason);
  });
  (async () => {
    const res = await invoke(wire, ac.signal);
    if (finished) return;
    const raw: Buffer[] = [];
    for (const [k, v] of Object.entries(res.headers ?? {})) raw.push(Buffer.from(k.toLowerCase(), 'latin1'), Buffer.from(String(v), 'latin1'));
    if (!handler.onHeaders(res.status, raw, resume)) await paused();
    const body = res.body;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      if (!finished) handler.onData(Buffer.from(body));
    } else if (body != null) {
      for await (const piece of body) {
        if (finished) return;
        if (!handler.onData(Buffer.isBuffer(piece) ? piece : Buffer.from(piece))) await paused();
      }
    }
    if (finished) return;
    finished = true;
    handler.onComplete();
  })().catch((err: unknown) => fail(ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : (err as Error)));
}

/** What adapters see of a response; header values are decoded only when asked for. */
export class ResponseMeta implements ResponseInfo {
  private rid: string | undefined | null = null;
  constructor(
    readonly status: number,
    private readonly raw: Buffer[] | null,
    readonly provider: string,
    readonly model: string,
    private readonly ridHeader: string,
  ) {}

  header = (name: string): string | undefined => {
    const raw = this.raw;
    if (raw === null) return undefined;
    const n = name.length;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      if (k.length === n && k.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
    }
    return undefined;
  };

  get requestId(): string | undefined {
    if (this.rid === null) this.rid = this.header(this.ridHeader);
    return this.rid;
  }
}

function ridHeaderOf(provider: Provider): string {
  return provider.requestIdHeader ?? 'x-request-id';
}

/** Node's codes for a server certificate that failed verification (OpenSSL's X509 errors, and the host name check). */
const TLS_CERT_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'INVALID_PURPOSE',
  'CERT_CHAIN_TOO_LONG', 'HOSTNAME_MISMATCH', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Map an undici / socket failure to a typed error. `responded`: headers had arrived. */
export function transportError(err: unknown, ctx: CallContext, responded: boolean, streaming: boolean): FiberError {
  if (err instanceof FiberError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const init = { provider: ctx.provider, model: ctx.model, attempts: ctx.attempt, cause: err };
  const who = `${ctx.provider}${ctx.model ? ' ' + ctx.model : ''}`;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new TimeoutError(`${who}: connect timed out after ${ctx.timeouts.connectMs} ms`, { ...init, phase: 'connect' });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new TimeoutError(`${who}: no response headers within ${ctx.timeouts.readMs} ms`, { ...init, phase: 'headers' });
    case 'UND_ERR_BODY_TIMEOUT':
      return new TimeoutError(`${who}: no body bytes within ${ctx.timeouts.readMs} ms`, { ...init, phase: 'read' });
    case 'UND_ERR_ABORTED':
      return new AbortError(`${who}: request aborted`, { ...init, code: 'aborted' });
    case 'ERR_LLM_FIBER_PRIVATE_NETWORK':
      return new ConfigError(`${who}: ${e.message}`, { ...init, code: 'private_network_blocked', retryable: false });
    case 'ENOTFOUND':
      return new ConnectionError(`${who}: DNS lookup failed (${hostOf(e)})`, { ...init, code, retryable: false });
    default:
      if (code !== undefined && TLS_CERT_CODES.has(code)) {
        // The same certificate comes back on every attempt: retrying cannot help.
        return new ConnectionError(`${who}: the server's TLS certificate was rejected (${code})`, { ...init, code, retryable: false });
      }
      break;
  }
  const what = e instanceof Error ? e.message : String(err);
  if (responded && streaming) {
    return new StreamError(`${who}: connection dropped mid-stream (${what})`, { ...init, code: 'connection_dropped', retryable: true, status: 200 });
  }
  if (responded) {
    return new ConnectionError(`${who}: connection dropped while reading the response (${what})`, { ...init, code: 'connection_dropped', retryable: true });
  }
  return new ConnectionError(`${who}: connection failed (${code ?? what})`, { ...init, code: code ?? 'connection_failed', retryable: true });
}

function hostOf(e: { hostname?: string; message?: string }): string {
  return e.hostname ?? 'unknown host';
}

function tooLarge(ctx: CallContext, max: number, streaming: boolean): FiberError {
  const C = streaming ? StreamError : ServerError;
  return new C(`${ctx.provider} ${ctx.model}: response exceeded maxResponseBytes (${max})`, {
    provider: ctx.provider, model: ctx.model, code: 'response_too_large', retryable: false, attempts: ctx.attempt,
  });
}

/** Build the provider's typed error for a non-2xx response, with secrets scrubbed from every field. */
function errorResponse(ctx: CallContext, provider: Provider, info: ResponseMeta, chunks: Buffer[], secrets: readonly string[]): FiberError {
  const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  let err: FiberError;
  try {
    err = provider.error(info, text);
  } catch (e) {
    err = new ServerError(`${ctx.provider} ${ctx.model}: unreadable error response (${info.status})`, { status: info.status, cause: e });
  }
  if (!err.provider) err.provider = ctx.provider;
  if (!err.model) err.model = ctx.model;
  if (err.requestId === undefined && info.requestId) err.requestId = info.requestId;
  err.attempts = ctx.attempt;
  return scrubError(err, secrets);
}

/** Remove secrets from an error's message, stack and raw body (a provider may echo a key back). */
export function scrubError<E extends FiberError>(err: E, secrets: readonly string[]): E {
  if (secrets.length === 0) return err;
  err.message = scrubSecrets(err.message, secrets);
  if (err.stack) err.stack = scrubSecrets(err.stack, secrets);
  if (err.raw !== undefined) err.raw = scrubValue(err.raw, secrets);
  return err;
}

class JsonHandler {
  private abortFn: ((reason: Error) => void) | null = null;
  /** Set when the attempt was cancelled before undici connected. */
  private cancelled: Error | null = null;

  /** Cancel before the connection exists (see `Transport.dispatch`). */
  cancelBeforeConnect = (reason: Error): void => {
    this.cancelled = reason;
    this.onError(reason);
  };
  private status = 0;
  private raw: Buffer[] | null = null;
  private chunks: Buffer[] = [];
  private size = 0;
  private done = false;

  constructor(
    private readonly transport: Transport,
    private readonly wire: WireRequest,
    private readonly hops: number,
    private readonly ctx: CallContext,
    readonly provider: Provider,
    private readonly secrets: readonly string[],
    private readonly max: number,
    private readonly resolve: (v: { body: unknown; info: ResponseMeta }) => void,
    private readonly reject: (e: FiberError) => void,
  ) {}

  onConnect(abort: (reason: Error) => void): void {
    this.abortFn = abort;
    if (this.cancelled !== null) { abort(this.cancelled); return; }
    const ctx = this.ctx;
    const why = ctx.abortReason ?? ctx.attemptAbortReason;
    if (why !== null) { abort(why); return; }
    ctx.abortAttempt = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true; // 1xx interim response: the real one follows
    this.status = status;
    this.raw = rawHeaders;
    // Time to the headers of this attempt: the last (successful) attempt's value is the one the result reports.
    this.ctx.timing.ttfbMs = performance.now() - this.ctx.timing.startedAt;
    this.ctx.responseStatus = status;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.max) {
      this.abortFn?.(tooLarge(this.ctx, this.max, false));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    const ctx = this.ctx;
    ctx.abortAttempt = null;
    const info = new ResponseMeta(this.status, this.raw, ctx.provider, ctx.model, ridHeaderOf(this.provider));
    ctx.responseHeaders = info.header;
    ctx.requestId = info.requestId;
    if (this.status >= 300 && this.status < 400) {
      const next = this.transport.redirect(ctx, this.wire, info, this.hops, this.secrets);
      if (next instanceof FiberError) { this.reject(next); return; }
      const { provider, secrets, max, resolve, reject, hops } = this;
      this.transport.follow(ctx, next, (t, w) => new JsonHandler(t, w, hops + 1, ctx, provider, secrets, max, resolve, reject));
      return;
    }
    if (this.status < 200 || this.status >= 300) {
      this.reject(errorResponse(ctx, this.provider, info, this.chunks, this.secrets));
      return;
    }
    const chunks = this.chunks;
    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      this.reject(new ServerError(`${ctx.provider} ${ctx.model}: response body is not valid JSON (${this.status}${info.requestId ? `, request ${info.requestId}` : ''})`, {
        provider: ctx.provider, model: ctx.model, status: this.status, code: 'invalid_json', retryable: true,
        attempts: ctx.attempt, requestId: info.requestId, cause: e,
      }));
      return;
    }
    this.resolve({ body, info });
  }

  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.ctx.abortAttempt = null;
    this.reject(transportError(err, this.ctx, this.raw !== null, false));
  }
}

/**
 * One streaming HTTP attempt, and the event source the Fiber delivers from after commit. Socket chunks are parsed
 * synchronously into a queue of `StreamEvent`s; the consumer pulls from the queue, and the socket is paused while
 * the queue is above its high-water mark.
 */
export class StreamCall implements EventSource {
  private queue: StreamEvent[] = [];
  private head = 0;
  ended = false;
  error: FiberError | null = null;
  private waiter: (() => void) | null = null;
  private resumeFn: (() => void) | null = null;
  private paused = false;
  private abortFn: ((reason: Error) => void) | null = null;
  private parser: SseParser | null = null;
  private decoder: StreamDecoder | null = null;
  private info: ResponseMeta | null = null;
  private errChunks: Buffer[] | null = null;
  private size = 0;
  private tRel = 0;
  private readyResolve: ((c: StreamCall) => void) | null;
  /** Set when the attempt was cancelled before undici connected. */
  private cancelled: Error | null = null;

  /** Cancel before the connection exists (see `Transport.dispatch`). */
  cancelBeforeConnect = (reason: Error): void => {
    this.cancelled = reason;
    this.onError(reason);
  };
  private readyReject: ((e: FiberError) => void) | null;

  constructor(
    private readonly transport: Transport,
    private readonly wire: WireRequest,
    private readonly hops: number,
    private readonly ctx: CallContext,
    readonly provider: Provider,
    private readonly secrets: readonly string[],
    private readonly max: number,
    resolve: (c: StreamCall) => void,
    reject: (e: FiberError) => void,
  ) {
    this.readyResolve = resolve;
    this.readyReject = reject;
  }

  // -- undici handler ---------------------------------------------------------------------------------------

  onConnect(abort: (reason: Error) => void): void {
    this.abortFn = abort;
    if (this.cancelled !== null) { abort(this.cancelled); return; }
    const ctx = this.ctx;
    const why = ctx.abortReason ?? ctx.attemptAbortReason;
    if (why !== null) { abort(why); return; }
    ctx.abortAttempt = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (status < 200) return true; // 1xx interim response (103 Early Hints): the real one follows
    this.resumeFn = resume;
    const ctx = this.ctx;
    const info = new ResponseMeta(status, rawHeaders, ctx.provider, ctx.model, ridHeaderOf(this.provider));
    this.info = info;
    ctx.responseHeaders = info.header;
    ctx.responseStatus = status;
    ctx.requestId = info.requestId;
    if (status < 200) return true; // 1xx interim response (103 Early Hints): the real one follows
    if (status < 200 || status >= 300) {
      this.errChunks = [];
      return true;
    }
    try {
      this.decoder = this.provider.stream(info, ctx.request);
    } catch (e) {
      // Fail and drop the connection: a paused socket nobody aborts would be held until the process exits.
      this.abortWith(e instanceof FiberError ? e : transportError(e, ctx, true, true));
      return false;
    }
    this.parser = new SseParser(this.onSse);
    ctx.idleHold = this.consumerBehind;
    return true;
  }

  /** Events wait unread or the socket is paused: the consumer is behind, the server is not idle. */
  private consumerBehind = (): boolean => this.paused || this.head < this.queue.length;

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.max) {
      this.abortWith(tooLarge(this.ctx, this.max, true));
      return false;
    }
    if (this.errChunks !== null) { this.errChunks.push(chunk); return true; }
    if (this.error !== null) return false;
    if (this.ended) return true; // bytes after the end marker: read and ignored, so the response can complete
    const queue = this.queue;
    const before = queue.length;
    const t = performance.now();
    this.tRel = t - this.ctx.timing.startedAt;
    try {
      this.parser!.push(chunk);
    } catch (e) {
      this.abortWith(e instanceof FiberError ? this.stamp(e) : transportError(e, this.ctx, true, true));
      return false;
    }
    if (queue.length > before) {
      this.ctx.contentEvent(t);
      this.wake();
    }
    if (this.graceTimer === null && this.decoder!.finished) {
      // The end marker arrived. The body normally completes right after it (onComplete); a server that keeps the
      // response open would otherwise hold the stream until a deadline. Give it a moment, then end the stream
      // here and release the connection.
      this.graceTimer = setTimeout(this.endAtMarker, END_MARKER_GRACE_MS);
    }
    if (queue.length - this.head >= HIGH_WATER_EVENTS) {
      this.paused = true;
      return false;
    }
    return true;
  }

  onComplete(): void {
    const ctx = this.ctx;
    ctx.abortAttempt = null;
    this.clearGrace();
    if (this.error !== null || this.ended) return;
    if (this.errChunks !== null) {
      const info = this.info!;
      if (info.status >= 300 && info.status < 400) {
        const next = this.transport.redirect(ctx, this.wire, info, this.hops, this.secrets);
        if (next instanceof FiberError) { this.fail(next); return; }
        // Hand the caller's pending promise over to a fresh attempt at the new location.
        const resolve = this.readyResolve!;
        const reject = this.readyReject!;
        this.readyResolve = this.readyReject = null;
        this.error = new AbortError('redirected', { code: 'redirected' });
        const { provider, secrets, max, hops } = this;
        this.transport.follow(ctx, next, (t, w) => new StreamCall(t, w, hops + 1, ctx, provider, secrets, max, resolve, reject));
        return;
      }
      this.fail(errorResponse(ctx, this.provider, info, this.errChunks, this.secrets));
      return;
    }
    const before = this.queue.length;
    try {
      this.tRel = performance.now() - ctx.timing.startedAt;
      this.parser!.end();
    } catch (e) {
      this.fail(e instanceof FiberError ? this.stamp(e) : transportError(e, ctx, true, true));
      return;
    }
    if (!this.decoder!.finished) {
      this.fail(new StreamError(`${ctx.provider} ${ctx.model}: stream ended before its end marker${this.info?.requestId ? ` (request ${this.info.requestId})` : ''}`, {
        provider: ctx.provider, model: ctx.model, status: 200, code: 'missing_end_marker', retryable: true,
        attempts: ctx.attempt, requestId: this.info?.requestId,
      }));
      return;
    }
    if (this.queue.length > before) ctx.contentEvent(performance.now());
    this.ended = true;
    this.wake();
  }

  onError(err: Error): void {
    this.ctx.abortAttempt = null;
    this.clearGrace();
    if (this.error !== null || this.ended) return;
    this.fail(transportError(err, this.ctx, this.info !== null, true));
  }

  private graceTimer: NodeJS.Timeout | null = null;

  private clearGrace(): void {
    if (this.graceTimer !== null) { clearTimeout(this.graceTimer); this.graceTimer = null; }
  }

  /** The end marker came but the body did not complete: end the stream now and drop the connection. */
  private endAtMarker = (): void => {
    this.graceTimer = null;
    if (this.error !== null || this.ended) return;
    this.ended = true;
    this.wake();
    const a = this.abortFn;
    this.abortFn = null;
    this.ctx.abortAttempt = null;
    a?.(new AbortError('stream complete; the server kept the response open', { code: 'held_after_end_marker' }));
  };

  /** undici wrote the whole request: the first-event deadline starts now. */
  onRequestSent(): void {
    this.ctx.requestSent();
  }

  // Decoders ignore whatever follows their own end marker; `finished` is read once, when the body ends.
  private onSse = (data: string, name: string | undefined): void => {
    this.decoder!.event(data, name, this.tRel, this.queue);
  };

  // -- EventSource ------------------------------------------------------------------------------------------

  read(): StreamEvent | undefined {
    const q = this.queue;
    if (this.head < q.length) {
      const ev = q[this.head++]!;
      if (this.head === q.length) { q.length = 0; this.head = 0; }
      return ev;
    }
    return undefined;
  }

  wait(): Promise<void> {
    if (this.ended || this.error !== null || this.head < this.queue.length) return Promise.resolve();
    const p = new Promise<void>((r) => { this.waiter = r; });
    if (this.paused) {
      this.paused = false;
      this.resumeFn?.();
    }
    return p;
  }

  final(): StreamFinal {
    return this.decoder!.final();
  }

  cancel(reason: FiberError | null): void {
    if (this.error !== null || this.ended) {
      // A finished source still holds its socket only if the body is not complete; nothing to do.
      return;
    }
    const r = reason ?? new AbortError(`${this.ctx.provider} ${this.ctx.model}: stream closed by the consumer`, { code: 'consumer_closed' });
    this.abortWith(r);
  }

  /** Buffered events not yet read (tests and diagnostics). */
  get buffered(): number {
    return this.queue.length - this.head;
  }

  // ---------------------------------------------------------------------------------------------------------

  private abortWith(err: FiberError): void {
    this.fail(err);
    const a = this.abortFn;
    if (a !== null) { this.abortFn = null; a(err); }
  }

  private stamp(e: FiberError): FiberError {
    const ctx = this.ctx;
    if (!e.provider) e.provider = ctx.provider;
    if (!e.model) e.model = ctx.model;
    if (e.requestId === undefined && this.info?.requestId) e.requestId = this.info.requestId;
    e.attempts = ctx.attempt;
    return scrubError(e, this.secrets);
  }

  private fail(err: FiberError): void {
    if (this.error !== null || this.ended) return;
    this.error = err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w !== null) { this.waiter = null; w(); }
    if (this.readyResolve !== null) {
      if (this.error !== null) {
        const rej = this.readyReject!;
        this.readyResolve = this.readyReject = null;
        rej(this.error);
      } else {
        const res = this.readyResolve;
        this.readyResolve = this.readyReject = null;
        res(this);
      }
    }
  }
}
