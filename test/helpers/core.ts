/**
 * Shared pieces of the core behaviour tests (`test/core/*`): a Fiber wired to the emulator, stream collection,
 * a recording logger, a purpose-built `node:http` server for faults the emulator cannot express, and the handle
 * check that each file runs after closing everything it opened.
 */
import { createHook } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'vitest';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import { FiberError } from '../../src/errors.js';
import type { Emulator } from '../../src/testing/index.js';
import type { FiberStream } from '../../src/stream.js';
import type { LoggerLike, StreamEvent } from '../../src/types.js';

/** A canary key: it must never show up in an error, a log line or a metric tag. */
export const TEST_KEY = 'sk-test-canary-core-0123456789';

/** Fast retries: 1-2 ms backoff, so retry tests take no wall time. */
export const FAST_RETRY = { minDelayMs: 1, maxDelayMs: 2 } as const;

/** A Fiber talking to the emulator with the default model `gpt-4o-mini` and fast retries (unless overridden). */
export function emuFiber(emu: Emulator, options: FiberOptions = {}): Fiber {
  return new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: TEST_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: FAST_RETRY,
    ...options,
  });
}

/** A Fiber talking to a plain HTTP server that speaks the OpenAI path (`<url>/v1/chat/completions`). */
export function urlFiber(url: string, options: FiberOptions = {}): Fiber {
  return new Fiber({
    baseUrls: { openai: `${url}/v1` },
    apiKeys: { openai: TEST_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: FAST_RETRY,
    ...options,
  });
}

export interface Collected {
  events: StreamEvent[];
  /** What the iterator threw, or null when it ended normally. */
  error: unknown;
}

/** Iterate a stream to its end or failure, keeping every event delivered before it. */
export async function collect(stream: AsyncIterable<StreamEvent>): Promise<Collected> {
  const events: StreamEvent[] = [];
  try {
    for await (const ev of stream) events.push(ev);
  } catch (error) {
    return { events, error };
  }
  return { events, error: null };
}

/** The rejection of `p` (fails the test when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<FiberError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FiberError);
    return e as FiberError;
  }
  throw new Error('expected a rejection, the promise resolved');
}

/** Event types in order, without `log` events (they depend on retries, which each test asserts on its own). */
export function typesOf(events: readonly StreamEvent[]): string[] {
  return events.filter((e) => e.type !== 'log').map((e) => e.type);
}

/** The concatenated deltas of the chunk events. */
export function textOf(events: readonly StreamEvent[]): string {
  let s = '';
  for (const e of events) if (e.type === 'chunk') s += e.delta;
  return s;
}

export type LogEvent = Extract<StreamEvent, { type: 'log' }>;

export function logsOf(events: readonly StreamEvent[]): LogEvent[] {
  return events.filter((e): e is LogEvent => e.type === 'log');
}

export interface LogCall {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string | undefined;
}

/** A pino-compatible logger that records its calls. */
export function recordingLogger(): LoggerLike & { calls: LogCall[] } {
  const calls: LogCall[] = [];
  const at = (level: LogCall['level']) => (fields: object, message?: string) => {
    calls.push({ level, fields: fields as Record<string, unknown>, message });
  };
  return { calls, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The warn calls that announce a retry (`retrying in ...`). */
export function retryLogs(calls: readonly LogCall[]): LogCall[] {
  return calls.filter((c) => c.level === 'warn' && typeof c.message === 'string' && c.message.startsWith('retrying in'));
}

// ---------------------------------------------------------------------------------------------------------------
// A purpose-built HTTP server

export interface TestServer {
  url: string;
  server: Server;
  /** Every request received, in order. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  /** Resolves when the response of request `i` (0-based) emits 'close' (the client went away or it ended). */
  closed(i: number): Promise<void>;
  /** Forget the recorded requests and closes (between tests). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A `node:http` server on 127.0.0.1 port 0. `handler` gets the request index, the parsed body and the response;
 * the server records each response's 'close' so a test can see a client release its socket.
 */
export async function startServer(
  handler: (i: number, req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  let closes: Array<{ promise: Promise<void>; resolve: () => void }> = [];
  const closeOf = (i: number) => {
    while (closes.length <= i) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      closes.push({ promise, resolve });
    }
    return closes[i]!;
  };
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const i = requests.length;
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' };
    requests.push(entry);
    const slot = closeOf(i);
    res.once('close', () => slot.resolve());
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      entry.body = Buffer.concat(parts).toString('utf8');
      handler(i, req, res, entry.body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    requests,
    closed: (i) => closeOf(i).promise,
    reset: () => {
      requests.length = 0;
      closes = [];
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

/** An OpenAI stream chunk line (`data: {...}\n\n`) carrying one text delta. */
export function sseChunk(delta: string, i = 0): string {
  return `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":${i},"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":${JSON.stringify(delta)}},"finish_reason":null}]}\n\n`;
}

/** The closing lines of an OpenAI stream: a finish chunk, the usage chunk and `[DONE]`. */
export function sseEnd(prompt = 1, completion = 1): string {
  return 'data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    + `data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":${prompt},"completion_tokens":${completion},"total_tokens":${prompt + completion}}}\n\n`
    + 'data: [DONE]\n\n';
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } as const;

// ---------------------------------------------------------------------------------------------------------------
// Handles

/** Socket and server handles, and timers: what a client or a test server can leave open. */
const TRACKED = new Set(['TCPWRAP', 'TCPSERVERWRAP', 'TCPCONNECTWRAP', 'Timeout']);
/** A timer counts only when our code (or undici, on our behalf) created it, not vitest's runner. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/[\\/]+$/, '');
const OURS = new RegExp(`${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\\\/](?:src|providers|middleware|test)[\\\\/]|node_modules[\\\\/]undici[\\\\/]`);

interface Live { type: string; resource: { hasRef?: () => boolean }; where: string }

export interface HandleTracker {
  /**
   * Wait (up to 2 s, for socket closes and undici's lazy timer sweep) until every tracked handle created since
   * `trackHandles()` is closed, then fail listing the ones still open. Unref'd timers don't hold the process and
   * are ignored. Stops tracking.
   */
  expectAllClosed(): Promise<void>;
}

/**
 * Start recording the sockets, servers and timers created from now on (async_hooks `init`/`destroy`). Call it
 * first in `beforeAll`, and `expectAllClosed()` last in `afterAll`, after closing the Fibers and servers.
 */
export function trackHandles(): HandleTracker {
  const live = new Map<number, Live>();
  const limit = Error.stackTraceLimit;
  let checking = false;
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (checking || !TRACKED.has(type)) return;
      let where = '';
      if (type === 'Timeout') {
        Error.stackTraceLimit = 30;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        const frame = stack.split('\n').find((l) => OURS.test(l));
        if (frame === undefined) return;
        where = frame.trim();
      }
      live.set(id, { type, resource: resource as Live['resource'], where });
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  const open = () => [...live.values()].filter((r) => r.type !== 'Timeout' || r.resource.hasRef?.() !== false);
  return {
    async expectAllClosed() {
      checking = true;
      try {
        for (let i = 0; i < 200 && open().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(open().map((r) => `${r.type} ${r.where}`.trim()), 'handles left open').toEqual([]);
      } finally {
        hook.disable();
      }
    },
  };
}

/**
 * Active resources by type (`process.getActiveResourcesInfo()`) minus the worker's stdio pipes. A coarse check:
 * prefer `trackHandles()`, which follows each handle created by our code.
 */
export function activeResources(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'FSReqCallback');
}

/**
 * Assert that no resource type has more instances than in `baseline` (from `activeResources()`), waiting up to
 * ~500 ms for socket closes to land. Coarse (timers of vitest's own come and go); prefer `trackHandles()`.
 */
export async function expectNoLeaks(baseline: readonly string[]): Promise<void> {
  const tally = (list: readonly string[]) => {
    const m = new Map<string, number>();
    for (const r of list) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };
  const base = tally(baseline);
  let extra: string[] = [];
  for (let i = 0; i < 50; i++) {
    extra = [];
    for (const [type, n] of tally(activeResources())) {
      for (let k = 0; k < n - (base.get(type) ?? 0); k++) extra.push(type);
    }
    if (extra.length === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(extra, 'handles left open after closing the Fiber and the servers').toEqual([]);
}

/** A stream's iterator, for tests that pull by hand. */
export function iter(stream: FiberStream): AsyncIterator<StreamEvent> {
  return stream[Symbol.asyncIterator]();
}
