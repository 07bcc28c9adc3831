/**
 * The transport loads undici's Agent, connector and errors from their own modules, not through undici's index
 * (which also loads fetch, WebSocket, the cache...): a cold start of about 20 ms instead of about 55 ms. An undici
 * release that moves them fails here first.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as Undici from 'undici';
import { Agent, buildConnector, errors } from '../../src/undici.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('undici modules', () => {
  it('gets the same classes the index exports', () => {
    expect(Agent).toBe(Undici.Agent);
    expect(buildConnector).toBe(Undici.buildConnector);
    expect(errors.ConnectTimeoutError).toBe(Undici.errors.ConnectTimeoutError);
  });

  it('does not load undici\'s index (fetch, WebSocket) when the built package is imported', () => {
    // A fresh process: which undici files did `import('llm-fiber')` load?
    const script = `
      await import(${JSON.stringify(ROOT + 'dist/index.js')});
      const req = (await import('node:module')).createRequire(${JSON.stringify(ROOT)});
      const loaded = Object.keys(req.cache).filter((f) => f.includes('/node_modules/undici/'));
      console.log(JSON.stringify({ index: loaded.some((f) => f.endsWith('/undici/index.js')), fetch: loaded.some((f) => f.includes('/lib/web/fetch/')), agent: loaded.some((f) => f.endsWith('/lib/dispatcher/agent.js')) }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ index: false, fetch: false, agent: true });
  });
});
