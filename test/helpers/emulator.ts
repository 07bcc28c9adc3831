/**
 * One emulator per test file: started before the file's tests, reset before each, and closed after them, after
 * every Fiber the file handed to `closeAfterAll()` — then no socket or timer may be left open.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { trackHandles } from './core.js';

const closers: Array<{ close(): Promise<unknown> }> = [];

/** Close `f` when the file's tests are done (before the emulator). Returns `f`. */
export function closeAfterAll<T extends { close(): Promise<unknown> }>(f: T): T {
  closers.push(f);
  return f;
}

/** The file's emulator. Use the returned object only inside hooks and tests (it is started in `beforeAll`). */
export function useEmulator(): Emulator {
  let emu: Emulator | undefined;
  let handles: ReturnType<typeof trackHandles> | undefined;
  beforeAll(async () => {
    handles = trackHandles();
    emu = await startEmulator();
  });
  beforeEach(() => emu!.reset());
  afterAll(async () => {
    await Promise.all(closers.splice(0).map((f) => f.close()));
    await emu!.close();
    await handles!.expectAllClosed();
  });
  return new Proxy({} as Emulator, {
    get(_t, key) {
      const value = Reflect.get(emu!, key);
      return typeof value === 'function' ? value.bind(emu) : value;
    },
  });
}
