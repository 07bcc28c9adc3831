#!/usr/bin/env node
// Profile helper: drive one benchmark driver against a running mock server (the shared harness's server.mjs),
// to run under `node --cpu-prof`, and summarize a .cpuprofile by self time.
//
//   node ../shared/bench/server.mjs 8787 &
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.mjs chat 20000          # S1-like: sequential chat calls
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.mjs stream 100          # S2a-like: 20,000-chunk streams
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.mjs s4 5                # S4-like: 1,000 paced streams × 200 chunks
//   node bench/profile.mjs --summary /tmp/prof/<file>.cpuprofile [--top 30]
//
// Options: --url http://127.0.0.1:8787 (or MOCK_URL)  --driver fiber|undici|<harness driver>|path.mjs (default fiber:
//   bench/drivers/fiber.mjs, which imports this checkout's dist/ by self-reference; other names load from the harness
//   copy that `npm run bench` keeps in bench/.harness/harness/drivers/). FIBER_PRESET / FIBER_PROTOCOL apply.
// The first half of the count is warm-up (not timed); the second half is timed and printed.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, def) => { const i = argv.indexOf(name); if (i === -1) return def; const v = argv[i + 1]; argv.splice(i, 2); return v; };

// ------------------------------------------------------------------------------------------------ summary
function summarize(file, top) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const total = prof.endTime - prof.startTime; // µs
  const nSamples = prof.samples.length;
  const per = total / Math.max(1, nSamples);
  const byFn = new Map();
  const byArea = new Map();
  const area = (url, name) => {
    if (!url) return name.startsWith('(') ? name : '(native/builtin)';
    if (/llm-fiber|\/dist\//.test(url)) return 'llm-fiber dist';
    if (/node_modules\/undici\//.test(url)) return 'undici (npm)';
    if (url.startsWith('node:')) return `node core (${url.split('/')[0].replace('node:', '')}${url.includes('internal/') ? ' internal' : ''})`;
    if (/bench\//.test(url)) return 'bench driver/script';
    return url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
  };
  for (const n of prof.nodes) {
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    const us = (n.hitCount ?? 0) * per;
    if (!us) continue;
    const key = `${name}  ${url ? `${url.replace(/^file:\/\/.*\/(dist|node_modules|bench)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(url, name);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const pct = (us) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
  console.log(`${path.basename(file)}: ${(total / 1000).toFixed(0)} ms, ${nSamples} samples\n\nself time by area:`);
  for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(v)}  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`);
  console.log(`\ntop ${top} functions by self time:`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`);
}

const summaryFile = opt('--summary', null);
if (summaryFile) {
  summarize(summaryFile, Number(opt('--top', 30)));
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------ load
const url = opt('--url', process.env.MOCK_URL ?? 'http://127.0.0.1:8787');
const driverName = opt('--driver', 'fiber');
const driverFile = driverName.endsWith('.mjs') ? path.resolve(driverName)
  : driverName === 'fiber' ? path.join(BENCH_DIR, 'drivers', 'fiber.mjs')
    : path.join(BENCH_DIR, '.harness', 'harness', 'drivers', `${driverName}.mjs`);
if (!existsSync(driverFile)) { console.error(`no driver ${driverFile} (run \`npm run bench -- --quick\` once to set up the harness copy)`); process.exit(2); }
const { create, meta } = await import(pathToFileURL(driverFile).href);
const mode = argv[0] ?? 'chat';
const count = Number(argv[1] ?? (mode === 'chat' ? 20000 : mode === 'stream' ? 100 : 5));
const MESSAGES = [{ role: 'user', content: 'Say hello.' }];
const hdr = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`x-mock-${k}`, String(v)]));

async function timed(label, n, unit, fn) {
  const half = Math.max(1, Math.floor(n / 2));
  await fn(half); // warm-up
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn(n - half);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  console.log(`${meta.name} ${label}: ${n - half} ${unit} in ${ms.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms client CPU`);
}

if (mode === 'chat') {
  const c = await create({ baseURL: url, headers: hdr({ chunks: 1, 'chunk-size': 32 }), model: 'gpt-4o-mini' });
  await timed('chat', count, 'calls', async (n) => { for (let i = 0; i < n; i++) if ((await c.chat(MESSAGES)).length !== 32) throw new Error('bad reply'); });
  await c.close();
} else if (mode === 'stream') {
  const c = await create({ baseURL: url, headers: hdr({ chunks: 20000, 'chunk-size': 8 }), model: 'gpt-4o-mini' });
  await timed('stream', count, 'streams of 20,000 chunks', async (n) => { for (let i = 0; i < n; i++) if ((await c.stream(MESSAGES, () => {})).length !== 160000) throw new Error('bad stream'); });
  await c.close();
} else if (mode === 's4') {
  const c = await create({ baseURL: url, headers: hdr({ chunks: 200, 'chunk-size': 8, 'delay-ms': 0.25, batch: 20 }), model: 'gpt-4o-mini' });
  await timed('s4', count, 'rounds of 1,000 concurrent streams', async (n) => {
    for (let i = 0; i < n; i++) {
      await Promise.all(Array.from({ length: 1000 }, async () => { if ((await c.stream(MESSAGES)).length !== 1600) throw new Error('bad stream'); }));
    }
  });
  await c.close();
} else {
  console.error(`unknown mode ${mode} (chat | stream | s4)`);
  process.exit(2);
}
