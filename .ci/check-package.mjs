// Packaging check: pack the library, install the tarball into a scratch folder, load it the way users do
// (ESM import, CJS require without require(esm)), and prove that importing the root loads no optional peer.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const scratch = mkdtempSync(path.join(tmpdir(), 'llm-fiber-pack-'));
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });

let failed = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed++;
};

try {
  const tgz = run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', scratch], { cwd: root }).trim().split('\n').pop();
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', path.join(scratch, tgz)], { cwd: scratch });

  const PEERS = ['@opentelemetry/', 'hot-shots', 'pino', 'js-tiktoken', 'redis', '@redis/', 'ioredis', 'zod'];
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'llm-fiber' : `llm-fiber/${k.slice(2)}`));
  const core = subpaths.filter((s) => !/\/(otel|statsd|redis|tiktoken)$/.test(s));

  // ESM: every subpath imports, and the root carries the contract's names.
  writeFileSync(path.join(scratch, 'esm.mjs'), `
    const mods = {};
    for (const s of ${JSON.stringify(core)}) mods[s] = await import(s);
    const root = mods['llm-fiber'];
    for (const name of ['Fiber', 'ChatMessage', 'Timeouts', 'ModelRegistry', 'compose', 'defineMiddleware', 'presets', 'FiberError', 'TimeoutError']) {
      if (!(name in root)) { console.log('missing export ' + name); process.exit(1); }
    }
    const fiber = new root.Fiber({ apiKeys: { openai: 'sk-test-key-000000' } });
    await fiber.close();
    console.log(JSON.stringify({ ok: true }));
  `);
  const esm = run(process.execPath, ['esm.mjs'], { cwd: scratch });
  check(esm.includes('"ok":true'), `ESM import of ${core.join(', ')}`);

  // CJS: require the root without require(esm) support; Module._load sees every request.
  writeFileSync(path.join(scratch, 'cjs.cjs'), `
    const Module = require('module');
    const seen = [];
    const orig = Module._load;
    Module._load = function (request, parent, isMain) { seen.push(request); return orig.apply(this, arguments); };
    const mods = {};
    for (const s of ${JSON.stringify(core)}) mods[s] = require(s);
    const peers = ${JSON.stringify(PEERS)};
    const bad = seen.filter((r) => peers.some((p) => r === p || r.startsWith(p)));
    const root = mods['llm-fiber'];
    const ok = typeof root.Fiber === 'function' && typeof root.FiberError === 'function';
    console.log(JSON.stringify({ ok, bad }));
  `);
  const cjs = JSON.parse(run(process.execPath, ['--no-experimental-require-module', 'cjs.cjs'], { cwd: scratch }).trim());
  check(cjs.ok, `CJS require of ${core.join(', ')} under --no-experimental-require-module`);
  check(cjs.bad.length === 0, `CJS root loads no optional peer${cjs.bad.length ? ' (loaded: ' + cjs.bad.join(', ') + ')' : ''}`);

  // ESM: a loader hook records every resolved specifier of `import('llm-fiber')`.
  writeFileSync(path.join(scratch, 'trace-hooks.mjs'), `
    export async function resolve(spec, ctx, next) {
      const r = await next(spec, ctx);
      process.stdout.write('@@' + spec + '\\n');
      return r;
    }
  `);
  writeFileSync(path.join(scratch, 'trace.mjs'), `
    import { register } from 'node:module';
    register('./trace-hooks.mjs', import.meta.url);
    await import('llm-fiber');
  `);
  const traced = run(process.execPath, ['trace.mjs'], { cwd: scratch }).split('\n').filter((l) => l.startsWith('@@')).map((l) => l.slice(2));
  const badEsm = traced.filter((r) => PEERS.some((p) => r === p || r.startsWith(p)));
  check(traced.includes('llm-fiber'), `ESM loader trace saw the root import (${traced.length} specifiers)`);
  check(badEsm.length === 0, `ESM root loads no optional peer${badEsm.length ? ' (loaded: ' + badEsm.join(', ') + ')' : ''}`);

  // Integration subpaths import without their peers installed (peers load lazily, at first use), in both builds,
  // and the first use without the peer is a ConfigError that says what to install.
  const integrations = subpaths.filter((s) => /\/(otel|statsd|redis)$/.test(s));
  writeFileSync(path.join(scratch, 'integrations.mjs'), `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const out = {};
    for (const s of ${JSON.stringify(integrations)}) {
      const esm = await import(s);
      const cjs = require(s);
      out[s] = Object.keys(esm).length > 0 && Object.keys(cjs).length > 0;
    }
    const { otel } = await import('llm-fiber/otel');
    const { Fiber } = await import('llm-fiber');
    const { startEmulator } = await import('llm-fiber/testing');
    const emu = await startEmulator();
    const fiber = new Fiber({ apiKeys: { openai: 'sk-test-key-000000' }, baseUrls: emu.baseUrls, defaultModel: 'gpt-4o-mini' }).use(otel());
    let code = null;
    try { await fiber.chat({ messages: 'hi' }); } catch (e) { code = e.code; }
    await fiber.close(); await emu.close();
    console.log(JSON.stringify({ out, code }));
  `);
  const integ = JSON.parse(run(process.execPath, ['integrations.mjs'], { cwd: scratch }).trim());
  for (const s of integrations) check(integ.out[s] === true, `${s} imports (ESM and CJS) without its peer installed`);
  check(integ.code === 'missing_peer', 'otel() without @opentelemetry/api fails at first use with a ConfigError naming the package');

  // instanceof across the two builds (branded error classes).
  writeFileSync(path.join(scratch, 'brand.mjs'), `
    import { createRequire } from 'node:module';
    import * as esm from 'llm-fiber';
    const cjs = createRequire(import.meta.url)('llm-fiber');
    const a = new cjs.RateLimitError('x'); const b = new esm.TimeoutError('y', { phase: 'idle' });
    const ok = a instanceof esm.RateLimitError && a instanceof esm.FiberError && !(a instanceof esm.TimeoutError)
      && b instanceof cjs.TimeoutError && b instanceof cjs.FiberError && esm.FiberError !== cjs.FiberError;
    console.log(JSON.stringify({ ok }));
  `);
  const brand = JSON.parse(run(process.execPath, ['brand.mjs'], { cwd: scratch }).trim());
  check(brand.ok, 'instanceof holds across the ESM and CJS builds');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (failed) {
  console.log(`package check: ${failed} failed`);
  process.exit(1);
}
console.log('package check: all passed');
