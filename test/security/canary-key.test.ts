/**
 * A canary key per provider must appear nowhere the caller or an operator can see: not in an error's message,
 * stack, own properties, cause chain or `raw` (even when the provider echoes the key back in its error body), not
 * in log lines, not in a result's `raw`, and not in any request URL the server received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fiber, type LoggerLike } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';

const KEYS = { openai: 'sk-canary-openai-0123456789abcdef', anthropic: 'sk-ant-canary-0123456789abcdef', gemini: 'AIzaCanaryGemini0123456789abcdefXYZ' };
const MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest', gemini: 'gemini-2.0-flash' } as const;
const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;

let emu: Emulator;
let fiber: Fiber;
const lines: string[] = [];
const logger: LoggerLike = {
  debug: (o, m) => void lines.push(JSON.stringify([o, m])),
  info: (o, m) => void lines.push(JSON.stringify([o, m])),
  warn: (o, m) => void lines.push(JSON.stringify([o, m])),
  error: (o, m) => void lines.push(JSON.stringify([o, m])),
};

/** Every string reachable from `value` (own props incl. non-enumerable, error message/stack/cause), depth-bounded. */
function strings(value: unknown, out: string[] = [], seen = new Set<unknown>(), depth = 0): string[] {
  if (typeof value === 'string') { out.push(value); return out; }
  if (value === null || typeof value !== 'object' || seen.has(value) || depth > 12) return out;
  seen.add(value);
  if (value instanceof Error) { out.push(value.message, String(value.stack)); strings((value as any).cause, out, seen, depth + 1); }
  for (const k of Object.getOwnPropertyNames(value)) {
    out.push(k);
    try { strings((value as any)[k], out, seen, depth + 1); } catch { /* getters that throw are not data */ }
  }
  return out;
}

function expectClean(value: unknown, what: string) {
  const hay = strings(value).join('\n');
  for (const k of Object.values(KEYS)) expect(hay.includes(k), `${what} leaks a key`).toBe(false);
}

beforeAll(async () => {
  emu = await startEmulator();
  fiber = new Fiber({ apiKeys: KEYS, baseUrls: emu.baseUrls, logger, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 } });
});
afterAll(async () => {
  await fiber.close();
  await emu.close();
});

describe('a canary API key', () => {
  for (const p of PROVIDERS) {
    it(`is scrubbed when ${p} echoes it in an error body`, async () => {
      const echo = `Incorrect API key provided: ${KEYS[p]}. Check your key.`;
      emu.script({ provider: p, status: 401, errorMessage: echo });
      const err = await fiber.chat({ model: `${p}:${MODELS[p]}`, messages: 'hi' }).catch((e) => e);
      expect(err.name).toBe('AuthError');
      expect(err.message).toContain('[redacted]');
      expectClean(err, `${p} 401 error`);
    });

    it(`never reaches ${p} error, log or result data across retries, streams and cut streams`, async () => {
      emu.script({ provider: p, status: 503, retryAfter: '0', errorMessage: `overloaded for key ${KEYS[p]}` });
      const ok = await fiber.chat({ model: `${p}:${MODELS[p]}`, messages: 'hello' });
      expectClean(ok, `${p} result`);

      emu.script({ provider: p, omitEndMarker: true });
      const cut = await fiber.chatStream({ model: `${p}:${MODELS[p]}`, messages: 'cut me' }).result().catch((e) => e);
      expect(cut.name).toBe('StreamError');
      expectClean(cut, `${p} stream error`);

      emu.script({ provider: p, inStreamError: { after: 2, message: `boom ${KEYS[p]}` } });
      const inband = await fiber.chatStream({ model: `${p}:${MODELS[p]}`, messages: 'one two three four' }).result().catch((e) => e);
      expectClean(inband, `${p} in-stream error`);

      const stream = fiber.chatStream({ model: `${p}:${MODELS[p]}`, messages: 'stream ok' });
      const events: unknown[] = [];
      for await (const ev of stream) events.push(ev);
      expectClean(events, `${p} stream events`);
    });
  }

  it('is absent from every log line and every URL the server received', () => {
    expect(lines.length).toBeGreaterThan(0);
    expectClean(lines, 'log lines');
    const urls = emu.requests.map((r) => r.path);
    expect(urls.length).toBeGreaterThan(0);
    expectClean(urls, 'request URLs');
    // …while the keys did travel, in headers only.
    const gemini = emu.requests.find((r) => r.provider === 'gemini')!;
    expect(gemini.headers['x-goog-api-key']).toBe(KEYS.gemini);
  });

  it('is absent from the fiber and its metrics', () => {
    expectClean(fiber.metrics.snapshot(), 'metrics');
  });
});
