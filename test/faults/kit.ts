/**
 * The fault-matrix harness: `faultSuite(file)` turns each row of `matrix.ts` that names `file` into one vitest
 * test, named by the row, that
 *   - gets a `Kit` which opens Fibers and purpose-built servers and closes them all when the row ends, and
 *   - checks, after closing them, that the row left no socket, server or timer behind (`trackHandles()` around
 *     each row, on top of the per-file tracker each file runs in `beforeAll`/`afterAll`).
 *
 * Raw servers (`rawServer()`) are `node:net` servers on 127.0.0.1 port 0 that write exact bytes: for faults
 * `node:http` refuses to produce (garbage status lines, dribbled headers, cut chunked framing, invalid UTF-8).
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import { FiberError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import type { Emulator } from '../../src/testing/index.js';
import type { StreamEvent } from '../../src/types.js';
import { FAST_RETRY, TEST_KEY, trackHandles } from '../helpers/core.js';
import { MATRIX, type FaultRow } from './matrix.js';

export { TEST_KEY };

/**
 * Slack added to a configured deadline when asserting how long a row took. An upper bound only ("the call did
 * not hang past its deadline"), generous for a loaded 2-core CI box; never a tight timing assertion.
 */
export const MARGIN_MS = 1_500;

/** A total deadline for rows whose fault should end the call well before it. */
export const TOTAL_MS = 3_000;

/** `{ events, error, ms }`: everything a stream delivered before it ended or failed, and how long that took. */
export interface Drained {
  events: StreamEvent[];
  error: unknown;
  ms: number;
}

/** A connection accepted by a raw server, with timers that die with it. */
export interface RawConn {
  socket: Socket;
  /** Index of this connection on its server (0-based). */
  index: number;
  /** `setTimeout` cleared when the socket closes. */
  later(ms: number, fn: () => void): void;
  /** `setInterval` cleared when the socket closes. */
  every(ms: number, fn: () => void): void;
  /** Write if the socket is still writable (a fault writer must not throw after the client left). */
  write(bytes: string | Uint8Array): void;
}

export interface RawRequest {
  /** Request line and headers, as received. */
  head: string;
  body: string;
  /** Connection this request arrived on. */
  conn: number;
}

export interface RawServer {
  url: string;
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Complete requests received (head and body), in order. */
  readonly requests: RawRequest[];
  /** Resolves when connection `i` has closed. */
  closedConn(i: number): Promise<void>;
  close(): Promise<void>;
}

export interface RawServerHandlers {
  /** Runs on accept, before any byte is read. */
  onConnection?: (conn: RawConn) => void;
  /** Runs for each complete request (head + content-length body) on a connection. */
  onRequest?: (conn: RawConn, req: RawRequest, n: number) => void;
}

/** A `node:net` server on 127.0.0.1 port 0 that answers with whatever bytes the handlers write. */
export async function rawServer(handlers: RawServerHandlers): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const requests: RawRequest[] = [];
  const closes: Array<{ promise: Promise<void>; resolve: () => void }> = [];
  const closeOf = (i: number) => {
    while (closes.length <= i) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      closes.push({ promise, resolve });
    }
    return closes[i]!;
  };
  let connections = 0;
  const server: Server = createServer((socket) => {
    const index = connections++;
    sockets.add(socket);
    const timers = new Set<NodeJS.Timeout>();
    const intervals = new Set<NodeJS.Timeout>();
    socket.on('error', () => { /* a client that left mid-write: nothing to report */ });
    socket.once('close', () => {
      sockets.delete(socket);
      for (const t of timers) clearTimeout(t);
      for (const t of intervals) clearInterval(t);
      closeOf(index).resolve();
    });
    const conn: RawConn = {
      socket,
      index,
      later(ms, fn) {
        const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
        timers.add(t);
      },
      every(ms, fn) {
        intervals.add(setInterval(fn, ms));
      },
      write(bytes) {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      },
    };
    handlers.onConnection?.(conn);
    if (handlers.onRequest === undefined) return;
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        const req: RawRequest = { head, body, conn: index };
        requests.push(req);
        handlers.onRequest!(conn, req, requests.length - 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() { return connections; },
    requests,
    closedConn: (i) => closeOf(i).promise,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    }),
  };
}

/** A port that was bound and then released: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/**
 * A port whose TCP handshakes never complete: a listener in a child process that never accepts (its event loop is
 * blocked), with a backlog of 1 that is filled first. Linux then drops further SYNs, so a connect hangs until the
 * client gives up: the only way to stall the connect phase on loopback. `close()` kills the child and the sockets.
 */
export async function unacceptingPort(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', [
    "const s = require('node:net').createServer();",
    "s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {",
    "  require('node:fs').writeSync(1, s.address().port + '\\n');",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);', // never accept, never exit on its own
    '});',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const sockets: Socket[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    child.kill('SIGKILL');
    child.stdout!.destroy();
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`unacceptingPort: the listener exited (${code}) before it was ready`)));
    });
    // Fill the accept queue: connect until one connection is still connecting after 150 ms. The check runs after a
    // turn of I/O (setImmediate), so a connect that completed during an event-loop stall is seen as completed.
    for (let i = 0; ; i++) {
      if (i === 16) throw new Error('unacceptingPort: the accept queue never filled');
      const s = connect(port, '127.0.0.1');
      sockets.push(s);
      s.on('error', () => {});
      const connected = await new Promise<boolean>((r) => setTimeout(() => setImmediate(() => r(!s.connecting)), 150));
      if (!connected) break;
    }
    return { port, close: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** An HTTP/1.1 response head with the given status line and headers (CRLF framing, blank line included). */
export function head(status: string, headers: Record<string, string>): string {
  let s = `HTTP/1.1 ${status}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}

/** One HTTP/1.1 chunk of chunked transfer encoding. */
export function chunk(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n', 'latin1'), b, Buffer.from('\r\n', 'latin1')]);
}

/** The opening lines of a streamed Anthropic message (message_start, a text block start, one text delta). */
export function anthropicOpening(text: string): string {
  return 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_raw","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
    + 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    + `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(text)}}}\n\n`;
}

/** What each row's body receives: Fibers and servers that are closed when the row ends, and timing helpers. */
export class Kit {
  private readonly fibers: Fiber[] = [];
  private readonly closers: Array<() => Promise<void>> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  /** A Fiber on `baseUrl` (the OpenAI path `<baseUrl>/chat/completions`), fast retries unless overridden. */
  fiber(baseUrl: string, options: FiberOptions = {}): Fiber {
    const f = new Fiber({
      baseUrls: { openai: baseUrl },
      apiKeys: { openai: TEST_KEY },
      defaultModel: 'gpt-4o-mini',
      retry: FAST_RETRY,
      ...options,
    });
    this.fibers.push(f);
    return f;
  }

  /** A Fiber on the emulator, all three providers wired, default model `gpt-4o-mini`. */
  emuFiber(emu: Emulator, options: FiberOptions = {}): Fiber {
    const f = new Fiber({
      baseUrls: { ...emu.baseUrls },
      apiKeys: { openai: TEST_KEY, anthropic: `${TEST_KEY}-anthropic`, gemini: `${TEST_KEY}-gemini` },
      defaultModel: 'gpt-4o-mini',
      retry: FAST_RETRY,
      ...options,
    });
    this.fibers.push(f);
    return f;
  }

  /** Start a raw server, closed when the row ends. */
  async raw(handlers: RawServerHandlers): Promise<RawServer> {
    const s = await rawServer(handlers);
    this.closers.push(() => s.close());
    return s;
  }

  /** Register something else to close when the row ends. */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  /** A test-side timer, cleared when the row ends if it has not fired. */
  after(ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
  }

  /** The rejection of `p` and how long it took (fails the row if `p` resolves). */
  async failure(p: Promise<unknown>): Promise<{ error: FiberError; ms: number }> {
    const t0 = performance.now();
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(FiberError);
      return { error: e as FiberError, ms: performance.now() - t0 };
    }
    throw new Error('expected the call to fail, it succeeded');
  }

  /** The value of `p` and how long it took. */
  async success<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
    const t0 = performance.now();
    const value = await p;
    return { value, ms: performance.now() - t0 };
  }

  /** Iterate a stream to its end or failure, keeping the events it delivered. */
  async drain(stream: AsyncIterable<StreamEvent>): Promise<Drained> {
    const t0 = performance.now();
    const events: StreamEvent[] = [];
    try {
      for await (const ev of stream) events.push(ev);
    } catch (error) {
      return { events, error, ms: performance.now() - t0 };
    }
    return { events, error: null, ms: performance.now() - t0 };
  }

  /** @internal */
  async cleanup(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.fibers.splice(0).map((f) => f.close()));
    await Promise.all(this.closers.splice(0).map((c) => c()));
  }
}

/** Assert a duration stayed under a deadline plus `MARGIN_MS` (an upper bound: "it did not hang"). */
export function expectWithin(ms: number, deadlineMs: number): void {
  expect(ms, `took ${Math.round(ms)} ms; deadline ${deadlineMs} ms + ${MARGIN_MS} ms margin`).toBeLessThan(deadlineMs + MARGIN_MS);
}

export { logsOf, textOf, typesOf, type LogEvent } from '../helpers/core.js';
export { useEmulator } from '../helpers/emulator.js';
export const doneOf = (events: readonly StreamEvent[]) => {
  const last = events.at(-1);
  expect(last?.type).toBe('done');
  return (last as Extract<StreamEvent, { type: 'done' }>).result;
};

/**
 * Register the rows of `file` (its name under `test/faults/`). `fault(id, body)` defines the row's test, named by
 * the matrix; a row the file does not define, or an id the matrix does not list, fails the file.
 */
export function faultSuite(file: string) {
  const prefix = `${file} > `;
  const rows = MATRIX.filter((r) => r.test.startsWith(prefix));
  const defined = new Set<string>();

  function fault(id: string, body: (kit: Kit, row: FaultRow) => Promise<void>, timeoutMs?: number): void {
    const row = rows.find((r) => r.id === id);
    if (row === undefined) throw new Error(`fault matrix: no row "${id}" names ${file}`);
    if (defined.has(id)) throw new Error(`fault matrix: row "${id}" defined twice in ${file}`);
    defined.add(id);
    it(row.test.slice(prefix.length), async () => {
      const handles = trackHandles();
      const kit = new Kit();
      try {
        await body(kit, row);
      } finally {
        await kit.cleanup();
      }
      await handles.expectAllClosed();
    }, timeoutMs);
  }

  /** The last test of the file: every row naming it was defined here. */
  function coversTheMatrix(): void {
    it(`defines every fault-matrix row that names ${file}`, () => {
      expect([...defined].sort()).toEqual(rows.map((r) => r.id).sort());
      expect(rows.length).toBeGreaterThan(0);
    });
  }

  return { fault, coversTheMatrix };
}

/** SSE response headers for raw servers that write chunked event streams. */
export const SSE_CHUNKED = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'transfer-encoding': 'chunked' };
