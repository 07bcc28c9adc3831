/**
 * The docs are executable: every ```js block of README.md and every examples/*.mjs runs as a child `node`
 * process against the built package (`import 'llm-fiber'` resolves to dist/ by the package's self-reference,
 * which is why the scripts are written inside the repo) and must exit 0. README blocks get OPENAI_API_KEY and
 * OPENAI_BASE_URL pointing at an emulator this test runs; the examples get no key at all and start their own.
 * The relative links in README.md and docs/ must point at files that exist.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/testing/index.js';
import type { Emulator } from '../../src/testing/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = join(ROOT, 'README.md');
const EXAMPLES = join(ROOT, 'examples');
const DIST_FILES = ['dist/index.js', 'dist/testing.js', 'dist/providers.js'];

/** Variables that would send a script to a real provider or change its defaults. */
const PROVIDER_ENV = [
  'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'GEMINI_API_KEY', 'GOOGLE_API_KEY',
  'GEMINI_BASE_URL', 'LLM_FIBER_DEFAULT_MODEL',
];


interface Block { index: number; line: number; code: string }

/** The ```js fenced blocks of a markdown file (```ts and others are prose, not run). */
function jsBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const re = /^```js[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = re.exec(markdown); m !== null; m = re.exec(markdown)) {
    blocks.push({ index: blocks.length + 1, line: markdown.slice(0, m.index).split('\n').length, code: m[1]! });
  }
  return blocks;
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of PROVIDER_ENV) delete env[name];
  return env;
}

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run a script with node. Asynchronous on purpose: the emulator serving it lives in this process. */
function runNode(file: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolvePromise({ code, signal, stdout, stderr }); });
  });
}

function describeRun(what: string, r: RunResult): string {
  return `${what} exited with ${r.signal ?? r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function assertBuilt(): void {
  const missing = DIST_FILES.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} missing: run npm run build (the docs tests import the built package)`);
  }
}

describe('README.md js blocks', () => {
  let emu: Emulator;
  let dir: string;

  beforeAll(async () => {
    assertBuilt();
    emu = await startEmulator();
    // Inside the repo, so `import 'llm-fiber'` resolves through package.json `exports` to dist/.
    dir = mkdtempSync(join(ROOT, 'test/docs/.readme-'));
  });

  afterAll(async () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    await emu?.close();
  });

  const blocks = jsBlocks(readFileSync(README, 'utf8'));

  it('has runnable blocks', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
  });

  for (const block of blocks) {
    it(`block ${block.index} (README.md line ${block.line}) exits 0`, async () => {
      const file = join(dir, `block-${block.index}.mjs`);
      writeFileSync(file, block.code);
      const env = { ...baseEnv(), OPENAI_API_KEY: 'sk-test-fake-key', OPENAI_BASE_URL: emu.baseUrls.openai };
      const r = await runNode(file, env);
      expect(r.code, describeRun(`README block ${block.index} (line ${block.line})`, r)).toBe(0);
      // No block may print the key it was given.
      expect(r.stdout + r.stderr).not.toContain('sk-test-fake-key');
    });
  }
});

describe('examples/*.mjs with no API key', () => {
  beforeAll(() => assertBuilt());

  /**
   * What these examples must print (their demo of the feature), besides exiting 0. Every other examples/*.mjs
   * (other workstreams add theirs) must still exit 0.
   */
  const expected: Record<string, RegExp[]> = {
    'quickstart.mjs': [
      /No API key set: using the embedded emulator/,
      /\[warn\] retrying in \d+ ms after 429/,
      /finish reason stop/,
      /usage +\d+ prompt \+ \d+ completion = \d+ tokens/,
      /latency +[\d.]+ ms, first content after [\d.]+ ms, 2 attempt\(s\)/,
      /request_count\{provider=openai,model=gpt-4o-mini\} 1/,
      /retry_count\{provider=openai,model=gpt-4o-mini\} 1/,
      /ttfb_ms\{provider=openai,model=gpt-4o-mini\} count=1/,
    ],
    'middleware.mjs': [
      /attempt 1: OverloadedError/,
      /attempt 2: first event after \d+ ms/,
      /\[\d+ chunks, \d+ chars\]/,
      /result\.text ends with the fan-out chunk: true/,
    ],
    'tools.mjs': [
      /turn 1: finishReason=tool_calls/,
      /tool call get_weather\(\{"city":"Paris"\}\)/,
      /turn 2: finishReason=stop/,
      /18 °C and sunny in Paris/,
    ],
    'reasoning-and-caching.mjs': [
      /result\.reasoning = "The user wants the weather in Paris, so I call get_weather\."/,
      /thinking=\{"type":"enabled","budget_tokens":2048\} max_tokens=6144 temperature=not sent/,
      /thinking block sent back intact: true/,
      /cache_control on: last tool, system, question \(second-to-last user turn\)/,
      /usage turn 2: prompt=180 cachedPrompt=90 cacheWrite=60/,
      /thinkingConfig=\{"thinkingBudget":2048,"includeThoughts":true\}/,
      /reasoning=\{"effort":"low","summary":"auto"\} include=\["reasoning\.encrypted_content"\] store=false/,
      /reasoning_effort="low"/,
      /unsupported_option, 0 requests sent: anthropic claude-3-5-haiku-latest/,
      /unsupported_option, 0 requests sent: gemini gemini-2\.5-pro/,
      /\(responses\) file +→ \{"type":"input_file","file_url":"https:\/\/example\.com\/report\.pdf"\}/,
      /claude-sonnet-4-5 audio +→ BadRequestError unsupported_content_part/,
    ],
    'observability.mjs': [
      /log warn retrying in \d+ ms after 503/,
      /delivered text: "Write to \[redacted\] today\."/,
      /"errorMessage":"openai gpt-4o-mini: Invalid value for temperature \(sent by \[redacted\]\)/,
      /request_count \{"provider":"openai","model":"gpt-4o-mini","tenant":"acme"\} 3/,
      /error_count \{"provider":"openai","model":"gpt-4o-mini","tenant":"acme","error":"BadRequestError"\} 1/,
      /span "chat gpt-4o-mini attempt 1": llm_fiber\.attempt=1 error\.type=OverloadedError/,
      /span "chat gpt-4o-mini": .*llm_fiber\.attempts=2/,
      /event llm_fiber\.retry \{"llm_fiber\.retry\.delay_ms":20/,
      /gen_ai\.client\.operation\.duration \(s\)/,
      /llm_fiber\.request_count:1\|c\|#provider:openai,model:gpt-4o-mini/,
      /llm_fiber\.request_count\.openai\.gpt-4o-mini:1\|c/,
    ],
  };

  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.mjs')).sort();

  it('includes the documented examples', () => {
    for (const name of Object.keys(expected)) expect(files).toContain(name);
  });

  for (const name of files) {
    it(`${name} runs with no API key and exits 0`, async () => {
      const r = await runNode(join(EXAMPLES, name), baseEnv());
      expect(r.code, describeRun(`examples/${name}`, r)).toBe(0);
      for (const re of expected[name] ?? []) expect(r.stdout, describeRun(`examples/${name}`, r)).toMatch(re);
    });
  }
});

describe('relative links in README.md and docs/', () => {
  const pages = [README];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.md')) pages.push(p);
    }
  };
  walk(join(ROOT, 'docs'));

  for (const page of pages) {
    it(`${relative(ROOT, page)} links to files that exist`, () => {
      const text = readFileSync(page, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#')) continue;
        const target = resolve(dirname(page), href.split('#')[0]!);
        if (!existsSync(target)) broken.push(href);
      }
      expect(broken).toEqual([]);
    });
  }
});
