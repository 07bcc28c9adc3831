/**
 * A real `redis-server` for the integration tests: started on a free loopback port with persistence off
 * (`--save '' --appendonly no`) in a temporary directory, ready once it answers PING, stopped in `afterAll`.
 *
 * The binary is `$REDIS_SERVER_BIN` or `redis-server` on PATH (`apt-get install -y redis-server`; `.ci/run`
 * installs it). A missing binary is an error, not a skip: the Redis store must not go untested silently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stop the server and remove its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/** Start a private `redis-server`. Rejects with install instructions when the binary is missing. */
export async function startRedisServer(): Promise<RedisServer> {
  const bin = process.env.REDIS_SERVER_BIN || 'redis-server';
  let lastError: unknown;
  // A free port can be taken between finding it and the server binding it: try a few.
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'llm-fiber-redis-'));
    const child = spawn(bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
      child.once('exit', (code) => resolve({ code }));
    });
    const gaveUp = { value: false };
    const outcome = await Promise.race([
      waitForPing(port, gaveUp).then(() => 'ready' as const, (error: NodeJS.ErrnoException) => ({ code: null, error })),
      exited,
    ]);
    const stop = stopper(child, exited, dir);
    if (outcome === 'ready') return { url: `redis://127.0.0.1:${port}`, port, stop };
    gaveUp.value = true;
    await stop();
    if (outcome.error?.code === 'ENOENT') {
      throw new Error(
        `redis-server not found (looked for "${bin}" on PATH). The Redis integration tests need a real server: `
        + 'install it with `apt-get install -y redis-server` (or `brew install redis`), or set REDIS_SERVER_BIN.',
      );
    }
    lastError = outcome.error ?? new Error(`redis-server exited with code ${outcome.code}: ${stderr.trim()}`);
  }
  throw lastError;
}

function stopper(child: ChildProcess, exited: Promise<unknown>, dir: string): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  return () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolve once the server answers `+PONG`; retry refused connections until the ready timeout. */
async function waitForPing(port: number, gaveUp: { value: boolean }): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gaveUp.value) throw new Error('gave up');
    if (await pingOnce(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}
