import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, CircuitBreaker, Fiber, OverloadedError, fallback, type FiberOptions } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { FAST_RETRY, collect, recordingLogger, trackHandles, type HandleTracker } from '../helpers/core.js';

let emu: Emulator;
let handles: HandleTracker;
const fibers: Fiber[] = [];
const make = (o: FiberOptions = {}) => {
  const f = new Fiber({
    apiKeys: { openai: 'sk-fake-fallback-key-0001', anthropic: 'sk-ant-fake-fallback-0001', gemini: 'gemini-test-fallback-0001' },
    baseUrls: emu.baseUrls,
    defaultModel: 'gpt-4o-mini',
    retry: { ...FAST_RETRY, retries: 1 },
    ...o,
  });
  fibers.push(f);
  return f;
};

beforeAll(async () => { handles = trackHandles(); emu = await startEmulator(); });
afterEach(async () => { emu.reset(); await Promise.all(fibers.splice(0).map((f) => f.close())); });
afterAll(async () => { await emu.close(); await handles.expectAllClosed(); });

describe('fallback chains', () => {
  it('tries the next model once the current model retries are spent, with the same idempotency key', async () => {
    emu.script({ provider: 'openai', status: 503, times: Infinity });
    const logger = recordingLogger();
    const r = await make({ logger }).chat({ messages: 'hello', fallback: ['claude-3-5-haiku-latest', 'gemini-2.0-flash'] });
    expect(r.provider).toBe('anthropic');
    expect(r.model).toBe('claude-3-5-haiku-latest');
    expect(r.attempts).toBe(3); // 2 on openai (1 retry), 1 on anthropic
    expect(emu.requests.map((q) => q.provider)).toEqual(['openai', 'openai', 'anthropic']);
    const keys = new Set(emu.requests.map((q) => q.headers['idempotency-key'] ?? q.headers['x-idempotency-key']));
    // Anthropic takes no idempotency header: the key is the same wherever one is sent.
    expect(emu.requests[0]!.headers['idempotency-key']).toBe(emu.requests[1]!.headers['idempotency-key']);
    expect(keys.size).toBeLessThanOrEqual(2);
    const fb = logger.calls.find((c) => c.fields.kind === 'fallback')!;
    expect(fb.fields).toMatchObject({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', from: 'openai:gpt-4o-mini', reason: '503 server_error' });
  });

  it('walks the whole chain and reports the last error', async () => {
    emu.script({ status: 529, times: Infinity, provider: 'anthropic' });
    emu.script({ status: 503, times: Infinity, provider: 'openai' });
    emu.script({ status: 503, times: Infinity, provider: 'gemini' });
    const err = await make({ retry: false }).chat({ messages: 'x', fallback: ['claude-3-5-haiku-latest', 'gemini-2.0-flash'] }).catch((e) => e);
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err.provider).toBe('gemini');
    expect(err.attempts).toBe(3);
  });

  it('never falls back on the caller’s own errors', async () => {
    emu.script({ provider: 'openai', status: 400 });
    const err = await make().chat({ messages: 'x', fallback: ['claude-3-5-haiku-latest'] }).catch((e) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(emu.requests).toHaveLength(1);
  });

  it('never falls back once the first event reached the caller', async () => {
    emu.script({ provider: 'openai', dropAfterEvents: 3 });
    const { events, error } = await collect(make().chatStream({ messages: 'one two three four five', fallback: ['claude-3-5-haiku-latest'] }));
    expect(events.some((e) => e.type === 'chunk')).toBe(true);
    expect((error as Error | undefined)?.name).toBe('StreamError');
    expect(emu.requests).toHaveLength(1);
  });

  it('falls back for a stream that failed before its first event', async () => {
    emu.script({ provider: 'openai', status: 503, times: 2 });
    const r = await make().chatStream({ messages: 'streamed', fallback: ['gemini-2.0-flash'] }).result();
    expect(r.provider).toBe('gemini');
    expect(r.text).toBe('You said: streamed');
  });

  it('takes the models of the fallback() middleware when the call names none', async () => {
    emu.script({ provider: 'openai', status: 500, times: Infinity });
    const f = make({ retry: false }).use(fallback({ models: ['gemini-2.0-flash'] }));
    const r = await f.chat({ messages: 'hi' });
    expect(r.provider).toBe('gemini');
  });
});

describe('circuit breaker', () => {
  it('opens after repeated failures, skips the model while cooling down, and closes after a good probe', async () => {
    let now = 1_000;
    const fb = fallback({ breaker: { failureThreshold: 2, cooldownMs: 10_000 }, now: () => now });
    const f = make({ retry: false }).use(fb);
    const req = { messages: 'hi', fallback: ['gemini-2.0-flash'] };
    emu.script({ provider: 'openai', status: 503, times: 2 });
    expect((await f.chat(req)).provider).toBe('gemini');
    expect((await f.chat(req)).provider).toBe('gemini');
    expect(fb.breaker!.state('openai:gpt-4o-mini')).toBe('open');
    emu.reset();
    // Open: the primary is skipped without a request.
    const logger = recordingLogger();
    const skipped = await make({ retry: false, logger }).use(fb).chat(req);
    expect(skipped.provider).toBe('gemini');
    expect(emu.requests.map((q) => q.provider)).toEqual(['gemini']);
    expect(logger.calls.some((c) => c.fields.kind === 'breaker_skip')).toBe(true);
    // After the cooldown one probe goes to the primary; it succeeds and closes the breaker.
    now += 10_000;
    expect(fb.breaker!.state('openai:gpt-4o-mini')).toBe('half-open');
    expect((await f.chat(req)).provider).toBe('openai');
    expect(fb.breaker!.state('openai:gpt-4o-mini')).toBe('closed');
  });

  it('re-opens when the half-open probe fails', () => {
    let now = 0;
    const b = new CircuitBreaker(1, 100, () => now);
    b.failure('p:m');
    expect(b.allows('p:m')).toBe(false);
    now = 100;
    expect(b.allows('p:m')).toBe(true); // the probe
    expect(b.allows('p:m')).toBe(false); // everyone else waits for it
    b.failure('p:m');
    expect(b.state('p:m')).toBe('open');
    now = 150;
    expect(b.allows('p:m')).toBe(false);
  });

  it('tries the primary when every candidate is cooling down', async () => {
    const fb = fallback({ breaker: { failureThreshold: 1, cooldownMs: 60_000 } });
    const f = make({ retry: false }).use(fb);
    emu.script({ status: 503, times: 2 });
    await f.chat({ messages: 'x', fallback: ['gemini-2.0-flash'] }).catch(() => undefined);
    emu.reset();
    const r = await f.chat({ messages: 'y', fallback: ['gemini-2.0-flash'] });
    expect(r.provider).toBe('openai');
    expect(emu.requests).toHaveLength(1);
  });
});

describe('breaker probes and bare stacks', () => {
  it('does not claim a half-open probe for a model the call never reached', async () => {
    let now = 0;
    const fb = fallback({ breaker: { failureThreshold: 1, cooldownMs: 100 }, now: () => now });
    const f = make({ retry: false }).use(fb);
    // Open gemini's breaker: primary fails, gemini fails.
    emu.script({ status: 503, times: 2 });
    await f.chat({ messages: 'x', fallback: ['gemini-2.0-flash'] }).catch(() => undefined);
    expect(fb.breaker!.state('gemini:gemini-2.0-flash')).toBe('open');
    now = 200; // both cooled down: half-open
    // The primary answers: gemini (a later candidate) is never tried, so its probe stays free.
    expect((await f.chat({ messages: 'y', fallback: ['gemini-2.0-flash'] })).provider).toBe('openai');
    expect(fb.breaker!.state('gemini:gemini-2.0-flash')).toBe('half-open');
    emu.reset();
    emu.script({ provider: 'openai', status: 503 });
    // The next call that needs gemini gets to probe it.
    expect((await f.chat({ messages: 'z', fallback: ['gemini-2.0-flash'] })).provider).toBe('gemini');
    expect(fb.breaker!.state('gemini:gemini-2.0-flash')).toBe('closed');
  });

  it('honours a per-call fallback list with preset none', async () => {
    emu.script({ provider: 'openai', status: 500, times: Infinity });
    const r = await make({ preset: 'none' }).chat({ messages: 'bare', fallback: ['claude-3-5-haiku-latest'] });
    expect(r.provider).toBe('anthropic');
  });
});

describe('retry budget', () => {
  it('stops retrying once retries pass the budget, and says so', async () => {
    emu.script({ status: 503, times: Infinity });
    const logger = recordingLogger();
    // A reserve of 0.2/s holds 2 retries (10 s worth) and refills too slowly to matter here.
    const f = make({ logger, retry: { ...FAST_RETRY, retries: 5, budget: { ratio: 0, minPerSecond: 0.2 } } });
    const err = await f.chat({ messages: 'x' }).catch((e) => e);
    expect(err.status).toBe(503);
    expect(emu.requests).toHaveLength(3); // first try + the 2 retries the reserve allows
    const skip = logger.calls.find((c) => c.fields.kind === 'retry_skipped')!;
    expect(skip.fields.budget).toBe(true);
  });
});
