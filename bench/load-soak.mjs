#!/usr/bin/env node
// Load and soak run of llm-fiber against its embedded emulator (issue 5, item 8). Not a timed test: it checks that
// under load and injected faults every call settles (no hung call), every failure is a typed FiberError, no
// successful call lies (wrong or partial text reported as success), memory stays flat across rounds, and closing the
// Fiber and the emulator leaves no handle behind. Figures and method: docs/load-soak.md.
//
//   npm run build                                            # the script runs the built dist/ (a private copy of it)
//   node bench/load-soak.mjs --rounds 1                       # one load round: 10,000 calls + 1,000 concurrent streams
//   node bench/load-soak.mjs                                  # soak: the same round repeated (default 7 rounds, ~2.5 min)
//   node bench/load-soak.mjs --json /tmp/load-soak.json       # also write the figures as JSON
//   node bench/load-soak.mjs --help                           # every option
//
// The emulator runs in a child process by default (--emulator child), so its CPU and memory are not the client's:
// RSS and heap figures are the client process alone. --emulator inproc runs it in this process (faster to debug).
// Faults are emulator rules matched on request headers the client sets per call (x-load-mode, x-load-fault,
// x-load-call), so exactly the calls the seeded plan picks get a fault; "-once" faults hit only the first attempt
// of a call (the retry then succeeds), the others hit every attempt.
//
// Exit status: 0 when hung = 0, handles leaked = 0, untyped failures = 0, lies = 0, unhandled rejections = 0;
// 1 otherwise; 2 for a usage or set-up error.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(SELF), '..');

// ---------------------------------------------------------------------------------------------------------------
// The fault list (fixed). `once`: only the first attempt of the call gets it. `expect`: the outcomes the contract
// allows (labels as produced by `outcomeOf`); `broken`: the server never sends a complete reply for this call, so a
// success would be a lie.

const CHAT_FAULTS = [
  { kind: '503-retry-after-0-once', once: true, rule: { status: 503, retryAfter: '0' }, expect: ['ok'] },
  // Anthropic's emulator body says `api_error` for a 503 (the real API uses 529 overloaded_error): ServerError there.
  { kind: '503-retry-after-0', rule: { status: 503, retryAfter: '0' }, expect: ['OverloadedError', 'ServerError'], broken: true },
  { kind: '429-retry-after-ms-once', once: true, rule: { status: 429, retryAfterMs: '10' }, expect: ['ok'] },
  { kind: '429-retry-after-ms', rule: { status: 429, retryAfterMs: '10' }, expect: ['RateLimitError'], broken: true },
  { kind: 'reset-before-response-once', once: true, rule: { resetBeforeResponse: true }, expect: ['ok'] },
  { kind: 'reset-before-response', rule: { resetBeforeResponse: true }, expect: ['ConnectionError'], broken: true },
  { kind: 'stall-before-headers-once', once: true, rule: { delayMs: 60_000 }, expect: ['ok'] },
  { kind: 'stall-before-headers', rule: { delayMs: 60_000 }, expect: ['TimeoutError:headers', 'TimeoutError:total'], broken: true },
  { kind: 'stall-after-headers', rule: { stallAfterHeadersMs: 60_000 }, expect: ['TimeoutError:read', 'TimeoutError:total'], broken: true },
  { kind: 'slow-body-whitespace', rule: { pingOnly: true }, expect: ['TimeoutError:total'], broken: true },
  { kind: 'drop-mid-body', rule: { dropAfterEvents: 0 }, expect: ['StreamError', 'ConnectionError', 'ServerError'], broken: true },
  { kind: 'malformed-json', rule: { malformedJson: true }, expect: ['StreamError', 'ServerError'], broken: true },
];

const STREAM_FAULTS = [
  { kind: '503-retry-after-0-once', once: true, rule: { status: 503, retryAfter: '0' }, expect: ['ok'] },
  { kind: '503-retry-after-0', rule: { status: 503, retryAfter: '0' }, expect: ['OverloadedError', 'ServerError'], broken: true },
  { kind: '429-retry-after-ms-once', once: true, rule: { status: 429, retryAfterMs: '10' }, expect: ['ok'] },
  { kind: '429-retry-after-ms', rule: { status: 429, retryAfterMs: '10' }, expect: ['RateLimitError'], broken: true },
  { kind: 'reset-before-response-once', once: true, rule: { resetBeforeResponse: true }, expect: ['ok'] },
  { kind: 'reset-before-response', rule: { resetBeforeResponse: true }, expect: ['ConnectionError'], broken: true },
  { kind: 'stall-before-first-event-once', once: true, rule: { stallAfterHeadersMs: 60_000 }, expect: ['ok'] },
  { kind: 'stall-before-first-event', rule: { stallAfterHeadersMs: 60_000 }, expect: ['TimeoutError:first_event', 'TimeoutError:total'], broken: true },
  { kind: 'ping-only', rule: { pingOnly: true }, expect: ['TimeoutError:first_event', 'TimeoutError:total'], broken: true },
  { kind: 'stall-mid-stream', rule: { stallAfterEvents: { after: 50, ms: 60_000 } }, expect: ['TimeoutError:idle'], broken: true },
  { kind: 'drop-mid-stream', rule: { dropAfterEvents: 50 }, expect: ['StreamError'], broken: true },
  { kind: 'omit-end-marker', rule: { omitEndMarker: true }, expect: ['StreamError'], broken: true },
  { kind: 'malformed-json', rule: { malformedJson: true }, expect: ['StreamError'], broken: true },
  { kind: 'in-stream-error', rule: { inStreamError: { after: 50 } }, expect: ['OverloadedError', 'ServerError'], broken: true },
];

const PROVIDERS = [
  { name: 'openai', model: 'gpt-4o-mini' },
  { name: 'anthropic', model: 'claude-3-5-haiku-latest' },
  { name: 'gemini', model: 'gemini-2.0-flash' },
];

/** Reply of every non-faulted chat call (the JSON reply carries the concatenation). */
const CHAT_CHUNKS = ['The ', 'quick ', 'brown ', 'fox ', 'jumps ', 'over ', 'the ', 'lazy ', 'dog.'];
const streamChunks = (n) => Array.from({ length: n }, (_, i) => `w${i} `);

// ---------------------------------------------------------------------------------------------------------------
// Options

const OPTIONS = {
  rounds: { type: 'string', default: '7', help: 'rounds of the mixed load (1 = a load run; the default is the soak, ~2–3 min)' },
  calls: { type: 'string', default: '10000', help: 'non-streaming calls per round' },
  concurrency: { type: 'string', default: '200', help: 'non-streaming calls in flight' },
  streams: { type: 'string', default: '1000', help: 'streams per round, started over --ramp-ms and open together' },
  chunks: { type: 'string', default: '200', help: 'chunks per stream' },
  'ramp-ms': { type: 'string', default: '2000', help: 'streams are started evenly over this window (0 = all in one tick)' },
  'chunk-delay-ms': { type: 'string', default: '20', help: 'server pacing between stream events (ms)' },
  'fault-rate': { type: 'string', default: '0.05', help: 'share of calls (and of streams) that get a fault' },
  seed: { type: 'string', default: '20260105', help: 'seed of the fault plan (same seed, same plan)' },
  'read-ms': { type: 'string', default: '1000', help: 'non-streaming calls: Timeouts.readMs (headers, then body bytes)' },
  'total-ms': { type: 'string', default: '5000', help: 'non-streaming calls: Timeouts.totalMs (the whole call, retries included)' },
  'stream-read-ms': { type: 'string', default: '5000', help: 'streams (per-call timeout): readMs' },
  'first-event-ms': { type: 'string', default: '3000', help: 'streams: firstEventMs (see docs/load-soak.md for why not 200)' },
  'idle-ms': { type: 'string', default: '1000', help: 'streams: idleMs' },
  'stream-total-ms': { type: 'string', default: '20000', help: 'streams: totalMs' },
  tight: { type: 'boolean', default: false, help: 'streams get firstEventMs = idleMs = 200, readMs 1000, totalMs 5000 (below this machine\'s floor at 1,000 streams)' },
  'margin-ms': { type: 'string', default: '2000', help: 'watchdog: a call not settled by start + totalMs + margin is hung' },
  'flat-pct': { type: 'string', default: '5', help: 'RSS/heap "flat": the last round ends at most this much above round 2 (%)' },
  preset: { type: 'string', default: 'prod', help: 'Fiber preset' },
  emulator: { type: 'string', default: 'child', help: 'child (separate process) | inproc' },
  json: { type: 'string', help: 'write the figures to this file' },
  'no-snapshot': { type: 'boolean', default: false, help: 'import dist/ in place instead of a private copy of it' },
  help: { type: 'boolean', default: false },
};

function usage() {
  const lines = ['usage: node --expose-gc bench/load-soak.mjs [options]   (re-runs itself with --expose-gc when needed)', ''];
  for (const [name, o] of Object.entries(OPTIONS)) {
    lines.push(`  --${name}${o.type === 'string' ? ' <v>' : ''}`.padEnd(28) + (o.help ?? '') + (o.default !== undefined && o.type === 'string' ? ` [${o.default}]` : ''));
  }
  return lines.join('\n');
}

function readOptions(argv) {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const int = (k, min) => {
    const v = Number(values[k]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${k} must be an integer >= ${min}`);
    return v;
  };
  const num = (k, min, max = Infinity) => {
    const v = Number(values[k]);
    if (!(v >= min && v <= max)) throw new Error(`--${k} must be a number in [${min}, ${max}]`);
    return v;
  };
  if (!['child', 'inproc'].includes(values.emulator)) throw new Error('--emulator must be child or inproc');
  return {
    rounds: int('rounds', 1),
    calls: int('calls', 0),
    concurrency: int('concurrency', 1),
    streams: int('streams', 0),
    chunks: int('chunks', 60),
    chunkDelayMs: num('chunk-delay-ms', 0),
    rampMs: num('ramp-ms', 0),
    faultRate: num('fault-rate', 0, 1),
    seed: int('seed', 0),
    readMs: num('read-ms', 1),
    totalMs: num('total-ms', 1),
    streamTimeouts: values.tight
      ? { readMs: 1000, firstEventMs: 200, idleMs: 200, totalMs: 5000 }
      : { readMs: num('stream-read-ms', 1), firstEventMs: num('first-event-ms', 1), idleMs: num('idle-ms', 1), totalMs: num('stream-total-ms', 1) },
    marginMs: num('margin-ms', 0),
    flatPct: num('flat-pct', 0),
    preset: values.preset,
    emulator: values.emulator,
    json: values.json ?? null,
    snapshot: !values['no-snapshot'],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The emulator side: the same set-up in a child process or in this one.

async function setupEmulator(startEmulator, cfg) {
  const emu = await startEmulator();
  const chatBase = { chunks: CHAT_CHUNKS };
  const streamBase = { chunks: streamChunks(cfg.chunks), ...(cfg.chunkDelayMs > 0 ? { chunkDelayMs: cfg.chunkDelayMs } : {}) };
  const onceSeen = new Set();
  let served = new Map(); // `${mode}:${kind}` -> { responses, calls: Set<callId> }
  const record = (key, id) => {
    let s = served.get(key);
    if (s === undefined) served.set(key, (s = { responses: 0, calls: new Set() }));
    s.responses += 1;
    s.calls.add(id);
  };
  for (const [mode, list, base] of [['chat', CHAT_FAULTS, chatBase], ['stream', STREAM_FAULTS, streamBase]]) {
    for (const f of list) {
      emu.script({
        ...base,
        ...f.rule,
        times: Infinity,
        match: (req) => {
          const h = req.headers;
          if (h['x-load-mode'] !== mode || h['x-load-fault'] !== f.kind) return false;
          const id = h['x-load-call'];
          if (f.once) {
            if (onceSeen.has(id)) return false;
            onceSeen.add(id);
          }
          record(`${mode}:${f.kind}`, id);
          return true;
        },
      });
    }
  }
  // Everything else: a well-formed reply. The recorded requests are dropped as they pile up (this is a load run).
  emu.script({ ...streamBase, times: Infinity, match: (req) => req.headers['x-load-mode'] === 'stream' });
  emu.script({
    ...chatBase,
    times: Infinity,
    match: (req) => {
      if (emu.requests.length > 20_000) emu.requests.length = 0;
      return req.headers['x-load-mode'] === 'chat';
    },
  });
  return {
    baseUrls: { ...emu.baseUrls },
    /** Served faults since the last call, then start counting afresh. */
    takeStats() {
      const out = {};
      for (const [key, s] of served) out[key] = { responses: s.responses, calls: s.calls.size };
      served = new Map();
      onceSeen.clear();
      emu.requests.length = 0;
      const m = process.memoryUsage();
      const cpu = process.cpuUsage();
      return { served: out, rss: m.rss, heapUsed: m.heapUsed, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
    },
    close: () => emu.close(),
  };
}

async function emulatorChildMain(cfg) {
  const { startEmulator } = await import(pathToFileURL(exportTargets(cfg.libDir).testing).href);
  const host = await setupEmulator(startEmulator, cfg);
  process.on('message', async (msg) => {
    if (msg?.op === 'stats') process.send({ id: msg.id, result: host.takeStats() });
    else if (msg?.op === 'close') {
      await host.close();
      process.send({ id: msg.id, result: true }, () => process.disconnect());
    }
  });
  // The parent went away without closing us: close the emulator, so this process ends too.
  process.once('disconnect', () => void host.close());
  process.send({ op: 'ready', baseUrls: host.baseUrls });
}

/** The emulator in a child process, behind the same interface as `setupEmulator`'s. */
async function startChildEmulator(cfg) {
  const child = spawn(process.execPath, [SELF, '--emulator-child', JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pending = new Map();
  let next = 0;
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject);
    exited.then(({ code, signal }) => reject(new Error(`emulator child exited early (${code ?? signal})`)));
    child.on('message', (msg) => {
      if (msg?.op === 'ready') resolve(msg.baseUrls);
      else if (pending.has(msg?.id)) {
        pending.get(msg.id)(msg.result);
        pending.delete(msg.id);
      }
    });
  });
  const rpc = (op) => new Promise((resolve) => {
    const id = ++next;
    pending.set(id, resolve);
    child.send({ op, id });
  });
  const baseUrls = await ready;
  return {
    baseUrls,
    pid: child.pid,
    takeStats: () => rpc('stats'),
    async close() {
      await rpc('close');
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The library under test. Other work rebuilds dist/ concurrently (tsup empties it first), so by default the run
// imports a private copy taken when dist/ is complete: <tmp>/node_modules/llm-fiber/{package.json,dist} with
// node_modules/undici linked to this checkout's. The child emulator imports the same copy.

function exportTargets(pkgDir) {
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  return { index: path.join(pkgDir, pkg.exports['.'].import), testing: path.join(pkgDir, pkg.exports['./testing'].import) };
}

/** Newest mtime under dir, or null when a file vanished mid-walk. */
function newestMtime(dir) {
  let newest = 0;
  try {
    for (const name of readdirSync(dir)) newest = Math.max(newest, statSync(path.join(dir, name)).mtimeMs);
  } catch {
    return null;
  }
  return newest;
}

async function snapshotLibrary() {
  const dist = path.join(REPO, 'dist');
  const targets = exportTargets(REPO);
  const dir = path.join(os.tmpdir(), `llm-fiber-load-soak-${process.pid}`);
  const pkgDir = path.join(dir, 'node_modules', 'llm-fiber');
  for (let attempt = 1; ; attempt++) {
    // dist/ complete (every export target there) and untouched for a second.
    const m1 = existsSync(targets.index) && existsSync(targets.testing) ? newestMtime(dist) : null;
    await sleep(1000);
    const m2 = existsSync(targets.index) && existsSync(targets.testing) ? newestMtime(dist) : null;
    if (m1 !== null && m1 === m2) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(pkgDir, { recursive: true });
      try {
        cpSync(path.join(REPO, 'package.json'), path.join(pkgDir, 'package.json'));
        cpSync(dist, path.join(pkgDir, 'dist'), { recursive: true });
        if (newestMtime(dist) === m2) break;
      } catch { /* dist/ changed under the copy: again */ }
    }
    if (attempt >= 120) throw new Error('dist/ is missing or keeps changing: run `npm run build` first');
  }
  const undici = path.dirname(createRequire(path.join(REPO, 'package.json')).resolve('undici/package.json'));
  symlinkSync(undici, path.join(dir, 'node_modules', 'undici'), 'dir');
  return { dir, pkgDir };
}

async function importLibrary(pkgDir) {
  const t = exportTargets(pkgDir);
  return { index: await import(pathToFileURL(t.index).href), testingPath: t.testing };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** mulberry32: a small seeded PRNG, so a seed gives the same fault plan on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exactly round(n × rate) distinct indices out of n. */
function pickIndices(n, rate, rand) {
  const k = Math.round(n * rate);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return new Set(idx.slice(0, k));
}

const tally = (list) => {
  const m = {};
  for (const x of list) m[x] = (m[x] ?? 0) + 1;
  return m;
};
const inc = (obj, key, by = 1) => {
  obj[key] = (obj[key] ?? 0) + by;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = (b) => `${(b / 1048576).toFixed(1)} MB`;
const pct = (a, b) => (b === 0 ? 0 : ((a - b) / b) * 100);

async function gcSample() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await sleep(20);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** Resource types of `process.getActiveResourcesInfo()` above `base` (a tally), waiting up to `waitMs` for closes to land. */
async function extrasOver(base, waitMs) {
  let extra = {};
  const until = Date.now() + waitMs;
  for (;;) {
    extra = {};
    for (const [type, n] of Object.entries(tally(process.getActiveResourcesInfo()))) {
      const over = n - (base[type] ?? 0);
      if (over > 0) extra[type] = over;
    }
    if (Object.keys(extra).length === 0 || Date.now() >= until) return extra;
    await sleep(25);
  }
}

/** Linux: the kernel's TcpExt ListenOverflows counter (system-wide), or null elsewhere. */
function listenOverflows() {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      if (!lines[i].startsWith('TcpExt:')) continue;
      const names = lines[i].split(/\s+/);
      const values = lines[i + 1].split(/\s+/);
      const k = names.indexOf('ListenOverflows');
      return k > 0 ? Number(values[k]) : null;
    }
  } catch { /* not Linux */ }
  return null;
}

const handleCount = (extra) => Object.values(extra).reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------------------------------------------------------
// One call, its outcome, and the watchdog

/**
 * Outcome label: 'ok', or the error class plus the TimeoutError phase ('TimeoutError:idle'). A thrown value that is
 * not a FiberError is 'untyped:<name>'; a bare FiberError (the wrapper for unknown errors) is 'untyped:FiberError'.
 */
function outcomeOf(err, FiberError) {
  if (!(err instanceof FiberError)) return `untyped:${err?.name ?? typeof err}`;
  if (err.name === 'FiberError' || Object.getPrototypeOf(err) === FiberError.prototype) return 'untyped:FiberError';
  return err.name === 'TimeoutError' ? `TimeoutError:${err.phase}` : err.name;
}

/** Detailed failure key: class, code, phase, status. */
function failureKey(err, FiberError) {
  if (!(err instanceof FiberError)) return `untyped ${err?.name ?? typeof err}: ${String(err?.message ?? err).slice(0, 120)}`;
  const parts = [err.name];
  if (err.code !== undefined) parts.push(`code=${err.code}`);
  if (err.phase !== undefined && err.name === 'TimeoutError') parts.push(`phase=${err.phase}`);
  if (err.status !== undefined) parts.push(`status=${err.status}`);
  return parts.join(' ');
}

class Watchdog {
  constructor(marginMs) {
    this.marginMs = marginMs;
    this.live = new Map(); // id -> { deadline, onHung }
    this.timer = setInterval(() => this.scan(), 100);
  }
  /** Track a call whose deadline is `totalMs` away; `onHung` runs once if it has not settled by deadline + margin. */
  track(id, totalMs, info, onHung) {
    const entry = { started: performance.now(), deadline: performance.now() + totalMs + this.marginMs, info, onHung };
    this.live.set(id, entry);
    return () => this.live.delete(id);
  }
  scan() {
    const now = performance.now();
    for (const [id, e] of this.live) {
      if (now < e.deadline) continue;
      this.live.delete(id);
      e.onHung(Math.round(now - e.started));
    }
  }
  stop() {
    clearInterval(this.timer);
  }
}

/** Run `fn` under the watchdog: resolves with its outcome record, or with `hung` when the deadline passed. */
function watched(watchdog, id, totalMs, info, fn, onHungExtra) {
  return new Promise((resolve) => {
    let settled = false;
    const release = watchdog.track(id, totalMs, info, (elapsedMs) => {
      if (settled) return;
      settled = true;
      try { onHungExtra?.(); } catch { /* best effort */ }
      resolve({ outcome: 'hung', elapsedMs });
    });
    fn().then(
      (rec) => {
        release();
        if (!settled) { settled = true; resolve(rec); }
      },
      (err) => {
        release();
        if (!settled) { settled = true; resolve({ outcome: 'script-error', error: err }); }
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// A round

function planRound(cfg, round) {
  const rand = rng((cfg.seed * 1_000_003 + round * 7_919) >>> 0);
  const plan = (n, list, mode) => {
    const faulted = pickIndices(n, cfg.faultRate, rand);
    return Array.from({ length: n }, (_, i) => {
      const provider = PROVIDERS[Math.floor(rand() * PROVIDERS.length)];
      const fault = faulted.has(i) ? list[Math.floor(rand() * list.length)] : null;
      // Caller behaviour on clean streams: mostly iterate, some only await result(), a few leave early or abort.
      // Non-streaming: 1 % of clean calls are aborted by the caller's AbortSignal 0–20 ms after the start (any phase).
      let style = mode === 'stream' ? 'iterate' : 'call';
      let abortAfterMs = 0;
      if (fault === null) {
        const r = rand();
        if (mode === 'stream') style = r < 0.08 ? 'result' : r < 0.1 ? 'break' : r < 0.11 ? 'abort' : 'iterate';
        else if (r < 0.01) {
          style = 'signal';
          abortAfterMs = Math.floor(rand() * 21);
        }
      }
      return { id: `r${round}-${mode[0]}${i}`, mode, provider, fault, style, abortAfterMs };
    });
  };
  return { chats: plan(cfg.calls, CHAT_FAULTS, 'chat'), streams: plan(cfg.streams, STREAM_FAULTS, 'stream') };
}

function newTotals() {
  return {
    calls: 0,
    byMode: { chat: { calls: 0, ok: 0, failed: 0, cancelled: 0, hung: 0 }, stream: { calls: 0, ok: 0, failed: 0, cancelled: 0, hung: 0 } },
    faultsInjected: 0,
    faultsByKind: {}, // `${mode}:${kind}` -> calls planned
    faultsServed: {}, // `${mode}:${kind}` -> { responses, calls } as counted by the emulator
    outcomesByFault: {}, // `${mode}:${kind}` -> { outcome: n }
    failuresByType: {}, // detailed key -> n (all failures, faulted or not, caller aborts excluded)
    unfaultedFailures: {}, // failures of calls that got no fault: load-induced (e.g. timeouts on a busy machine)
    cancelledByCaller: {},
    okAttempts: {}, // attempts of successful calls -> n
    hung: 0,
    hungCalls: [],
    untyped: 0,
    untypedSamples: [],
    lies: 0, // a success for a call whose every attempt was broken, or whose text is wrong
    lieSamples: [],
    unexpected: 0, // outcome not in the fault's `expect` list (informational)
    scriptErrors: 0,
  };
}

function addTotals(into, from) {
  into.calls += from.calls;
  for (const m of ['chat', 'stream']) for (const k of Object.keys(into.byMode[m])) into.byMode[m][k] += from.byMode[m][k];
  into.faultsInjected += from.faultsInjected;
  for (const k of ['faultsByKind', 'failuresByType', 'unfaultedFailures', 'cancelledByCaller', 'okAttempts']) {
    for (const [key, n] of Object.entries(from[k])) inc(into[k], key, n);
  }
  for (const [key, s] of Object.entries(from.faultsServed)) {
    into.faultsServed[key] ??= { responses: 0, calls: 0 };
    into.faultsServed[key].responses += s.responses;
    into.faultsServed[key].calls += s.calls;
  }
  for (const [key, o] of Object.entries(from.outcomesByFault)) {
    into.outcomesByFault[key] ??= {};
    for (const [out, n] of Object.entries(o)) inc(into.outcomesByFault[key], out, n);
  }
  for (const k of ['hung', 'untyped', 'lies', 'unexpected', 'scriptErrors']) into[k] += from[k];
  into.hungCalls.push(...from.hungCalls.slice(0, 20 - into.hungCalls.length));
  into.untypedSamples.push(...from.untypedSamples.slice(0, 10 - into.untypedSamples.length));
  into.lieSamples.push(...from.lieSamples.slice(0, 10 - into.lieSamples.length));
}

async function runRound(ctx, round) {
  const { cfg, fiber, FiberError, watchdog } = ctx;
  const t = newTotals();
  const { chats, streams } = planRound(cfg, round);
  const expectedChat = CHAT_CHUNKS.join('');
  const expectedStream = streamChunks(cfg.chunks).join('');

  const request = (c) => ({
    model: `${c.provider.name}:${c.provider.model}`,
    messages: `load ${c.id}`,
    headers: { 'x-load-mode': c.mode, 'x-load-fault': c.fault?.kind ?? 'none', 'x-load-call': c.id },
  });

  const settle = (c, rec) => {
    const m = t.byMode[c.mode];
    m.calls += 1;
    t.calls += 1;
    const key = c.fault ? `${c.mode}:${c.fault.kind}` : null;
    if (key) {
      t.faultsInjected += 1;
      inc(t.faultsByKind, key);
      t.outcomesByFault[key] ??= {};
      inc(t.outcomesByFault[key], rec.outcome);
    }
    if (rec.outcome === 'hung') {
      m.hung += 1;
      t.hung += 1;
      if (t.hungCalls.length < 20) t.hungCalls.push({ id: c.id, mode: c.mode, provider: c.provider.name, fault: c.fault?.kind ?? null, style: c.style, elapsedMs: rec.elapsedMs, progress: rec.progress ?? null });
      return;
    }
    if (rec.outcome === 'script-error') {
      t.scriptErrors += 1;
      console.error(`script error on ${c.id}:`, rec.error);
      return;
    }
    if (rec.outcome === 'cancelled' || (rec.callerAbort && rec.outcome === 'AbortError')) {
      m.cancelled += 1;
      inc(t.cancelledByCaller, `${c.style}: ${rec.outcome}`);
      return;
    }
    if (rec.outcome === 'ok') {
      m.ok += 1;
      inc(t.okAttempts, String(rec.attempts));
      const wrongText = rec.text !== (c.mode === 'chat' ? expectedChat : expectedStream);
      if (wrongText || (key && c.fault.broken)) {
        t.lies += 1;
        if (t.lieSamples.length < 10) {
          t.lieSamples.push({ id: c.id, mode: c.mode, provider: c.provider.name, fault: c.fault?.kind ?? null, textLength: rec.text?.length, chunks: rec.chunks ?? null });
        }
      }
    } else {
      m.failed += 1;
      inc(t.failuresByType, rec.key);
      if (!key) inc(t.unfaultedFailures, `${c.mode} ${rec.key}`);
      if (rec.outcome.startsWith('untyped')) {
        t.untyped += 1;
        if (t.untypedSamples.length < 10) t.untypedSamples.push({ id: c.id, mode: c.mode, provider: c.provider.name, fault: c.fault?.kind ?? null, error: rec.key, stack: rec.stack });
      }
    }
    if (key && !c.fault.expect.includes(rec.outcome)) t.unexpected += 1;
  };

  const failed = (err) => ({ outcome: outcomeOf(err, FiberError), key: failureKey(err, FiberError), stack: err instanceof FiberError ? undefined : String(err?.stack ?? err).slice(0, 800) });

  // --- phase 1: non-streaming calls, `concurrency` in flight ---
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < chats.length) {
      const c = chats[nextIndex++];
      const controller = new AbortController();
      const rec = await watched(watchdog, c.id, cfg.totalMs, { mode: 'chat', provider: c.provider.name, fault: c.fault?.kind ?? null, style: c.style }, async () => {
        const timer = c.style === 'signal' ? setTimeout(() => controller.abort(), c.abortAfterMs) : null;
        try {
          const r = await fiber.chat({ ...request(c), signal: controller.signal });
          return { outcome: 'ok', text: r.text, attempts: r.attempts };
        } catch (err) {
          return { ...failed(err), callerAbort: c.style === 'signal' };
        } finally {
          if (timer !== null) clearTimeout(timer);
        }
      }, () => controller.abort());
      settle(c, rec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency, chats.length) }, worker));
  const chatMs = performance.now() - t0;
  const cpu1 = process.cpuUsage();

  // --- phase 2: all streams at once ---
  const ttfc = []; // call start → first chunk, iterated streams
  const t1 = performance.now();
  // Started `rampMs / streams` apart (0: all in the same tick); each counts as open from its start to its settling.
  let open = 0;
  let peakOpen = 0;
  let streaming = 0; // open and past the first chunk
  let peakStreaming = 0;
  const gap = cfg.streams > 0 ? cfg.rampMs / cfg.streams : 0;
  await Promise.all(streams.map(async (c, i) => {
    if (gap > 0) {
      const at = t1 + i * gap;
      if (at - performance.now() >= 1) await sleep(at - performance.now());
    }
    const s = fiber.chatStream({ ...request(c), timeout: cfg.streamTimeouts });
    const progress = { chunks: 0 };
    const started = performance.now();
    peakOpen = Math.max(peakOpen, ++open);
    return watched(watchdog, c.id, cfg.streamTimeouts.totalMs, { mode: 'stream', provider: c.provider.name, fault: c.fault?.kind ?? null, style: c.style }, async () => {
      if (c.style === 'result') {
        try {
          const r = await s.result();
          return { outcome: 'ok', text: r.text, attempts: r.attempts };
        } catch (err) {
          return failed(err);
        }
      }
      let text = '';
      let done = null;
      let aborted = false;
      try {
        for await (const ev of s) {
          if (ev.type === 'chunk') {
            if (progress.chunks === 0) {
              ttfc.push(performance.now() - started);
              peakStreaming = Math.max(peakStreaming, ++streaming);
            }
            text += ev.delta;
            progress.chunks += 1;
            if (c.style === 'break' && progress.chunks === 10) break;
            if (c.style === 'abort' && progress.chunks === 10) {
              aborted = true;
              s.abort();
            }
          } else if (ev.type === 'done') done = ev.result;
        }
      } catch (err) {
        return { ...failed(err), callerAbort: aborted };
      }
      if (c.style === 'break') return { outcome: 'cancelled' };
      if (aborted) return { outcome: 'abort-not-honoured', key: 'abort() not honoured: the iteration ended without AbortError' };
      if (done === null) return { outcome: 'ok', text: `${text}<no done event>`, chunks: progress.chunks, attempts: 0 };
      const bad = done.text !== text;
      return { outcome: 'ok', text: bad ? `${text}<result.text differs>` : text, chunks: progress.chunks, attempts: done.attempts };
    }, () => s.abort()).then((rec) => {
      open -= 1;
      if (progress.chunks > 0) streaming -= 1;
      if (rec.outcome === 'hung') rec.progress = progress;
      settle(c, rec);
    });
  }));
  const streamMs = performance.now() - t1;
  const cpu2 = process.cpuUsage();
  const cpuMs = (a, b) => Math.round((b.user - a.user + b.system - a.system) / 1000);

  const stats = await ctx.emulator.takeStats();
  t.faultsServed = {};
  for (const [key, s] of Object.entries(stats.served)) t.faultsServed[key] = s;
  ttfc.sort((a, b) => a - b);
  const q = (p) => (ttfc.length ? Math.round(ttfc[Math.min(ttfc.length - 1, Math.floor(p * ttfc.length))]) : null);
  return { totals: t, chatMs, streamMs, peakOpen, peakStreaming, emulatorRss: stats.rss, emulatorCpuMs: stats.cpuMs, chatCpuMs: cpuMs(cpu0, cpu1), streamCpuMs: cpuMs(cpu1, cpu2), ttfc: { n: ttfc.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) } };
}

// ---------------------------------------------------------------------------------------------------------------
// Main

function machine() {
  const cpus = os.cpus();
  let commit = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: new URL('..', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch { /* not a checkout */ }
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    commit,
  };
}

async function main() {
  let cfg;
  try {
    cfg = readOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`${e.message}\n\n${usage()}`);
    process.exit(2);
  }

  const snapshot = cfg.snapshot ? await snapshotLibrary() : null;
  if (snapshot) process.once('exit', () => rmSync(snapshot.dir, { recursive: true, force: true }));
  const libDir = snapshot?.pkgDir ?? REPO;
  // stdout/stderr handles are created on first use: create them now so the baseline holds them.
  void process.stdout.fd;
  void process.stderr.fd;
  const baseline = tally(process.getActiveResourcesInfo());
  const lib = await importLibrary(libDir);
  const { Fiber, FiberError } = lib.index;
  let unhandled = 0;
  const unhandledSamples = [];
  process.on('unhandledRejection', (reason) => {
    unhandled += 1;
    if (unhandledSamples.length < 5) unhandledSamples.push(String(reason?.stack ?? reason).slice(0, 600));
  });

  const emuCfg = { chunks: cfg.chunks, chunkDelayMs: cfg.chunkDelayMs, libDir };
  const emulator = cfg.emulator === 'child'
    ? await startChildEmulator(emuCfg)
    : await setupEmulator((await import(pathToFileURL(lib.testingPath).href)).startEmulator, emuCfg);
  const withEmulator = tally(process.getActiveResourcesInfo());

  const timeouts = { connectMs: 2_000, readMs: cfg.readMs, totalMs: cfg.totalMs };
  const fiber = new Fiber({
    apiKeys: { openai: 'sk-fake-load-soak-openai-0000', anthropic: 'sk-ant-fake-load-soak-0000', gemini: 'gm-load-soak-0000' },
    baseUrls: emulator.baseUrls,
    timeouts,
    preset: cfg.preset,
  });
  const watchdog = new Watchdog(cfg.marginMs);
  const ctx = { cfg, fiber, FiberError, watchdog, emulator };

  const m = machine();
  const startedAt = new Date();
  const load0 = os.loadavg();
  console.log(`llm-fiber load/soak · ${startedAt.toISOString()} · node ${m.node} · ${m.cpus} × ${m.cpuModel} · ${m.memGB} GB${m.commit ? ` · ${m.commit}` : ''}`);
  console.log(`rounds ${cfg.rounds} × (${cfg.calls.toLocaleString('en')} calls @ ${cfg.concurrency} in flight + ${cfg.streams.toLocaleString('en')} concurrent streams × ${cfg.chunks} chunks, ${cfg.chunkDelayMs} ms apart) · faults ${(cfg.faultRate * 100).toFixed(1)} % · seed ${cfg.seed}`);
  console.log(`emulator: ${cfg.emulator === 'child' ? `child process ${emulator.pid}` : 'in this process'} · preset ${cfg.preset} · watchdog: deadline + ${cfg.marginMs} ms`);
  console.log(`timeouts: Fiber ${JSON.stringify(timeouts)} · streams per call ${JSON.stringify(cfg.streamTimeouts)}\n`);
  console.log('round   chat ms  calls/s   stream ms  1st chunk p50/p99   ok      failed (no fault)  cancel  hung  lies  RSS start→end (MB)   heap start→end (MB)   sockets timers  listen ovf');

  const totals = newTotals();
  const rounds = [];
  const tStart = performance.now();
  for (let r = 1; r <= cfg.rounds; r++) {
    const before = await gcSample();
    const lo0 = listenOverflows();
    const res = await runRound(ctx, r);
    const lo1 = listenOverflows();
    const after = await gcSample();
    const res0 = tally(process.getActiveResourcesInfo());
    addTotals(totals, res.totals);
    const t = res.totals;
    const ok = t.byMode.chat.ok + t.byMode.stream.ok;
    const failed = t.byMode.chat.failed + t.byMode.stream.failed;
    const cancelled = t.byMode.chat.cancelled + t.byMode.stream.cancelled;
    rounds.push({
      round: r, chatMs: Math.round(res.chatMs), streamMs: Math.round(res.streamMs),
      callsPerSec: Math.round(cfg.calls / (res.chatMs / 1000)), calls: t.calls, ok, failed, cancelled, hung: t.hung, lies: t.lies,
      untyped: t.untyped, faultsInjected: t.faultsInjected,
      unfaultedFailures: Object.values(t.unfaultedFailures).reduce((a, b) => a + b, 0),
      listenOverflows: lo0 === null || lo1 === null ? null : lo1 - lo0,
      rssStart: before.rss, rssEnd: after.rss, heapStart: before.heapUsed, heapEnd: after.heapUsed,
      externalEnd: after.external, emulatorRss: res.emulatorRss, streamTtfcMs: res.ttfc,
      peakOpenStreams: res.peakOpen, peakStreamingStreams: res.peakStreaming,
      clientCpuMs: { chat: res.chatCpuMs, stream: res.streamCpuMs }, emulatorCpuMsCumulative: res.emulatorCpuMs,
      sockets: res0.TCPSocketWrap ?? 0, timers: res0.Timeout ?? 0,
    });
    const row = rounds.at(-1);
    console.log(
      `${String(r).padStart(5)} ${String(row.chatMs).padStart(9)} ${String(row.callsPerSec).padStart(8)} ${String(row.streamMs).padStart(11)} ${`${res.ttfc.p50 ?? '-'}/${res.ttfc.p99 ?? '-'} ms`.padStart(18)} ${String(ok).padStart(6)} ${String(failed).padStart(9)} ${`(${row.unfaultedFailures})`.padStart(10)} ${String(cancelled).padStart(7)} ${String(t.hung).padStart(5)} ${String(t.lies).padStart(5)}   ${(before.rss / 1048576).toFixed(1).padStart(7)} → ${(after.rss / 1048576).toFixed(1).padEnd(7)}    ${(before.heapUsed / 1048576).toFixed(1).padStart(7)} → ${(after.heapUsed / 1048576).toFixed(1).padEnd(7)}   ${String(row.sockets).padStart(7)} ${String(row.timers).padStart(6)} ${String(row.listenOverflows ?? '-').padStart(11)}`,
    );
  }
  const durationMs = performance.now() - tStart;
  watchdog.stop();
  // The Fiber's own counters (metrics middleware of the preset), for a cross-check with ours.
  const snap = fiber.metrics.snapshot();
  const sum = (name) => (snap[name] ?? []).reduce((a, e) => a + (e.value ?? 0), 0);
  const fiberMetrics = { request_count: sum('request_count'), error_count: sum('error_count'), retry_count: sum('retry_count') };

  // --- handles: after closing the Fiber (emulator still up: a client socket left open would show here), then after
  // closing the emulator (everything against the baseline taken before anything started) ---
  await fiber.close();
  const afterFiberClose = await extrasOver(withEmulator, 3_000);
  await emulator.close();
  const afterEmulatorClose = await extrasOver(baseline, 3_000);
  const leakedTypes = {};
  for (const e of [afterFiberClose, afterEmulatorClose]) for (const [k, n] of Object.entries(e)) leakedTypes[k] = Math.max(leakedTypes[k] ?? 0, n);
  const handlesLeaked = handleCount(leakedTypes);

  // --- memory trend ---
  const first = rounds[0];
  const last = rounds.at(-1);
  const ref = rounds[1] ?? null; // round 2: after warm-up
  const memory = {
    rssStart: first.rssStart, rssEnd: last.rssEnd, heapStart: first.heapStart, heapEnd: last.heapEnd,
    rssRound2End: ref?.rssEnd ?? null, heapRound2End: ref?.heapEnd ?? null,
    rssDriftPct: ref ? +pct(last.rssEnd, ref.rssEnd).toFixed(2) : null,
    heapDriftPct: ref ? +pct(last.heapEnd, ref.heapEnd).toFixed(2) : null,
    heapSlopeKBPerRound: null,
    peakRss: process.resourceUsage().maxRSS * 1024,
    flat: null,
  };
  if (rounds.length >= 3) {
    // least squares over rounds 2..N of the end-of-round heap
    const pts = rounds.slice(1).map((x) => [x.round, x.heapEnd / 1024]);
    const n = pts.length;
    const mx = pts.reduce((a, p) => a + p[0], 0) / n;
    const my = pts.reduce((a, p) => a + p[1], 0) / n;
    const sxy = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
    const sxx = pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    memory.heapSlopeKBPerRound = +(sxy / sxx).toFixed(1);
    // Flat: the last round ends no more than flatPct above round 2 (a decrease is not a leak).
    memory.flat = memory.rssDriftPct <= cfg.flatPct && memory.heapDriftPct <= cfg.flatPct;
  }

  const load1 = os.loadavg();
  const reasons = [];
  if (totals.hung > 0) reasons.push(`${totals.hung} hung call(s)`);
  if (handlesLeaked > 0) reasons.push(`${handlesLeaked} handle(s) leaked: ${JSON.stringify(leakedTypes)}`);
  if (totals.untyped > 0) reasons.push(`${totals.untyped} untyped failure(s)`);
  if (totals.lies > 0) reasons.push(`${totals.lies} lie(s): success reported for a broken reply or with wrong text`);
  if (unhandled > 0) reasons.push(`${unhandled} unhandled rejection(s)`);
  if (totals.scriptErrors > 0) reasons.push(`${totals.scriptErrors} script error(s)`);
  const pass = reasons.length === 0;

  const report = {
    meta: {
      date: startedAt.toISOString(), machine: m, loadavgStart: load0.map((x) => +x.toFixed(2)), loadavgEnd: load1.map((x) => +x.toFixed(2)),
      options: cfg, timeouts: { fiber: timeouts, streamPerCall: cfg.streamTimeouts }, faultList: { chat: CHAT_FAULTS.map((f) => f.kind), stream: STREAM_FAULTS.map((f) => f.kind) },
    },
    summary: {
      rounds: cfg.rounds, calls: totals.calls, chatCalls: totals.byMode.chat.calls, streamCalls: totals.byMode.stream.calls,
      ok: totals.byMode.chat.ok + totals.byMode.stream.ok,
      failed: totals.byMode.chat.failed + totals.byMode.stream.failed,
      cancelledByCaller: totals.byMode.chat.cancelled + totals.byMode.stream.cancelled,
      faultsInjected: totals.faultsInjected, hung: totals.hung, untyped: totals.untyped, lies: totals.lies,
      unexpected: totals.unexpected, unhandledRejections: unhandled, handlesLeaked,
      rssStart: memory.rssStart, rssEnd: memory.rssEnd, heapStart: memory.heapStart, heapEnd: memory.heapEnd,
      durationMs: Math.round(durationMs), pass, reasons,
    },
    byMode: totals.byMode,
    faultsByKind: totals.faultsByKind,
    faultsServed: totals.faultsServed,
    outcomesByFault: totals.outcomesByFault,
    failuresByType: totals.failuresByType,
    unfaultedFailures: totals.unfaultedFailures,
    cancelledByCaller: totals.cancelledByCaller,
    okAttempts: totals.okAttempts,
    fiberMetrics,
    memory,
    handles: { baseline, withEmulator, afterFiberClose, afterEmulatorClose, leaked: handlesLeaked, leakedTypes },
    samples: { hung: totals.hungCalls, untyped: totals.untypedSamples, lies: totals.lieSamples, unhandled: unhandledSamples },
    rounds,
  };

  printSummary(report, cfg);
  if (cfg.json) {
    writeFileSync(cfg.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nJSON: ${cfg.json}`);
  }
  process.exitCode = pass ? 0 : 1;
}

function printSummary(r, cfg) {
  const s = r.summary;
  const line = (k, v) => console.log(`  ${k.padEnd(34)} ${v}`);
  console.log('\nsummary');
  line('calls', `${s.calls.toLocaleString('en')} (${s.chatCalls.toLocaleString('en')} non-streaming, ${s.streamCalls.toLocaleString('en')} streams) in ${(s.durationMs / 1000).toFixed(1)} s`);
  line('succeeded', s.ok.toLocaleString('en'));
  line('failed (typed)', `${(s.failed - s.untyped).toLocaleString('en')}`);
  line('cancelled by the caller', `${s.cancelledByCaller} (AbortSignal on chat, stream break / abort(): by design)`);
  line('faults injected', s.faultsInjected.toLocaleString('en'));
  line('hung calls (must be 0)', s.hung);
  line('untyped failures (must be 0)', s.untyped);
  line('lies (must be 0)', `${s.lies}  (success for a broken reply, or text ≠ what the server sent)`);
  line('unhandled rejections (must be 0)', s.unhandledRejections);
  line('handles leaked (must be 0)', `${s.handlesLeaked}${s.handlesLeaked ? ' ' + JSON.stringify(r.handles.leakedTypes) : ''}`);
  line('outcome ≠ expected for the fault', `${s.unexpected} (informational)`);
  const mem = r.memory;
  line('RSS start → end (after GC)', `${MB(mem.rssStart)} → ${MB(mem.rssEnd)}${mem.rssDriftPct !== null ? ` (${mem.rssDriftPct >= 0 ? '+' : ''}${mem.rssDriftPct} % vs round 2: ${MB(mem.rssRound2End)})` : ''}`);
  line('heapUsed start → end (after GC)', `${MB(mem.heapStart)} → ${MB(mem.heapEnd)}${mem.heapDriftPct !== null ? ` (${mem.heapDriftPct >= 0 ? '+' : ''}${mem.heapDriftPct} % vs round 2: ${MB(mem.heapRound2End)}; slope ${mem.heapSlopeKBPerRound} KB/round)` : ''}`);
  line('peak RSS', MB(mem.peakRss));
  line('memory flat', mem.flat === null ? 'n/a (needs ≥ 3 rounds)' : `${mem.flat ? 'yes' : 'NO'} (last round ends ≤ ${cfg.flatPct} % above round 2)`);

  console.log('\nfaults: planned calls · served (responses / calls) · outcomes');
  const keys = [...new Set([...Object.keys(r.faultsByKind), ...Object.keys(r.faultsServed)])].sort();
  for (const key of keys) {
    const served = r.faultsServed[key] ?? { responses: 0, calls: 0 };
    const outs = Object.entries(r.outcomesByFault[key] ?? {}).sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`).join(', ');
    console.log(`  ${key.padEnd(38)} ${String(r.faultsByKind[key] ?? 0).padStart(5)} · ${String(served.responses).padStart(5)} / ${String(served.calls).padEnd(5)} · ${outs}`);
  }
  console.log('\nfailures by type (class code phase status)');
  for (const [k, n] of Object.entries(r.failuresByType).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
  if (Object.keys(r.unfaultedFailures).length) {
    console.log('\nfailures of calls that got no fault (load-induced)');
    for (const [k, n] of Object.entries(r.unfaultedFailures).sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${k}`);
  }
  const fm = r.fiberMetrics;
  console.log(`\nfiber.metrics: request_count ${fm.request_count.toLocaleString('en')} · error_count ${fm.error_count.toLocaleString('en')} · retry_count ${fm.retry_count.toLocaleString('en')}`);
  console.log(`successful calls by attempts: ${Object.entries(r.okAttempts).map(([a, n]) => `${a}: ${n}`).join(', ')}`);
  if (r.samples.hung.length) console.log('\nhung calls (first 20):', JSON.stringify(r.samples.hung, null, 1));
  if (r.samples.untyped.length) console.log('\nuntyped failures (first 10):', JSON.stringify(r.samples.untyped, null, 1));
  if (r.samples.lies.length) console.log('\nlies (first 10):', JSON.stringify(r.samples.lies, null, 1));
  if (r.samples.unhandled.length) console.log('\nunhandled rejections (first 5):', r.samples.unhandled.join('\n'));
  console.log(`\nhandles after fiber.close() (emulator up): ${JSON.stringify(r.handles.afterFiberClose)} · after emulator close: ${JSON.stringify(r.handles.afterEmulatorClose)} (extras over baseline)`);
  console.log(`\n${s.pass ? 'PASS' : 'FAIL'}${s.reasons.length ? ': ' + s.reasons.join('; ') : ''}`);
}

// ---------------------------------------------------------------------------------------------------------------

if (process.argv[2] === '--emulator-child') {
  await emulatorChildMain(JSON.parse(process.argv[3]));
} else if (typeof globalThis.gc !== 'function') {
  // Forced GC before each memory sample: re-run with --expose-gc.
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, SELF, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else {
  await main().catch((e) => {
    console.error('load-soak: set-up failed:', e);
    process.exit(2);
  });
}
