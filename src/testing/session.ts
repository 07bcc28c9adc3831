/**
 * One response being written by the emulator. Every wait (a delay, a stall, a `drain`) goes through `until()`,
 * so that when the client goes away or `emu.close()` destroys the socket, the response's `close` event wakes every
 * pending wait at once, clears its timer, and the writer sees `false` and stops. No timer outlives its socket.
 */
import type { ServerResponse } from 'node:http';

/** setTimeout clamps anything above this to 1 ms (with a warning), so longer waits rely on `close` alone. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Session {
  private isClosed = false;
  private readonly wakers = new Set<() => void>();
  /** Settles when the most recent `write()` reached the socket. */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(readonly res: ServerResponse) {
    const close = (): void => this.shutdown();
    res.once('close', close);
    // A write racing the peer's disconnect reports ERR_STREAM_DESTROYED / EPIPE here; it only means "stop".
    res.on('error', close);
  }

  /** True once the connection closed or the response finished. */
  get closed(): boolean {
    return this.isClosed;
  }

  private shutdown(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Wait for what `arm` sets up (it calls `done` and returns its own cleanup) or for the close of the response.
   * Resolves true if the response is still open.
   */
  private until(arm: (done: () => void) => () => void): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(false);
    return new Promise((resolve) => {
      let cleanup: () => void = () => {};
      const done = (): void => {
        if (!this.wakers.delete(done)) return;
        cleanup();
        resolve(!this.isClosed);
      };
      this.wakers.add(done);
      cleanup = arm(done);
    });
  }

  /** Wait `ms` (no timer at all beyond ~24.8 days: only the close ends it). Resolves true if still open. */
  sleep(ms: number): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(false);
    if (!(ms > 0)) return Promise.resolve(true);
    return this.until((done) => {
      if (ms > MAX_TIMER_MS) return () => {};
      const timer = setTimeout(done, ms);
      return () => clearTimeout(timer);
    });
  }

  /** Write respecting backpressure: when `write()` returns false, wait for `drain`. Resolves true if still open. */
  write(chunk: string | Uint8Array): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(false);
    let accepted = true;
    this.lastWrite = new Promise<void>((resolve) => {
      // The callback also runs (with an error) when the socket is destroyed first, so this always settles.
      accepted = this.res.write(chunk, () => resolve());
    });
    if (accepted) return Promise.resolve(true);
    return this.until((done) => {
      this.res.once('drain', done);
      return () => this.res.off('drain', done);
    });
  }

  /** Wait until the last write was handed to the socket, then one macrotask. Resolves true if still open. */
  async flush(): Promise<boolean> {
    const pending = this.lastWrite;
    const open = await this.until((done) => {
      void pending.then(done);
      return () => {};
    });
    if (!open) return false;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return !this.isClosed;
  }

  /** Write, then `flush()`: the chunk leaves on its own (raw replay split at arbitrary bytes). */
  async writeFlushed(chunk: string | Uint8Array): Promise<boolean> {
    return (await this.write(chunk)) && this.flush();
  }

  end(chunk?: string | Uint8Array): void {
    if (this.isClosed) return;
    if (chunk === undefined) this.res.end();
    else this.res.end(chunk);
  }

  /** Close the connection abruptly (FIN without completing the body). */
  destroy(): void {
    this.res.destroy();
  }

  /** Reset the connection (TCP RST where the platform allows it). */
  reset(): void {
    const socket = this.res.socket;
    if (socket !== null && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else this.res.destroy();
  }
}
