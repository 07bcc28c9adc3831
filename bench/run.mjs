#!/usr/bin/env node
// `npm run bench`: llm-fiber against raw undici in ONE run of the shared harness (../shared/bench), then the issue-3
// acceptance ratios with PASS/MISS.
//
//   npm run bench                                    # S1,S2,S3,S4,S5, 3 reps, preset prod, OpenAI protocol
//   npm run bench -- --quick                         # counts x0.2: smoke run (not an acceptance measurement)
//   npm run bench -- --reps 5 --pin                  # any other harness option is passed through
//   npm run bench -- --protocol anthropic            # FIBER_PROTOCOL=anthropic, floor undici-anthropic
//   npm run bench -- --preset none                   # FIBER_PRESET=none: the bare pipeline
//   npm run bench -- --drivers undici,openai,fiber   # extra drivers from the harness ride along
//   npm run bench -- --from bench/results/x.json     # only print the ratio table of an earlier --json
//
// Own options: --protocol openai|anthropic|gemini  --preset prod|dev|none  --harness DIR (or BENCH_HARNESS;
//   default <repo>/../shared/bench)  --rebuild (npm run build first even if dist/ exists)  --from FILE
//   --strict (exit 1 when a target is missed)  --ratios-md FILE (write the ratio table there too)
//   --observability (also run drivers/fiber-obs.mjs — prod + OTel SDK + pino to /dev/null — and, on the OpenAI
//   wire, drivers/undici-obs.mjs — the undici floor with the same telemetry written by hand; prints what
//   observability costs each, per call and per chunk, and llm-fiber's cost beyond the floor: ADR 0007)
// Defaults passed to the harness unless given: --scenario S1,S2,S3,S4,S5  --drivers <floor>,fiber
//   --json bench/results/<stamp>-<protocol>-<preset>.json
//
// What it does: copies the (read-only) harness into bench/.harness/harness/, `npm ci` there once (re-run only when
// its package-lock.json or the Node major changes), packs this checkout's built dist/ (`npm pack --ignore-scripts`,
// building first if dist/ is missing) and unpacks it as node_modules/llm-fiber of the harness copy — a snapshot,
// so a concurrent `npm run build` (tsup cleans dist/) cannot change the library under a running measurement — and
// copies bench/drivers/fiber.mjs over the harness's drivers/fiber.mjs. Our driver imports 'llm-fiber' by name.
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, renameSync, mkdtempSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const CACHE = path.join(BENCH_DIR, '.harness');
const WORK = path.join(CACHE, 'harness');
const RESULTS = path.join(BENCH_DIR, 'results');
const FLOORS = { openai: 'undici', anthropic: 'undici-anthropic', gemini: 'undici-gemini' };
const PRESETS = ['prod', 'dev', 'none'];
const TARGETS = { S1: 1.15, S2a: 0.85, S4time: 1.3, S4rss: 1.2, S5ms: 15 };

const log = (...a) => process.stderr.write(`[bench] ${a.join(' ')}\n`);
const die = (msg) => { log(`error: ${msg}`); process.exit(2); };

// ------------------------------------------------------------------------------------------------ args
function parseArgs(argv) {
  const o = {
    protocol: process.env.FIBER_PROTOCOL || 'openai', preset: process.env.FIBER_PRESET || 'prod',
    harness: process.env.BENCH_HARNESS || path.resolve(REPO, '..', 'shared', 'bench'),
    rebuild: false, from: null, strict: false, ratiosMd: null, observability: false,
    scenario: null, drivers: null, json: null, md: null, pass: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { const v = argv[++i]; if (v === undefined) die(`${a} needs a value`); return v; };
    if (a === '--protocol') o.protocol = val();
    else if (a === '--preset') o.preset = val();
    else if (a === '--harness') o.harness = path.resolve(val());
    else if (a === '--rebuild') o.rebuild = true;
    else if (a === '--observability') o.observability = true;
    else if (a === '--from') o.from = path.resolve(val());
    else if (a === '--strict') o.strict = true;
    else if (a === '--ratios-md') o.ratiosMd = path.resolve(val());
    else if (a === '--scenario' || a === '--scenarios') o.scenario = val();
    else if (a === '--drivers' || a === '--driver') o.drivers = val();
    else if (a === '--json') o.json = path.resolve(val()); // the harness runs in another cwd: make paths absolute
    else if (a === '--md') o.md = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 22).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else o.pass.push(a); // everything else is the harness's (--quick, --reps N, --pin, --set ..., --cold-runs N ...)
  }
  if (!FLOORS[o.protocol]) die(`--protocol must be one of ${Object.keys(FLOORS).join(', ')}`);
  if (!PRESETS.includes(o.preset)) die(`--preset must be one of ${PRESETS.join(', ')}`);
  return o;
}

// ------------------------------------------------------------------------------------------------ helpers
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) die(`${cmd} ${args.join(' ')} (in ${opts.cwd ?? process.cwd()}) failed with ${r.status ?? r.signal}:\n${(r.stderr || r.stdout || '').slice(-3000)}`);
  return r.stdout;
}

/** copy a tree with ordinary (writable) modes: the shared harness is read-only and we overwrite a file in it */
function copyTree(src, dst, skip) {
  mkdirSync(dst, { recursive: true });
  for (const ent of readdirSync(src, { withFileTypes: true })) {
    if (skip.has(ent.name)) continue;
    const s = path.join(src, ent.name);
    const d = path.join(dst, ent.name);
    if (ent.isDirectory()) copyTree(s, d, new Set());
    else if (ent.isFile()) writeFileSync(d, readFileSync(s), { mode: 0o644 });
  }
}

function newestMtime(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (ent.isFile() && /\.(ts|mts|cts|js|mjs|json)$/.test(ent.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** every `import` / `default` target of the package's exports (what must exist for the build to count as built) */
function exportTargets(pkg) {
  const out = [];
  const walk = (e) => {
    if (typeof e === 'string') { if (/\.(c|m)?js$/.test(e)) out.push(e); return; }
    if (e && typeof e === 'object') for (const v of Object.values(e)) walk(v);
  };
  walk(pkg.exports ?? pkg.main ?? 'dist/index.js');
  return out;
}

// ------------------------------------------------------------------------------------------------ prepare
function ensureBuilt(rebuild) {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const missing = exportTargets(pkg).filter((t) => !existsSync(path.join(REPO, t)));
  if (rebuild || missing.length) {
    log(rebuild ? 'npm run build (--rebuild)' : `dist/ incomplete (${missing.join(', ')}): npm run build`);
    run('npm', ['run', 'build'], { cwd: REPO });
  } else {
    const src = Math.max(...['src', 'providers', 'middleware'].map((d) => newestMtime(path.join(REPO, d))));
    const dist = Math.min(...exportTargets(pkg).map((t) => statSync(path.join(REPO, t)).mtimeMs));
    if (src > dist) log('warning: sources are newer than dist/ — measuring the existing build (pass --rebuild to rebuild first)');
  }
  return pkg;
}

function prepareHarness(harnessSrc) {
  if (!existsSync(path.join(harnessSrc, 'run.mjs'))) die(`no harness at ${harnessSrc} (set BENCH_HARNESS or --harness)`);
  mkdirSync(WORK, { recursive: true });
  // fresh copy of the harness sources every run; node_modules/ (the cached install) and results/ (the harness's
  // footprint cache) survive
  const keep = new Set(['node_modules', 'results']);
  for (const ent of readdirSync(WORK)) if (!keep.has(ent)) rmSync(path.join(WORK, ent), { recursive: true, force: true });
  copyTree(harnessSrc, WORK, new Set(['node_modules', 'results', '.git']));

  const lock = readFileSync(path.join(WORK, existsSync(path.join(WORK, 'package-lock.json')) ? 'package-lock.json' : 'package.json'));
  const key = createHash('sha256').update(lock).update(process.versions.node.split('.')[0]).digest('hex').slice(0, 16);
  const stamp = path.join(WORK, 'node_modules', '.bench-install-key');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8').trim() !== key) {
    log(`npm ci in ${path.relative(REPO, WORK)} (once per harness lockfile; cached under bench/.harness/)`);
    run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: WORK });
    writeFileSync(stamp, `${key}\n`);
  }
}

/** snapshot of the built checkout, installed as the harness's node_modules/llm-fiber */
function installSnapshot(pkg) {
  const packDir = path.join(CACHE, 'pack');
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  // --ignore-scripts: no prepack build here (we built above if needed); what is packed is exactly `files` of dist/
  const out = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: REPO });
  const info = JSON.parse(out.slice(out.indexOf('[')))[0];
  const tgz = path.join(packDir, info.filename);
  const tmp = mkdtempSync(path.join(packDir, 'x-'));
  run('tar', ['-xzf', tgz, '-C', tmp]);
  const dest = path.join(WORK, 'node_modules', pkg.name);
  rmSync(dest, { recursive: true, force: true });
  renameSync(path.join(tmp, 'package'), dest);
  // the harness's S5 footprint runs `npm pack` in this dir: without scripts it cannot try to rebuild
  const p = JSON.parse(readFileSync(path.join(dest, 'package.json'), 'utf8'));
  delete p.scripts;
  writeFileSync(path.join(dest, 'package.json'), `${JSON.stringify(p, null, 2)}\n`);
  // runtime deps: shared with the harness when it has them (undici: the same copy the floor uses), else installed
  const deps = Object.keys(p.dependencies ?? {});
  const missing = deps.filter((d) => !existsSync(path.join(WORK, 'node_modules', d, 'package.json')));
  if (missing.length) {
    log(`installing llm-fiber deps missing from the harness: ${missing.join(', ')}`);
    run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dest });
  }
  const depVersions = deps.map((d) => {
    for (const base of [path.join(dest, 'node_modules'), path.join(WORK, 'node_modules')]) {
      const f = path.join(base, d, 'package.json');
      if (existsSync(f)) return `${d}@${JSON.parse(readFileSync(f, 'utf8')).version} (wants ${p.dependencies[d]})`;
    }
    return `${d}@?`;
  });
  log(`llm-fiber@${p.version} snapshot: ${info.entryCount} files, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked; deps ${depVersions.join(', ') || 'none'}`);
  return dest;
}

/** The OTel SDK and pino for drivers/fiber-obs.mjs, at the versions this repo tests with, into the harness copy. */
function installObservabilityPeers() {
  const own = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).devDependencies ?? {};
  const want = ['@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics', 'pino'];
  const missing = want.filter((d) => !existsSync(path.join(WORK, 'node_modules', d, 'package.json')));
  if (!missing.length) return;
  log(`installing ${missing.join(', ')} into the harness copy for --observability`);
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...missing.map((d) => `${d}@${own[d] ?? 'latest'}`)], { cwd: WORK });
}

/**
 * Issue 6, as ADR 0007 states it: what observability costs llm-fiber (fiber-obs − fiber) beside what the same
 * telemetry costs a hand-instrumented raw client (undici-obs − undici, the floor), per call (S1) and per chunk
 * (S2a). The target is on what llm-fiber adds beyond the floor: ≤ 5 % of a plain llm-fiber call (or chunk). The
 * plain ratio fiber-obs ÷ fiber is printed too. Without undici-obs results (other protocols) only that ratio is shown.
 */
function observabilityTable(out) {
  const results = out.results ?? {};
  const ok = (sc, d) => (results[sc]?.[d] ?? []).filter((r) => r.ok);
  const rows = [];
  const pct = (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${(v * 100).toFixed(1)} %` : '–');
  const row = (metric, sc, f, perUnit) => {
    // as time per unit (µs per call or per chunk): ≥ 1 = slower
    const t = (r) => { const v = f(r); return perUnit ? 1e6 / v : v; };
    const runs = Object.fromEntries(['undici', 'undici-obs', 'fiber', 'fiber-obs'].map((d) => [d, ok(sc, d).map(t)]));
    const [u, uo, fb, fo] = ['undici', 'undici-obs', 'fiber', 'fiber-obs'].map((d) => median(runs[d]));
    if (!Number.isFinite(fb) || !Number.isFinite(fo)) return;
    const ratio = fo / fb;
    const floorCost = uo - u;
    const ours = fo - fb;
    // Beyond the floor, rep by rep: the four drivers of one rep ran back to back, so each rep's figure compares
    // like with like; the verdict is on the median of those, and the range shows the spread.
    const reps = Math.min(...Object.values(runs).map((a) => a.length));
    const perRep = [];
    for (let i = 0; i < reps; i++) {
      const b = ((runs['fiber-obs'][i] - runs.fiber[i]) - (runs['undici-obs'][i] - runs.undici[i])) / runs.fiber[i];
      if (Number.isFinite(b)) perRep.push(b);
    }
    const beyond = median(perRep);
    const ofMedians = Number.isFinite(floorCost) ? (ours - floorCost) / fb : NaN;
    // without the floor (not the OpenAI wire), the plain ratio is all there is to judge
    const verdict = Number.isFinite(beyond) ? (beyond <= 0.05 ? 'PASS' : 'MISS') : `${ratio <= 1.05 ? 'PASS' : 'MISS'} (ratio)`;
    const range = perRep.length ? `${pct(Math.min(...perRep))} … ${pct(Math.max(...perRep))}` : '–';
    rows.push(`| ${metric} | ${nf(u, 2)} | ${nf(uo, 2)} | ${nf(floorCost, 2)} | ${nf(fb, 2)} | ${nf(fo, 2)} | ${nf(ours, 2)} | ${x2(ratio)} | ${pct(ofMedians)} | ${pct(beyond)} | ${range} | ${verdict} |`);
  };
  row('S1 wall time per call (µs)', 'S1', (r) => r.usPerCall, false);
  row('S1 client CPU per call (µs)', 'S1', (r) => r.clientCpuUsPerCall, false);
  row('S2a wall time per chunk (µs, from chunks/s)', 'S2', (r) => r.chunksPerSec, true);
  row('S2a client CPU per chunk (µs)', 'S2', (r) => r.clientCpuUsPerChunk, false);
  if (!rows.length) return null;
  return [
    '_medians across reps; "beyond the floor" = (fiber cost − floor cost) ÷ fiber, from the medians and rep by rep (the verdict)_',
    '',
    '| metric | undici | undici-obs | floor cost | fiber | fiber-obs | fiber cost | fiber-obs ÷ fiber | beyond, of medians | beyond, per-rep median | per-rep range | ≤ 5 % |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
    ...rows,
  ].join('\n');
}

function installDriver() {
  for (const f of readdirSync(path.join(BENCH_DIR, 'drivers'))) {
    if (f.endsWith('.mjs')) writeFileSync(path.join(WORK, 'drivers', f), readFileSync(path.join(BENCH_DIR, 'drivers', f)), { mode: 0o644 });
  }
}

// ------------------------------------------------------------------------------------------------ ratios
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((x, y) => x - y);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const nf = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
const x2 = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');

function ratioTable(out) {
  const fiber = 'fiber';
  const floor = out.drivers?.[fiber]?.floor ?? 'undici';
  const results = out.results ?? {};
  const ok = (sc, d) => (results[sc]?.[d] ?? []).filter((r) => r.ok);
  const med = (sc, d, f) => median(ok(sc, d).map(f));
  // ratio per rep (fiber and floor of the same rep are adjacent in time): the range shows how noisy the median is
  const repRange = (sc, f, inv = false) => {
    const byRep = (d) => new Map(ok(sc, d).map((r) => [r.rep, f(r)]));
    const a = byRep(fiber);
    const b = byRep(floor);
    const rs = [...a.keys()].filter((k) => b.has(k)).map((k) => (inv ? b.get(k) / a.get(k) : a.get(k) / b.get(k))).filter(Number.isFinite);
    if (!rs.length) return '–';
    return rs.length === 1 ? x2(rs[0]) : `${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}×`;
  };
  const verdict = (v, target, le = true) => (!Number.isFinite(v) ? 'n/a' : (le ? v <= target : v >= target) ? 'PASS' : 'MISS');
  const rows = [];
  const row = (metric, unit, sc, f, { target, le = true, dp = 0, higherBetter = false } = {}) => {
    const a = med(sc, floor, f);
    const b = med(sc, fiber, f);
    if (!Number.isFinite(a) && !Number.isFinite(b)) return;
    const r = b / a;
    rows.push([metric, target === undefined ? '–' : `${le ? '≤' : '≥'} ${target.toFixed(2)}×`, `${nf(a, dp)} ${unit}`, `${nf(b, dp)} ${unit}`, x2(r), repRange(sc, f), target === undefined ? (higherBetter ? '(higher is better)' : '') : verdict(r, target, le)]);
  };
  const P = (sc) => out.params?.[sc] ?? {};
  row(`S1 sequential chat (${nf(P('S1').calls)} calls): wall time per call`, 'µs', 'S1', (r) => r.usPerCall, { target: TARGETS.S1 });
  row('S1 client CPU per call', 'µs', 'S1', (r) => r.clientCpuUsPerCall, { dp: 1 });
  row('S1 latency p99', 'µs', 'S1', (r) => r.latUs?.p99);
  row(`S2a one ${nf(P('S2').chunks)}-chunk stream: chunks/s`, '/s', 'S2', (r) => r.chunksPerSec, { target: TARGETS.S2a, le: false, higherBetter: true });
  row('S2a client CPU per chunk', 'µs', 'S2', (r) => r.clientCpuUsPerChunk, { dp: 2 });
  row('S2b time to first delta p50', 'µs', 'S2', (r) => r.ttfcUs?.p50);
  row('S2b time to first delta p99', 'µs', 'S2', (r) => r.ttfcUs?.p99);
  row(`S3 ${nf(P('S3').calls)} chat calls, ${P('S3').concurrency} in flight: calls/s`, '/s', 'S3', (r) => r.callsPerSec, { higherBetter: true });
  row('S3 peak RSS', 'MB', 'S3', (r) => r.maxRssMB, { dp: 1 });
  row(`S4 ${nf(P('S4').streams)} concurrent streams × ${P('S4').chunks} chunks: total time`, 'ms', 'S4', (r) => r.wallMs, { target: TARGETS.S4time });
  row('S4 peak RSS', 'MB', 'S4', (r) => r.maxRssMB, { target: TARGETS.S4rss, dp: 1 });
  row('S4 client CPU', 'ms', 'S4', (r) => r.clientCpuMs);
  if (out.cold?.[fiber] && out.cold?.[floor]) {
    const bare = out.cold['(node -e 0)']?.median;
    const a = out.cold[floor].median;
    const b = out.cold[fiber].median;
    const diff = b - a;
    // per-round differences (runs are interleaved round by round)
    const ra = out.cold[floor].runs ?? [];
    const rb = out.cold[fiber].runs ?? [];
    const ds = rb.slice(0, Math.min(ra.length, rb.length)).map((v, i) => v - ra[i]).sort((x, y) => x - y);
    const q = (p) => ds[Math.min(ds.length - 1, Math.floor(p * ds.length))];
    rows.push([`S5 cold \`node -e "import(…)"\` (bare node ${nf(bare, 1)} ms)`, `≤ +${TARGETS.S5ms} ms`, `${nf(a, 1)} ms`, `${nf(b, 1)} ms`, `${diff >= 0 ? '+' : ''}${nf(diff, 1)} ms`, ds.length ? `${nf(q(0.1), 1)}…${nf(q(0.9), 1)} ms (p10…p90)` : '–', verdict(diff, TARGETS.S5ms)]);
    const fa = out.firstCall?.[floor]?.median;
    const fb = out.firstCall?.[fiber]?.median;
    if (Number.isFinite(fa) && Number.isFinite(fb)) rows.push(['S5 first call from a fresh process', '–', `${nf(fa, 1)} ms`, `${nf(fb, 1)} ms`, `${fb - fa >= 0 ? '+' : ''}${nf(fb - fa, 1)} ms`, '–', '']);
    const la = out.load?.[floor];
    const lb = out.load?.[fiber];
    if (la && lb) {
      rows.push(['S5 in-process import', '–', `${nf(la.importMs, 1)} ms`, `${nf(lb.importMs, 1)} ms`, `${lb.importMs - la.importMs >= 0 ? '+' : ''}${nf(lb.importMs - la.importMs, 1)} ms`, '–', '']);
      rows.push(['S5 RSS with the library loaded', '–', `${nf(la.rssLoadedMB, 1)} MB`, `${nf(lb.rssLoadedMB, 1)} MB`, `${lb.rssLoadedMB - la.rssLoadedMB >= 0 ? '+' : ''}${nf(lb.rssLoadedMB - la.rssLoadedMB, 1)} MB`, '–', '']);
    }
    const fp = out.footprint?.[fiber];
    if (fp && !fp.error) rows.push(['S5 install footprint (npm pack → install)', '–', '–', `${nf(fp.diskKB / 1024, 1)} MB, ${fp.packages} pkgs`, '–', '–', '']);
  }
  const failures = Object.entries(results).flatMap(([sc, byD]) => [fiber, floor].flatMap((d) => (byD[d] ?? []).filter((r) => !r.ok).map((r) => `${sc} ${d}: ${String(r.error).split('\n')[0]}`)));
  const headers = ['metric', 'target', floor, 'fiber', 'fiber ÷ floor', 'per-rep range', 'result'];
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map((_, i) => (i === 0 ? '---' : i === headers.length - 1 ? ':---:' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
  const misses = rows.filter((r) => r[6] === 'MISS').map((r) => r[0]);
  const m = out.machine ?? {};
  const o = out.options ?? {};
  const head = [
    `llm-fiber vs ${floor} — protocol ${out.drivers?.[fiber]?.protocol ?? '?'}, ${out.drivers?.[fiber]?.description ?? ''}`,
    `node ${m.node} · ${m.cpus} × ${m.cpuModel} · ${m.memGB} GB · ${o.reps} reps${o.scale !== 1 ? ` · counts ×${o.scale} (NOT an acceptance run)` : ''}${o.pin ? ' · pinned' : ''} · load avg ${(m.loadavgStart ?? []).map((v) => v.toFixed(2)).join(' ')} → ${(m.loadavgEnd ?? []).map((v) => v.toFixed(2)).join(' ')} · ${out.startedAt}`,
    ...(out.fiberBuild ? [`llm-fiber@${out.fiberBuild.version}, commit ${out.fiberBuild.commit ?? '?'}${out.fiberBuild.uncommitted ? ` + ${out.fiberBuild.uncommitted} uncommitted paths` : ''}, dist/ built ${out.fiberBuild.distBuiltAt ?? '?'}${out.fiberOptions ? ` · \`${out.fiberOptions.command}\`` : ''}`] : []),
    'medians across reps; time ratios: ≥ 1 = fiber slower; chunks/s and calls/s ratios: ≥ 1 = fiber faster',
  ];
  return { text: [...head.map((h) => `_${h}_`), '', ...lines].join('\n'), misses, failures, rows };
}

// ------------------------------------------------------------------------------------------------ main
const opts = parseArgs(process.argv.slice(2));

function report(jsonFile) {
  const out = JSON.parse(readFileSync(jsonFile, 'utf8'));
  if (!out.drivers?.fiber) die(`${jsonFile} has no fiber results`);
  const t = ratioTable(out);
  console.log(`\n## Acceptance ratios (issue 3)\n\n${t.text}\n`);
  if (t.failures.length) console.log(`failed runs:\n${t.failures.map((f) => `  ${f}`).join('\n')}\n`);
  console.log(t.misses.length ? `MISSED: ${t.misses.join('; ')}` : t.rows.some((r) => r[6] === 'PASS') ? 'all measured targets met' : 'no target measured');
  const obs = observabilityTable(out);
  if (obs) console.log(`\n## Observability overhead (issue 6, ADR 0007): prod + metrics + OTel + pino vs prod, beside the hand-instrumented floor\n\n${obs}\n`);
  const mdFile = opts.ratiosMd ?? jsonFile.replace(/\.json$/, '') + '.ratios.md';
  writeFileSync(mdFile, `${t.text}\n`);
  log(`ratio table written to ${path.relative(process.cwd(), mdFile)}`);
  return t;
}

if (opts.from) {
  const t = report(opts.from);
  process.exit(opts.strict && t.misses.length ? 1 : 0);
}

/** what was measured: version, commit (read-only git queries), uncommitted changes, dist build time */
function buildInfo(pkg, snapshot) {
  const git = (...a) => { const r = spawnSync('git', a, { cwd: REPO, encoding: 'utf8' }); return r.status === 0 ? r.stdout.trim() : null; };
  const dirty = git('status', '--porcelain', '--untracked-files=normal');
  const entry = path.join(REPO, exportTargets(pkg)[0] ?? 'dist/index.js');
  return {
    version: pkg.version,
    commit: git('rev-parse', '--short', 'HEAD'),
    uncommitted: dirty === null ? null : dirty.split('\n').filter(Boolean).length,
    distBuiltAt: existsSync(entry) ? new Date(statSync(entry).mtimeMs).toISOString() : null,
    snapshotFiles: snapshot ? readdirSync(path.join(snapshot, 'dist')).length : null,
  };
}

// one run at a time: the harness copy and its node_modules/llm-fiber are shared state
const LOCK = path.join(CACHE, 'run.lock');
mkdirSync(CACHE, { recursive: true });
if (existsSync(LOCK)) {
  const pid = Number(readFileSync(LOCK, 'utf8'));
  let alive = false;
  try { process.kill(pid, 0); alive = pid !== process.pid; } catch { /* stale */ }
  if (alive) die(`another bench run (pid ${pid}) is using bench/.harness/; wait for it (or remove ${path.relative(process.cwd(), LOCK)} if it is gone)`);
}
writeFileSync(LOCK, String(process.pid));
process.on('exit', () => { try { if (readFileSync(LOCK, 'utf8') === String(process.pid)) rmSync(LOCK); } catch { /* gone */ } });

const pkg = ensureBuilt(opts.rebuild);
prepareHarness(opts.harness);
// before the snapshot: `npm install` in the harness prunes packages its package.json does not list (llm-fiber)
if (opts.observability) installObservabilityPeers();
const snapshot = installSnapshot(pkg);
const fiberBuild = buildInfo(pkg, snapshot);
installDriver();

const floor = FLOORS[opts.protocol];
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
const json = opts.json ?? path.join(RESULTS, `${stamp}-${opts.protocol}-${opts.preset}.json`);
mkdirSync(path.dirname(json), { recursive: true });
let drivers = opts.drivers ? opts.drivers.split(',').map((s) => s.trim()).filter(Boolean) : [floor, 'fiber'];
if (!drivers.includes('fiber')) drivers.push('fiber');
if (!drivers.includes(floor)) drivers.unshift(floor);
if (opts.observability && !drivers.includes('fiber-obs')) drivers.push('fiber-obs');
// the observability floor is written for the OpenAI wire (drivers/undici-obs.mjs)
if (opts.observability && opts.protocol === 'openai' && !drivers.includes('undici-obs')) drivers.splice(drivers.indexOf(floor) + 1, 0, 'undici-obs');
const args = [path.join(WORK, 'run.mjs'), '--drivers', drivers.join(','), '--scenario', opts.scenario ?? 'S1,S2,S3,S4,S5', '--json', json, ...(opts.md ? ['--md', opts.md] : []), ...opts.pass];
const env = { ...process.env, FIBER_PROTOCOL: opts.protocol, FIBER_PRESET: opts.preset, FIBER_FOOTPRINT_DIR: snapshot };
delete env.FIBER_PATH; // our driver imports 'llm-fiber' from the snapshot; the harness's FIBER_PATH logic is not used
log(`harness: node ${path.relative(REPO, args[0])} ${args.slice(1).map((a) => path.isAbsolute(a) ? path.relative(REPO, a) : a).join(' ')}  (FIBER_PROTOCOL=${opts.protocol} FIBER_PRESET=${opts.preset})`);

const child = spawn(process.execPath, args, { cwd: WORK, stdio: 'inherit', env });
const forward = (sig) => () => { try { child.kill(sig); } catch { /* gone */ } };
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
child.on('exit', (code, signal) => {
  if (!existsSync(json)) die(`the harness wrote no results (exit ${code ?? signal})`);
  const res = JSON.parse(readFileSync(json, 'utf8'));
  res.fiberBuild = fiberBuild;
  res.fiberOptions = { protocol: opts.protocol, preset: opts.preset, command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim() };
  writeFileSync(json, JSON.stringify(res, null, 1));
  const t = report(json);
  process.exit(code || (opts.strict && t.misses.length ? 1 : 0));
});
