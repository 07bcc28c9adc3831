#!/usr/bin/env node
// Responses-wire throughput: llm-fiber (`openai({ api: 'responses' })`) against a hand-written undici client of the
// same wire (the floor), on a local mock of `POST /v1/responses`. Issue 7 acceptance: "Streaming throughput on the
// Responses wire stays within the foundation's targets" — S2a chunks/s ≥ 0.85× the floor; S2b TTFC reported.
//
// The shared harness (../shared/bench) has no /v1/responses endpoint, so this file carries its own mock server and
// both clients. It follows the harness's method (same sizes, warm-ups, fresh process per measurement, interleaving,
// medians across reps, text-length checks) so the numbers read like the harness's.
//
//   npm run build                                   # this script measures dist/ (it never builds)
//   node bench/responses-wire.mjs                   # 5 reps: S2 (a + b) and S1, floor and fiber interleaved
//   node bench/responses-wire.mjs --reps 10 --json /tmp/rw.json
//   node bench/responses-wire.mjs --quick           # counts × 0.2: smoke test, not an acceptance measurement
//
// Options:
//   --reps N          reps (default 5); each rep runs every (scenario, client) pair once, in a fresh process
//   --scenario S2,S1  which scenarios (default both; S2 = S2a one long stream + S2b short streams, as in the harness)
//   --quick | --scale X   multiply the counts by 0.2 / X (S2a's 3 warm-ups and 7 iterations stay)
//   --snapshot        copy package.json + dist/ to a temp dir first and measure that copy (a concurrent
//                     `npm run build`, which cleans dist/, then cannot swap the code under a running measurement);
//                     default: `import 'llm-fiber'` by package self-reference, i.e. this checkout's dist/
//   --obfuscation     add the `obfuscation` padding field the real API puts on delta events by default
//                     (off by default: the deltas carry type, sequence_number, item_id, output_index,
//                     content_index, delta, logprobs)
//   --preset P        Fiber preset (default prod)
//   --json FILE       write every per-rep result
//   --timeout S       per child process (default 240)
//   --strict          exit 1 when S2a misses its target
//   --set S2.warmup=30,S1.calls=500   override scenario sizes (not an acceptance measurement unless defaults)
//   --pool A.json B.json …   no measurement: one table from the per-rep results of earlier --json runs (all reps
//                     of all files, per-rep ratios within each rep)
//   --profile fiber|floor N  no table: start the mock, run N 20,000-chunk streams in THIS process (first half
//                     warm-up), print chunks/s of the second half. For `node --cpu-prof --cpu-prof-dir=DIR
//                     bench/responses-wire.mjs --profile fiber 100`; summarize with
//                     `node bench/profile.mjs --summary DIR/<file>.cpuprofile`
//
// Internal modes: `--server` (the mock, prints `listening http://127.0.0.1:<port>`) and `--child` (one measurement,
// reads RW_CHILD from the environment, prints `@@RESULT <json>`).
//
// Mock server (node:http, child process, 127.0.0.1 port 0). `POST …/responses`:
//   stream: true  → `event: <type>\ndata: <json>\n\n` for response.created, response.in_progress,
//                   response.output_item.added, response.content_part.added, N × response.output_text.delta,
//                   response.output_text.done, response.content_part.done, response.output_item.done,
//                   response.completed (with usage); no `data: [DONE]` (the real API sends none)
//   otherwise     → the response object as JSON
// Shape per request by header: x-mock-chunks (16), x-mock-chunk-size (8), x-mock-batch (128 events per socket
// write), x-mock-obfuscation (0|1). Every body is built once and cached as Buffers; streams are written with
// backpressure, like ../shared/bench/server.mjs. Diagnostic only: env RW_DATA_ONLY=1 drops the `event:` lines
// (not the real framing; used to price them in docs/benchmarks.md).
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '..');

// ---------------------------------------------------------------------------------------------------------------
// shared helpers

const DEFAULTS = {
  S1: { calls: 2000, warmup: 3000, chunks: 1, chunkSize: 32 },
  S2: { chunks: 20000, chunkSize: 8, iterations: 7, warmup: 3, ttfcStreams: 500, ttfcWarmup: 1500, ttfcChunks: 10 },
};
const MODEL = 'gpt-5-mini';
const MESSAGES = [{ role: 'user', content: 'Say hello.' }];

function median(values) {
  const s = Float64Array.from(values.filter((x) => Number.isFinite(x))).sort();
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
function summarize(values) {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  if (n === 0) return { n: 0 };
  const pick = (q) => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  let t = 0;
  for (let i = 0; i < n; i++) t += s[i];
  return { n, p50: median(s), p90: pick(0.9), p99: pick(0.99), min: s[0], max: s[n - 1], mean: t / n };
}
/** CPU time of every thread of `pid`, µs, from /proc (touches neither the server's nor the client's code paths). */
function procCpuUs(pid) {
  if (!pid) return NaN;
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1000;
  } catch {
    return NaN;
  }
}
function mockHeaders({ chunks, chunkSize }, obfuscation) {
  const h = { 'x-mock-chunks': String(chunks), 'x-mock-chunk-size': String(chunkSize) };
  if (obfuscation) h['x-mock-obfuscation'] = '1';
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// mock Responses server (--server)

function runServer() {
  const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const ALPHA_LONG = ALPHA.repeat(64);
  // deterministic, varies per chunk, needs no JSON escaping (the shared harness's chunk text)
  const chunkText = (i, size) => {
    if (size <= ALPHA_LONG.length - ALPHA.length) {
      const off = (i * 7) % ALPHA.length;
      return ALPHA_LONG.slice(off, off + size);
    }
    return ALPHA.repeat(Math.ceil(size / ALPHA.length)).slice(0, size);
  };
  const fullText = (chunks, size) => {
    let s = '';
    for (let i = 0; i < chunks; i++) s += chunkText(i, size);
    return s;
  };
  // ids as long as the real API's (see test/fixtures/openai-responses/*.sse)
  const RESP_ID = 'resp_68af41a2e7f88190b2d4f7c6a1e3b5d70c1f2e3d4a5b6c7d';
  const MSG_ID = 'msg_68af41a3c1d48190a6f3e2d1c0b9a8f70c1f2e3d4a5b6c7d';
  const CREATED_AT = 1756316066;

  const responseObject = (model, status, output, usage) => ({
    id: RESP_ID, object: 'response', created_at: CREATED_AT, status, background: false, error: null,
    incomplete_details: null, instructions: null, max_output_tokens: null, max_tool_calls: null, model, output,
    parallel_tool_calls: true, previous_response_id: null, prompt_cache_key: null, prompt_cache_retention: null,
    reasoning: { effort: null, summary: null }, safety_identifier: null,
    service_tier: status === 'in_progress' ? 'auto' : 'default', store: false, temperature: 1,
    text: { format: { type: 'text' }, verbosity: 'medium' }, tool_choice: 'auto', tools: [], top_logprobs: 0, top_p: 1,
    truncation: 'disabled', usage, user: null, metadata: {},
  });
  const usageOf = (chunks) => ({
    input_tokens: 10, input_tokens_details: { cached_tokens: 0 },
    output_tokens: chunks, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: chunks + 10,
  });
  const part = (text) => ({ type: 'output_text', annotations: [], logprobs: [], text });
  const message = (text) => ({ id: MSG_ID, type: 'message', status: 'completed', content: [part(text)], role: 'assistant' });

  const responsesJSON = (model, chunks, size) => JSON.stringify(responseObject(model, 'completed', [message(fullText(chunks, size))], usageOf(chunks)));

  function responsesEvents(model, chunks, size, obfuscation) {
    const ev = [];
    let seq = 0;
    // RW_DATA_ONLY=1 (diagnostic, not the real API's framing): `data:` lines only, to price the `event:` lines
    const named = process.env.RW_DATA_ONLY !== '1';
    const e = (type, payload) => ev.push(`${named ? `event: ${type}\n` : ''}data: ${JSON.stringify({ type, sequence_number: seq++, ...payload })}`);
    const text = fullText(chunks, size);
    e('response.created', { response: responseObject(model, 'in_progress', [], null) });
    e('response.in_progress', { response: responseObject(model, 'in_progress', [], null) });
    e('response.output_item.added', { output_index: 0, item: { id: MSG_ID, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
    e('response.content_part.added', { item_id: MSG_ID, output_index: 0, content_index: 0, part: part('') });
    for (let i = 0; i < chunks; i++) {
      const delta = chunkText(i, size);
      const payload = { item_id: MSG_ID, output_index: 0, content_index: 0, delta, logprobs: [] };
      // the API pads delta + obfuscation to a multiple of 16 characters
      if (obfuscation) payload.obfuscation = ALPHA.slice(0, 16 - (delta.length % 16) || 16);
      e('response.output_text.delta', payload);
    }
    e('response.output_text.done', { item_id: MSG_ID, output_index: 0, content_index: 0, text, logprobs: [] });
    e('response.content_part.done', { item_id: MSG_ID, output_index: 0, content_index: 0, part: part(text) });
    e('response.output_item.done', { output_index: 0, item: message(text) });
    e('response.completed', { response: responseObject(model, 'completed', [message(text)], usageOf(chunks)) });
    return ev;
  }

  const cache = new Map();
  const cached = (key, build) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = build();
      if (cache.size >= 64) cache.delete(cache.keys().next().value);
      cache.set(key, v);
    }
    return v;
  };
  const batchEvents = (events, batch) => {
    const bufs = [];
    for (let i = 0; i < events.length; i += batch) bufs.push(Buffer.from(events.slice(i, i + batch).join('\n\n') + '\n\n', 'utf8'));
    return bufs;
  };

  const JSON_HEADERS = { 'content-type': 'application/json', 'x-request-id': 'req_mock' };
  const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_mock' };
  const sendJSON = (res, status, buf) => {
    res.writeHead(status, { ...JSON_HEADERS, 'content-length': buf.length });
    res.end(buf);
  };
  const int = (v, def, min) => Math.max(min, parseInt(v ?? def, 10) || min);

  function handle(req, res, body) {
    const p = req.url.split('?')[0];
    if (req.method !== 'POST' || !p.endsWith('/responses')) {
      sendJSON(res, 404, Buffer.from(JSON.stringify({ error: { message: `no route ${req.method} ${p}`, type: 'not_found' } })));
      return;
    }
    let parsed;
    try { parsed = body.length ? JSON.parse(body) : {}; } catch {
      sendJSON(res, 400, Buffer.from('{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}'));
      return;
    }
    const stream = parsed.stream === true;
    const model = typeof parsed.model === 'string' ? parsed.model : 'mock-model';
    const chunks = int(req.headers['x-mock-chunks'], '16', 0);
    const size = int(req.headers['x-mock-chunk-size'], '8', 0);
    const batch = int(req.headers['x-mock-batch'], '128', 1);
    const obf = req.headers['x-mock-obfuscation'] === '1';
    if (process.env.RW_LOG === '1') process.stderr.write(`mock: ${req.method} ${p} stream=${stream} model=${model} keys=${Object.keys(parsed).join(',')}\n`);
    const key = `${stream ? 's' : 'j'}|${model}|${chunks}|${size}|${batch}|${obf ? 1 : 0}`;
    if (!stream) {
      sendJSON(res, 200, cached(key, () => Buffer.from(responsesJSON(model, chunks, size))));
      return;
    }
    const bufs = cached(key, () => batchEvents(responsesEvents(model, chunks, size, obf), batch));
    res.writeHead(200, SSE_HEADERS);
    let i = 0;
    const pump = () => {
      while (i < bufs.length) {
        if (!res.write(bufs[i++])) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
  }

  const server = http.createServer({ keepAliveTimeout: 65_000, noDelay: true, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => handle(req, res, body));
  });
  server.keepAliveTimeout = 65_000;
  server.maxRequestsPerSocket = 0;
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
    process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
  });
  const stop = () => { server.close(); server.closeAllConnections?.(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop); // the parent went away
  process.stdin.resume();
}

// ---------------------------------------------------------------------------------------------------------------
// clients (--child)

/** The floor: undici.request + a minimal SSE split; JSON.parse every `data:`, append output_text deltas. */
async function floorClient({ url, headers }) {
  const { request } = await import('undici');
  const endpoint = `${url}/v1/responses`;
  const hdrs = { 'content-type': 'application/json', authorization: 'Bearer sk-mock', ...headers };
  async function post(body) {
    const res = await request(endpoint, { method: 'POST', headers: hdrs, body: JSON.stringify(body) });
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`);
    return res.body;
  }
  return {
    async chat(messages) {
      const j = await (await post({ model: MODEL, input: messages, store: false })).json();
      let text = '';
      for (const item of j.output) {
        if (item.type !== 'message') continue;
        for (const c of item.content) if (c.type === 'output_text') text += c.text;
      }
      return text;
    },
    async stream(messages, onDelta) {
      const body = await post({ model: MODEL, input: messages, store: false, stream: true });
      body.setEncoding('utf8');
      let buf = '';
      let text = '';
      for await (const chunk of body) {
        buf += chunk;
        let start = 0;
        let idx;
        while ((idx = buf.indexOf('\n\n', start)) !== -1) {
          const ev = buf.slice(start, idx);
          start = idx + 2;
          for (const line of ev.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            const j = JSON.parse(line.slice(6));
            if (j.type === 'response.output_text.delta') {
              const d = j.delta;
              if (d) { text += d; if (onDelta) onDelta(d); }
            }
          }
        }
        buf = buf.slice(start);
      }
      return text;
    },
    async close() {},
  };
}

/** llm-fiber built from this checkout: `import 'llm-fiber'` by self-reference (or the --snapshot copy). */
async function fiberClient({ url, headers, lib, preset }) {
  const [core, prov] = lib
    ? await Promise.all([import(pathToFileURL(path.join(lib, 'dist/index.js')).href), import(pathToFileURL(path.join(lib, 'dist/providers.js')).href)])
    : await Promise.all([import('llm-fiber'), import('llm-fiber/providers')]);
  const { Fiber } = core;
  const { openai } = prov;
  const fiber = new Fiber({
    providers: [openai({ api: 'responses' })],
    apiKeys: { openai: 'sk-mock' },
    baseUrls: { openai: `${url}/v1` },
    headers,
    defaultModel: MODEL,
    preset,
  });
  return {
    async chat(messages) {
      return (await fiber.chat({ messages })).text;
    },
    async stream(messages, onDelta) {
      let text = '';
      for await (const ev of fiber.chatStream({ messages })) {
        if (ev.type === 'chunk' && ev.delta) { text += ev.delta; if (onDelta) onDelta(ev.delta); }
      }
      return text;
    },
    async close() { await fiber.close?.(); },
  };
}

function check(text, expected, what) {
  if (typeof text !== 'string' || text.length !== expected) {
    throw new Error(`${what}: expected ${expected} chars of content, got ${typeof text === 'string' ? text.length : typeof text}`);
  }
}

async function measured(serverPid, fn) {
  const s0 = procCpuUs(serverPid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const serverCpuUs = procCpuUs(serverPid) - s0;
  return { out, wallMs, clientCpuUs: c.user + c.system, serverCpuPct: (serverCpuUs / (wallMs * 1000)) * 100 };
}

async function scenarioS1(make, p, serverPid) {
  const client = await make(mockHeaders(p, p.obfuscation));
  const expected = p.chunks * p.chunkSize;
  for (let i = 0; i < p.warmup; i++) check(await client.chat(MESSAGES), expected, 'S1 warmup');
  const lat = new Float64Array(p.calls);
  const m = await measured(serverPid, async () => {
    for (let i = 0; i < p.calls; i++) {
      const t = performance.now();
      const text = await client.chat(MESSAGES);
      lat[i] = (performance.now() - t) * 1000;
      if (text.length !== expected) check(text, expected, 'S1');
    }
  });
  await client.close();
  return {
    calls: p.calls,
    usPerCall: (m.wallMs * 1000) / p.calls,
    callsPerSec: p.calls / (m.wallMs / 1000),
    latUs: summarize(lat),
    clientCpuUsPerCall: m.clientCpuUs / p.calls,
    serverCpuPct: m.serverCpuPct,
  };
}

async function scenarioS2(make, p, serverPid) {
  // A: one long stream, median of `iterations` after `warmup`
  const big = await make(mockHeaders(p, p.obfuscation));
  const expected = p.chunks * p.chunkSize;
  for (let i = 0; i < p.warmup; i++) check(await big.stream(MESSAGES), expected, 'S2a warmup');
  const iters = [];
  for (let i = 0; i < p.iterations; i++) {
    let deltas = 0;
    let first = 0;
    const t0 = performance.now();
    const m = await measured(serverPid, () => big.stream(MESSAGES, () => { if (deltas++ === 0) first = performance.now(); }));
    check(m.out, expected, 'S2a');
    if (deltas !== p.chunks) throw new Error(`S2a: expected ${p.chunks} deltas, got ${deltas}`);
    iters.push({ ms: m.wallMs, chunksPerSec: p.chunks / (m.wallMs / 1000), firstDeltaMs: first - t0, clientCpuUsPerChunk: m.clientCpuUs / p.chunks, serverCpuPct: m.serverCpuPct });
  }
  await big.close();

  // B: time to first delta over short sequential streams
  const small = await make(mockHeaders({ chunks: p.ttfcChunks, chunkSize: p.chunkSize }, p.obfuscation));
  const expSmall = p.ttfcChunks * p.chunkSize;
  for (let i = 0; i < p.ttfcWarmup; i++) check(await small.stream(MESSAGES), expSmall, 'S2b warmup');
  const ttfc = new Float64Array(p.ttfcStreams);
  const total = new Float64Array(p.ttfcStreams);
  const mb = await measured(serverPid, async () => {
    for (let i = 0; i < p.ttfcStreams; i++) {
      let first = 0;
      const t = performance.now();
      const text = await small.stream(MESSAGES, () => { if (first === 0) first = performance.now(); });
      const end = performance.now();
      ttfc[i] = (first - t) * 1000;
      total[i] = (end - t) * 1000;
      if (text.length !== expSmall) check(text, expSmall, 'S2b');
    }
  });
  await small.close();
  return {
    chunks: p.chunks,
    streamMs: median(iters.map((x) => x.ms)),
    chunksPerSec: median(iters.map((x) => x.chunksPerSec)),
    clientCpuUsPerChunk: median(iters.map((x) => x.clientCpuUsPerChunk)),
    firstDeltaMs: median(iters.map((x) => x.firstDeltaMs)),
    serverCpuPct: median(iters.map((x) => x.serverCpuPct)),
    iterations: iters,
    ttfcUs: summarize(ttfc),
    shortStreamUs: summarize(total),
    shortStreamClientCpuUs: mb.clientCpuUs / p.ttfcStreams,
  };
}

async function runChild() {
  const a = JSON.parse(process.env.RW_CHILD ?? '{}');
  const emit = (o) => process.stdout.write(`\n@@RESULT ${JSON.stringify(o)}\n`);
  try {
    const t0 = performance.now();
    const factory = a.driver === 'floor' ? floorClient : fiberClient;
    const make = (headers) => factory({ url: a.url, headers, lib: a.lib, preset: a.preset });
    // load the library (and construct one client) before anything is timed
    await (await make({})).close();
    const importMs = performance.now() - t0;
    const fn = a.scenario === 'S1' ? scenarioS1 : scenarioS2;
    const result = await fn(make, a.params, a.serverPid);
    emit({ ok: true, driver: a.driver, scenario: a.scenario, importMs, ...result });
    process.exit(0);
  } catch (err) {
    emit({ ok: false, driver: a.driver, scenario: a.scenario, error: String(err?.stack ?? err) });
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// orchestrator

function parseArgs(argv) {
  const o = { reps: 5, scenarios: ['S2', 'S1'], scale: 1, snapshot: false, obfuscation: false, preset: 'prod', json: null, timeout: 240, strict: false, set: {} };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--reps') o.reps = Math.max(1, Number(v()));
    else if (k === '--scenario') o.scenarios = v().split(',').map((s) => s.trim().toUpperCase());
    else if (k === '--quick') o.scale = 0.2;
    else if (k === '--scale') o.scale = Number(v());
    else if (k === '--snapshot') o.snapshot = true;
    else if (k === '--obfuscation') o.obfuscation = true;
    else if (k === '--preset') o.preset = v();
    else if (k === '--json') o.json = v();
    else if (k === '--timeout') o.timeout = Number(v());
    else if (k === '--strict') o.strict = true;
    else if (k === '--set') {
      for (const kv of v().split(',')) {
        const m = /^(S[12])\.(\w+)=(\d+(?:\.\d+)?)$/.exec(kv.trim());
        if (!m || !(m[2] in DEFAULTS[m[1]])) throw new Error(`--set: bad item ${kv} (e.g. S2.warmup=30)`);
        (o.set[m[1]] ??= {})[m[2]] = Number(m[3]);
      }
    }
    else if (k === '-h' || k === '--help') { console.log(readFileSync(SELF, 'utf8').split('\nimport ')[0]); process.exit(0); }
    else throw new Error(`unknown option ${k}`);
  }
  for (const s of o.scenarios) if (!DEFAULTS[s]) throw new Error(`unknown scenario ${s} (S1, S2)`);
  return o;
}

function scaled(params, scale) {
  if (scale === 1) return { ...params };
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = k === 'chunkSize' || k === 'ttfcChunks' || k === 'iterations' || k === 'warmup' && v < 10 ? v : Math.max(1, Math.round(v * scale));
  }
  return out;
}

function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function checkBuild() {
  for (const f of ['dist/index.js', 'dist/providers.js']) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
  }
  const built = statSync(path.join(ROOT, 'dist/index.js')).mtimeMs;
  const src = Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'providers')));
  if (src > built) console.error('warning: sources are newer than dist/ (run `npm run build` to measure the current code)');
  const providers = readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.js')).some((f) => readFileSync(path.join(ROOT, 'dist', f), 'utf8').includes('ResponsesStreamDecoder'));
  if (!providers) throw new Error('dist/ has no ResponsesStreamDecoder: rebuild');
}

/** package.json + dist/ in a temp dir, `undici` linked to the same copy the floor loads. */
function makeSnapshot() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'llm-fiber-rw-'));
  const lib = path.join(dir, 'node_modules', 'llm-fiber');
  mkdirSync(path.join(lib, 'node_modules'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(lib, 'package.json'));
  cpSync(path.join(ROOT, 'dist'), path.join(lib, 'dist'), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules', 'undici'), path.join(lib, 'node_modules', 'undici'), 'dir');
  return { dir, lib };
}

/** short hash of the built JavaScript a run measures (dist/*.js), to tell builds apart */
function distHash(dir) {
  const h = createHash('sha256');
  for (const f of readdirSync(path.join(dir, 'dist')).filter((x) => x.endsWith('.js')).sort()) h.update(f).update(readFileSync(path.join(dir, 'dist', f)));
  return h.digest('hex').slice(0, 12);
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, '--server'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const onData = (c) => {
      out += c;
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) { child.stdout.off('data', onData); resolve({ child, url: m[1] }); }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`mock server exited (${code})`)));
  });
}

function runOne(args, timeoutS) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', SELF, '--child'], {
      cwd: ROOT, env: { ...process.env, RW_CHILD: JSON.stringify(args) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c) => { out += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { err += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').reverse().find((l) => l.startsWith('@@RESULT '));
      if (line) resolve(JSON.parse(line.slice(9)));
      else resolve({ ok: false, driver: args.driver, scenario: args.scenario, error: `exit ${code ?? signal}: ${err.slice(-2000)}` });
    });
  });
}

// rows of the result table: [label, scenario, value(result), unit, kind]; kind 'rate' = higher is better
const ROWS = [
  ['**S2a** one 20,000-chunk stream: chunks/s', 'S2', (r) => r.chunksPerSec, '/s', 'rate', 0.85],
  ['S2a stream time', 'S2', (r) => r.streamMs, 'ms', 'time'],
  ['S2a client CPU per chunk', 'S2', (r) => r.clientCpuUsPerChunk, 'µs', 'time'],
  ['S2a server CPU (share of wall time)', 'S2', (r) => r.serverCpuPct, '%', 'info'],
  ['**S2b** time to first delta, p50', 'S2', (r) => r.ttfcUs.p50, 'µs', 'time'],
  ['S2b time to first delta, p99', 'S2', (r) => r.ttfcUs.p99, 'µs', 'time'],
  ['S2b whole short stream (10 chunks), p50', 'S2', (r) => r.shortStreamUs.p50, 'µs', 'time'],
  ['S2b client CPU per short stream', 'S2', (r) => r.shortStreamClientCpuUs, 'µs', 'time'],
  ['**S1** sequential non-stream calls: wall time per call', 'S1', (r) => r.usPerCall, 'µs', 'time'],
  ['S1 client CPU per call', 'S1', (r) => r.clientCpuUsPerCall, 'µs', 'time'],
  ['S1 latency p50', 'S1', (r) => r.latUs.p50, 'µs', 'time'],
  ['S1 latency p99', 'S1', (r) => r.latUs.p99, 'µs', 'time'],
];

function fmt(v, unit) {
  if (!Number.isFinite(v)) return '–';
  if (unit === '/s') return `${Math.round(v).toLocaleString('en-US')} /s`;
  if (unit === '%') return `${v.toFixed(0)} %`;
  const d = v >= 1000 ? 0 : v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })} ${unit}`;
}

function table(results, o) {
  const lines = [];
  const label = (s) => (o.scale === 1 ? s : s.replace('20,000', String(Math.round(20000 * o.scale))));
  lines.push('| metric | target | undici floor | fiber | fiber ÷ floor | per-rep range | result |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | :---: |');
  let s2a = null;
  for (const [name, scen, get, unit, kind, target] of ROWS) {
    if (!o.scenarios.includes(scen)) continue;
    const floor = results.filter((r) => r.ok && r.scenario === scen && r.driver === 'floor');
    const fib = results.filter((r) => r.ok && r.scenario === scen && r.driver === 'fiber');
    const fm = median(floor.map(get));
    const bm = median(fib.map(get));
    const ratio = bm / fm;
    const perRep = [];
    for (let rep = 0; rep < o.reps; rep++) {
      const a = floor.find((r) => r.rep === rep);
      const b = fib.find((r) => r.rep === rep);
      if (a && b) perRep.push(get(b) / get(a));
    }
    const range = perRep.length ? `${Math.min(...perRep).toFixed(2)}–${Math.max(...perRep).toFixed(2)}×` : '–';
    let verdict = '';
    let tgt = '–';
    if (target !== undefined) {
      tgt = `≥ ${target}×`;
      verdict = ratio >= target ? 'PASS' : 'MISS';
      s2a = { ratio, pass: ratio >= target, perRep };
    }
    const r = kind === 'info' ? '' : `${target !== undefined ? '**' : ''}${ratio.toFixed(2)}×${target !== undefined ? '**' : ''}`;
    lines.push(`| ${label(name)} | ${tgt} | ${fmt(fm, unit)} | ${fmt(bm, unit)} | ${r} | ${kind === 'info' ? '' : range} | ${verdict} |`);
  }
  return { md: lines.join('\n'), s2a };
}

function machine() {
  const cpus = os.cpus();
  let model = cpus[0]?.model ?? '?';
  if (!model || model === 'unknown') model = 'model name not exposed';
  let undiciVersion = '?';
  try { undiciVersion = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/undici/package.json'), 'utf8')).version; } catch {}
  let commit = '?';
  let dirty = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const n = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length;
    if (n) dirty = ` + ${n} uncommitted path${n === 1 ? '' : 's'}`;
  } catch {}
  return {
    cpus: `${cpus.length} × ${model}`,
    memGB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    undici: undiciVersion,
    code: `${commit}${dirty}`,
  };
}

/** One table from several --json files: every rep of every file, reps renumbered. */
function pool(files) {
  const results = [];
  let reps = 0;
  const scenarios = new Set();
  const lines = [];
  for (const f of files) {
    const j = JSON.parse(readFileSync(f, 'utf8'));
    for (const r of j.results) { results.push({ ...r, rep: r.rep + reps }); scenarios.add(r.scenario); }
    reps += j.options.reps;
    const s2 = table(j.results, j.options).s2a;
    lines.push(`${path.basename(f)}: ${new Date(j.startedAt).toISOString().slice(0, 16)}Z, ${j.options.reps} reps, load ${j.load.map((x) => x.toFixed(1)).join(' → ')}, build ${j.build ?? '?'}${j.distChanged ? ' (dist rebuilt during run!)' : ''}${j.options.obfuscation ? ', --obfuscation' : ''}, S2a ${s2 ? s2.ratio.toFixed(2) + '×' : '–'}`);
  }
  const o = { reps, scenarios: [...scenarios], scale: 1 };
  const { md, s2a } = table(results, o);
  console.log(lines.join('\n'));
  console.log(`\npooled: ${reps} reps (medians across all reps; per-rep ratios within each rep)\n`);
  console.log(md);
  if (s2a) {
    const rs = [...s2a.perRep].sort((a, b) => a - b);
    const q = (x) => rs[Math.min(rs.length - 1, Math.max(0, Math.ceil(x * rs.length) - 1))];
    console.log(`\nS2a: ratio of medians ${s2a.ratio.toFixed(3)}×; median of per-rep ratios ${median(rs).toFixed(3)}× (IQR ${q(0.25).toFixed(2)}–${q(0.75).toFixed(2)}, n ${rs.length}) → ${s2a.pass ? 'PASS' : 'MISS'}`);
  }
}

/** In-process streams for `node --cpu-prof`. */
async function profile(driver, n) {
  checkBuild();
  const { child: server, url } = await startServer();
  try {
    const p = DEFAULTS.S2;
    const factory = driver === 'floor' ? floorClient : fiberClient;
    const client = await factory({ url, headers: mockHeaders(p, process.argv.includes('--obfuscation')), preset: 'prod' });
    const expected = p.chunks * p.chunkSize;
    const half = Math.floor(n / 2);
    for (let i = 0; i < half; i++) check(await client.stream(MESSAGES), expected, 'warm-up');
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = half; i < n; i++) check(await client.stream(MESSAGES), expected, 'profile');
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const chunks = (n - half) * p.chunks;
    console.log(`${driver}: ${n - half} timed streams, ${Math.round(chunks / (ms / 1000)).toLocaleString('en-US')} chunks/s, ${((c.user + c.system) / chunks).toFixed(2)} µs CPU/chunk`);
    await client.close();
  } finally {
    server.kill('SIGTERM');
  }
}

async function orchestrate() {
  const argv = process.argv.slice(2);
  if (argv[0] === '--pool') return pool(argv.slice(1));
  if (argv[0] === '--profile') return profile(argv[1] === 'floor' ? 'floor' : 'fiber', Number(argv[2] ?? 100));
  const o = parseArgs(argv);
  checkBuild();
  const snap = o.snapshot ? makeSnapshot() : null;
  const build = distHash(snap ? snap.lib : ROOT);
  const distStamp = () => ['dist/index.js', 'dist/providers.js'].map((f) => { try { return statSync(path.join(ROOT, f)).mtimeMs; } catch { return 0; } }).join(',');
  const dist0 = distStamp();
  const { child: server, url } = await startServer();
  const startedAt = new Date();
  const load0 = os.loadavg()[0];
  const m = machine();
  console.log(`# Responses wire: llm-fiber (openai({ api: 'responses' }), preset ${o.preset}) vs hand-written undici client`);
  console.log(`mock ${url} (pid ${server.pid}); ${o.reps} reps; scale ${o.scale};${Object.keys(o.set).length ? ` set ${JSON.stringify(o.set)};` : ''} library ${snap ? `snapshot ${snap.lib}` : `${ROOT}/dist (self-reference)`}, dist/*.js sha256 ${build}`);
  console.log(`${m.cpus}, ${m.memGB} GB, ${m.kernel}, Node ${m.node}, undici ${m.undici}, code ${m.code}; load ${load0.toFixed(2)}\n`);

  const results = [];
  let failed = 0;
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      for (const scenario of o.scenarios) {
        const order = rep % 2 === 0 ? ['floor', 'fiber'] : ['fiber', 'floor'];
        for (const driver of order) {
          const params = { ...scaled(DEFAULTS[scenario], o.scale), ...o.set[scenario], obfuscation: o.obfuscation };
          const r = await runOne({ driver, scenario, url, serverPid: server.pid, params, lib: snap?.lib, preset: o.preset }, o.timeout);
          r.rep = rep;
          r.load1 = os.loadavg()[0];
          results.push(r);
          if (!r.ok) { failed++; console.error(`rep ${rep + 1} ${scenario} ${driver}: FAILED\n${r.error}`); continue; }
          const brief = scenario === 'S2'
            ? `${Math.round(r.chunksPerSec).toLocaleString('en-US')} chunks/s, ${r.clientCpuUsPerChunk.toFixed(2)} µs CPU/chunk, TTFC p50 ${r.ttfcUs.p50.toFixed(0)} µs`
            : `${r.usPerCall.toFixed(1)} µs/call, ${r.clientCpuUsPerCall.toFixed(1)} µs CPU/call, p99 ${r.latUs.p99.toFixed(0)} µs`;
          console.log(`rep ${rep + 1}/${o.reps} ${scenario} ${driver.padEnd(5)} ${brief}  (load ${r.load1.toFixed(2)})`);
        }
      }
    }
  } finally {
    server.kill('SIGTERM');
    if (snap) rmSync(snap.dir, { recursive: true, force: true });
  }
  const endedAt = new Date();
  const distChanged = !snap && distStamp() !== dist0;
  if (distChanged) console.error('\nwarning: dist/ was rebuilt during the run (someone ran `npm run build`): reps may have measured different code; use --snapshot');
  const load1 = os.loadavg()[0];
  const { md, s2a } = table(results, o);
  console.log(`\n${startedAt.toISOString().slice(0, 16).replace('T', ' ')}–${endedAt.toISOString().slice(11, 16)} UTC, load ${load0.toFixed(1)} → ${load1.toFixed(1)}, medians of ${o.reps} reps\n`);
  console.log(md);
  if (s2a) console.log(`\nS2a: fiber ÷ floor = ${s2a.ratio.toFixed(3)}× (target ≥ 0.85×) → ${s2a.pass ? 'PASS' : 'MISS'}; per-rep ${s2a.perRep.map((x) => x.toFixed(2)).join(' ')}`);
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ startedAt, endedAt, load: [load0, load1], distChanged, build, machine: m, options: o, url, results }, null, 2));
    console.log(`\nwrote ${o.json}`);
  }
  if (failed) process.exit(1);
  if (o.strict && s2a && !s2a.pass) process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------------
const mode = process.argv[2];
if (mode === '--server') runServer();
else if (mode === '--child') await runChild();
else await orchestrate().catch((e) => { console.error(e?.stack ?? e); process.exit(1); });
