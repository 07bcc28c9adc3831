import dgram, { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { StatsD } from 'hot-shots';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import { statsd, type StatsdClientLike } from '../../src/integrations/statsd.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { StreamEvent } from '../../src/types.js';

const CANARY_KEY = 'sk-test-canary-key-123456';
const CANARY_EMAIL = 'canary.user@example.com';
/** A key with none of the shapes the tag filter knows (no sk-, AIza, Bearer): only the Fiber knows it is one. */
const PLAIN_KEY = 'plainsecretvalue12345';

/** One StatsD line, parsed: `name:value|type[|@rate][|#k:v,...][|c:...]`. */
interface Line { raw: string; name: string; value: number; type: string; tags: Record<string, string> | null }

function parseLine(raw: string): Line {
  const [head, ...fields] = raw.split('|');
  const colon = head!.lastIndexOf(':');
  const line: Line = { raw, name: head!.slice(0, colon), value: Number(head!.slice(colon + 1)), type: fields[0]!, tags: null };
  for (const f of fields.slice(1)) {
    if (!f.startsWith('#')) continue;
    line.tags = {};
    for (const t of f.slice(1).split(',')) {
      const i = t.indexOf(':');
      line.tags[t.slice(0, i)] = t.slice(i + 1);
    }
  }
  return line;
}

/** A real UDP socket on 127.0.0.1 that parses every datagram it receives. */
interface Receiver {
  port: number;
  packets: string[];
  lines: Line[];
  /** Resolves once `pred(lines)` holds (checked on every datagram); fails after 5 s. */
  until(pred: (lines: Line[]) => boolean): Promise<Line[]>;
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const socket: Socket = createSocket('udp4');
  const packets: string[] = [];
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (msg) => {
    const text = msg.toString('utf8');
    packets.push(text);
    for (const l of text.split('\n')) if (l !== '') lines.push(parseLine(l));
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address() as AddressInfo;
  return {
    port,
    packets,
    lines,
    until(pred) {
      if (pred(lines)) return Promise.resolve(lines);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for StatsD lines; got:\n${packets.join('\n')}`));
        }, 5_000);
        const check = () => {
          if (!pred(lines)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(lines);
        };
        waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

const has = (name: string, n = 1) => (lines: Line[]) => lines.filter((l) => l.name === name).length >= n;
const only = (lines: Line[], name: string) => {
  const found = lines.filter((l) => l.name === name);
  expect(found, `${name} lines`).toHaveLength(1);
  return found[0]!;
};

let emu: Emulator;
let rx: Receiver;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  emu = await startEmulator();
});

beforeEach(async () => {
  emu.reset();
  const r = await receiver();
  rx = r;
  cleanups.push(() => r.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await emu.close();
});

function fiberWith(options: FiberOptions = {}): Fiber {
  const f = new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: CANARY_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
  cleanups.push(() => f.close());
  return f;
}

/** statsd() on the test receiver; its client is closed after the file. */
function ours(options: Parameters<typeof statsd>[0] = {}) {
  const mw = statsd({ host: '127.0.0.1', port: rx.port, ...options });
  cleanups.push(() => mw.close());
  return mw;
}

async function drain(stream: AsyncIterable<StreamEvent>): Promise<unknown> {
  try {
    for await (const _ of stream) { /* consume */ }
  } catch (e) {
    return e;
  }
  return null;
}

const OPENAI = { provider: 'openai', model: 'gpt-4o-mini' };

describe('statsd() with DogStatsD tags (a client it creates)', () => {
  it('sends counters, timings and tokens tagged by provider and model', async () => {
    const fiber = fiberWith().use(ours());
    emu.script({ usage: { prompt: 7, completion: 3 } });
    const result = await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    expect(lines.map((l) => `${l.name}|${l.type}`)).toEqual([
      'llm_fiber.request_count|c',
      'llm_fiber.latency_ms|ms',
      'llm_fiber.tokens_prompt|c',
      'llm_fiber.tokens_completion|c',
      'llm_fiber.tokens_total|c',
    ]);
    for (const l of lines) expect(l.tags).toEqual(OPENAI);
    expect(only(lines, 'llm_fiber.request_count').value).toBe(1);
    expect(only(lines, 'llm_fiber.tokens_prompt').value).toBe(7);
    expect(only(lines, 'llm_fiber.tokens_completion').value).toBe(3);
    expect(only(lines, 'llm_fiber.tokens_total').value).toBe(10);
    expect(only(lines, 'llm_fiber.latency_ms').value).toBeCloseTo(result.latencyMs, 6);
    expect(only(lines, 'llm_fiber.request_count').raw).toBe('llm_fiber.request_count:1|c|#provider:openai,model:gpt-4o-mini');
  });

  it('sends error_count with the error class, and retry_count', async () => {
    const fiber = fiberWith().use(ours());
    emu.script({ status: 429, times: Infinity });
    await expect(fiber.chat({ messages: 'hi' })).rejects.toMatchObject({ name: 'RateLimitError' });
    const lines = await rx.until(has('llm_fiber.error_count'));
    expect(only(lines, 'llm_fiber.error_count')).toMatchObject({ value: 1, type: 'c', tags: { ...OPENAI, error: 'RateLimitError' } });
    expect(only(lines, 'llm_fiber.retry_count')).toMatchObject({ value: 2, type: 'c', tags: OPENAI });
    expect(only(lines, 'llm_fiber.request_count')).toMatchObject({ value: 1, tags: OPENAI });
  });

  it('counts a stream the consumer left early (break) as a request with latency and ttfb, without error_count', async () => {
    const fiber = fiberWith().use(ours());
    emu.script({ chunks: ['a', 'b', 'c', 'd'], chunkDelayMs: 5 });
    for await (const ev of fiber.chatStream({ messages: 'hi' })) {
      if (ev.type === 'chunk') break;
    }
    // A later call through the same socket: once its lines are in, everything the first call sent is too.
    await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    expect(lines.map((l) => `${l.name}|${l.type}`)).toEqual([
      'llm_fiber.request_count|c',
      'llm_fiber.latency_ms|ms',
      'llm_fiber.ttfb_ms|ms',
      'llm_fiber.request_count|c',
      'llm_fiber.latency_ms|ms',
      'llm_fiber.tokens_prompt|c',
      'llm_fiber.tokens_completion|c',
      'llm_fiber.tokens_total|c',
    ]);
    expect(rx.packets.join('\n')).not.toContain('error');
  });

  it('sends error_count for a stream aborted with stream.abort()', async () => {
    const fiber = fiberWith().use(ours());
    emu.script({ chunks: ['a', 'b', 'c'], stallAfterEvents: { after: 2, ms: 60_000 } });
    const stream = fiber.chatStream({ messages: 'hi' });
    expect((await stream.next()).value).toMatchObject({ type: 'chunk' });
    stream.abort();
    await expect(stream.result()).rejects.toMatchObject({ name: 'AbortError' });
    const lines = await rx.until(has('llm_fiber.error_count'));
    expect(only(lines, 'llm_fiber.error_count')).toMatchObject({ value: 1, tags: { ...OPENAI, error: 'AbortError' } });
  });

  it('sends ttfb_ms for streams', async () => {
    const fiber = fiberWith().use(ours());
    const stream = fiber.chatStream({ messages: 'hi' });
    expect(await drain(stream)).toBeNull();
    const result = await stream.result();
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    const ttfb = only(lines, 'llm_fiber.ttfb_ms');
    expect(ttfb).toMatchObject({ type: 'ms', tags: OPENAI });
    expect(ttfb.value).toBeCloseTo(result.ttfbMs!, 6);
  });

  it('adds allow-listed metadata and global tags, with protocol characters replaced', async () => {
    const fiber = fiberWith().use(ours({ tags: ['tenant'], globalTags: { service: 'api', env: 'test' } }));
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'a|b,c#d', other: 'x' } });
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    expect(only(lines, 'llm_fiber.request_count').tags).toEqual({ service: 'api', env: 'test', ...OPENAI, tenant: 'a_b_c_d' });
  });

  it('uses the prefix given', async () => {
    const fiber = fiberWith().use(ours({ prefix: 'myapp.llm.' }));
    await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('myapp.llm.tokens_total'));
    expect(lines.every((l) => l.name.startsWith('myapp.llm.'))).toBe(true);
  });
});

describe('statsd() histogramType', () => {
  const histogramLines = (lines: Line[]) => lines.filter((l) => /_ms/.test(l.name)).map((l) => `${l.name.split('.').slice(0, 2).join('.')}|${l.type}`);

  it.each([
    ['histogram', 'h'],
    ['distribution', 'd'],
  ] as const)('sends latency_ms and ttfb_ms as %s (|%s) with DogStatsD tags', async (histogramType, type) => {
    const fiber = fiberWith().use(ours({ histogramType }));
    const stream = fiber.chatStream({ messages: 'hi' });
    expect(await drain(stream)).toBeNull();
    const result = await stream.result();
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    expect(histogramLines(lines)).toEqual([`llm_fiber.latency_ms|${type}`, `llm_fiber.ttfb_ms|${type}`]);
    expect(only(lines, 'llm_fiber.latency_ms')).toMatchObject({ tags: OPENAI });
    expect(only(lines, 'llm_fiber.latency_ms').value).toBeCloseTo(result.latencyMs, 6);
    expect(only(lines, 'llm_fiber.ttfb_ms').raw).toMatch(new RegExp(`^llm_fiber\\.ttfb_ms:[0-9.e+-]+\\|${type}\\|#provider:openai,model:gpt-4o-mini$`));
    expect(only(lines, 'llm_fiber.request_count').type).toBe('c');
  });

  it('sends histograms (|h) to plain StatsD with histogramType histogram', async () => {
    const fiber = fiberWith().use(ours({ dogstatsd: false, histogramType: 'histogram' }));
    await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('llm_fiber.tokens_total.openai.gpt-4o-mini'));
    expect(only(lines, 'llm_fiber.latency_ms.openai.gpt-4o-mini')).toMatchObject({ type: 'h', tags: null });
  });

  it('sends distributions through your own hot-shots client', async () => {
    const client = new StatsD({ host: '127.0.0.1', port: rx.port });
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    const fiber = fiberWith().use(statsd({ client, histogramType: 'distribution' }));
    await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('llm_fiber.tokens_total'));
    expect(only(lines, 'llm_fiber.latency_ms')).toMatchObject({ type: 'd', tags: OPENAI });
  });
});

describe('statsd() plain StatsD (dogstatsd: false)', () => {
  it('folds the tags into dotted names and sends no tag section', async () => {
    const fiber = fiberWith().use(ours({ dogstatsd: false }));
    emu.script({ status: 400 });
    await expect(fiber.chat({ messages: 'hi' })).rejects.toMatchObject({ name: 'BadRequestError' });
    await fiber.chat({ model: 'gpt-4.1-mini', messages: 'hi' });
    const lines = await rx.until(has('llm_fiber.tokens_total.openai.gpt-4_1-mini'));
    expect(rx.packets.every((p) => !p.includes('|#'))).toBe(true);
    expect(lines.map((l) => l.raw.replace(/:[0-9.e+-]+\|/, ':N|'))).toEqual([
      'llm_fiber.request_count.openai.gpt-4o-mini:N|c',
      'llm_fiber.latency_ms.openai.gpt-4o-mini:N|ms',
      'llm_fiber.error_count.openai.gpt-4o-mini.BadRequestError:N|c',
      'llm_fiber.request_count.openai.gpt-4_1-mini:N|c',
      'llm_fiber.latency_ms.openai.gpt-4_1-mini:N|ms',
      'llm_fiber.tokens_prompt.openai.gpt-4_1-mini:N|c',
      'llm_fiber.tokens_completion.openai.gpt-4_1-mini:N|c',
      'llm_fiber.tokens_total.openai.gpt-4_1-mini:N|c',
    ]);
  });

  it('folds allow-listed metadata in order, with none when absent and unsafe characters replaced', async () => {
    const fiber = fiberWith().use(ours({ dogstatsd: false, tags: ['tenant', 'feature'] }));
    await fiber.chat({ messages: 'hi', metadata: { feature: 'chat.v2' } });
    await fiber.chat({ messages: 'hi', metadata: { tenant: 'acme corp', feature: 'search' } });
    const lines = await rx.until((ls) => ls.filter((l) => l.name.startsWith('llm_fiber.request_count')).length === 2);
    expect(lines.filter((l) => l.name.startsWith('llm_fiber.request_count')).map((l) => l.name)).toEqual([
      'llm_fiber.request_count.openai.gpt-4o-mini.none.chat_v2',
      'llm_fiber.request_count.openai.gpt-4o-mini.acme_corp.search',
    ]);
  });
});

describe('statsd() with your own hot-shots client', () => {
  it('sends through it, after its own prefix and global tags, and close() leaves it open', async () => {
    const errors: Error[] = [];
    const client = new StatsD({ host: '127.0.0.1', port: rx.port, prefix: 'app.', globalTags: { env: 'test' }, maxBufferSize: 8192, errorHandler: (e) => errors.push(e) });
    cleanups.push(() => new Promise<void>((resolve) => client.close(() => resolve())));
    const mw = statsd({ client });
    const fiber = fiberWith().use(mw);
    await fiber.chat({ messages: 'hi' });
    await mw.flush(); // the client buffers: flush hands the lines to the socket
    const lines = await rx.until(has('app.llm_fiber.tokens_total'));
    expect(only(lines, 'app.llm_fiber.request_count')).toMatchObject({ value: 1, type: 'c', tags: { env: 'test', ...OPENAI } });
    await mw.close();
    client.increment('still.open', 1);
    client.flush();
    await rx.until(has('app.still.open'));
    expect(errors).toEqual([]);
  });

  it('accepts a hot-shots child client', async () => {
    const parent = new StatsD({ host: '127.0.0.1', port: rx.port });
    cleanups.push(() => new Promise<void>((resolve) => parent.close(() => resolve())));
    const fiber = fiberWith().use(statsd({ client: parent.childClient({ prefix: 'child.' }), prefix: '' }));
    await fiber.chat({ messages: 'hi' });
    const lines = await rx.until(has('child.request_count'));
    expect(only(lines, 'child.request_count').tags).toEqual(OPENAI);
  });
});

describe('statsd() never leaks or fails a call', () => {
  it('never sends the API key or an email from metadata, errors or tags', async () => {
    const fiber = fiberWith().use(ours({ tags: ['tenant', 'user'] }), ours({ tags: ['tenant', 'user'], dogstatsd: false }));
    const metadata = { tenant: 'acme', user: CANARY_EMAIL, key: CANARY_KEY, email: CANARY_EMAIL };
    emu.script({ status: 401, errorMessage: `Incorrect API key provided: ${CANARY_KEY} (${CANARY_EMAIL})` });
    await expect(fiber.chat({ messages: `my key is ${CANARY_KEY}`, metadata })).rejects.toMatchObject({ name: 'AuthError' });
    await fiber.chat({ messages: CANARY_EMAIL, metadata });
    await drain(fiber.chatStream({ messages: 'hi', metadata: { ...metadata, user: CANARY_KEY } }));
    const lines = await rx.until((ls) => ls.filter((l) => l.name.startsWith('llm_fiber.tokens_total')).length === 4);
    const all = rx.packets.join('\n');
    expect(all).not.toContain(CANARY_KEY);
    expect(all).not.toContain('canary');
    expect(all).not.toContain('@example.com');
    expect(lines.filter((l) => l.tags !== null).every((l) => l.tags!.user === 'redacted' && !('key' in l.tags!) && !('email' in l.tags!))).toBe(true);
    expect(lines.some((l) => l.name === 'llm_fiber.request_count.openai.gpt-4o-mini.acme.redacted')).toBe(true);
  });

  it('never sends the Fiber\'s own key from allow-listed metadata, whatever the key looks like', async () => {
    const fiber = fiberWith({ apiKeys: { openai: PLAIN_KEY } }).use(ours({ tags: ['user'] }), ours({ tags: ['user'], dogstatsd: false }));
    await fiber.chat({ messages: 'hi', metadata: { user: PLAIN_KEY } });
    emu.script({ status: 400 });
    await expect(fiber.chat({ messages: 'hi', metadata: { user: `id:${PLAIN_KEY}` } })).rejects.toMatchObject({ name: 'BadRequestError' });
    await drain(fiber.chatStream({ messages: 'hi', metadata: { user: PLAIN_KEY } }));
    const lines = await rx.until((ls) => ls.filter((l) => l.name.startsWith('llm_fiber.tokens_total')).length === 4
      && ls.filter((l) => l.name.startsWith('llm_fiber.error_count')).length === 2);
    expect(rx.packets.join('\n')).not.toContain(PLAIN_KEY);
    const dog = lines.filter((l) => l.tags !== null);
    expect(dog.length).toBeGreaterThan(0);
    expect(dog.every((l) => l.tags!.user === 'redacted')).toBe(true);
    expect(lines.filter((l) => l.tags === null && l.name.startsWith('llm_fiber.request_count')).map((l) => l.name)).toEqual([
      'llm_fiber.request_count.openai.gpt-4o-mini.redacted',
      'llm_fiber.request_count.openai.gpt-4o-mini.redacted',
      'llm_fiber.request_count.openai.gpt-4o-mini.redacted',
    ]);
  });

  it('reports a throwing client to onError and the call succeeds', async () => {
    const errors: Error[] = [];
    const client: StatsdClientLike = {
      increment() { throw new Error('client exploded'); },
      timing() { throw new Error('client exploded'); },
    };
    const fiber = fiberWith().use(statsd({ client, onError: (e) => errors.push(e) }));
    await expect(fiber.chat({ messages: 'hi' })).resolves.toMatchObject({ finishReason: 'stop' });
    expect(await drain(fiber.chatStream({ messages: 'hi' }))).toBeNull();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toBe('client exploded');
  });

  it('reports socket errors of the client it created to onError and the call succeeds', async () => {
    let reported!: (e: Error) => void;
    const error = new Promise<Error>((resolve) => { reported = resolve; });
    // A datagram over 64 KiB: the kernel refuses it (EMSGSIZE), the socket reports it asynchronously.
    const mw = ours({ prefix: `${'p'.repeat(70_000)}.`, onError: (e) => reported(e) });
    const fiber = fiberWith().use(mw);
    await expect(fiber.chat({ messages: 'hi' })).resolves.toMatchObject({ finishReason: 'stop' });
    expect(await drain(fiber.chatStream({ messages: 'hi' }))).toBeNull();
    expect((await error).message).toMatch(/EMSGSIZE|too long|message/i);
  });

  it('keeps working after close(), sending nothing', async () => {
    const mw = statsd({ host: '127.0.0.1', port: rx.port });
    const fiber = fiberWith().use(mw);
    await fiber.chat({ messages: 'hi' });
    await rx.until(has('llm_fiber.tokens_total'));
    await mw.close();
    await mw.close(); // twice is fine
    const before = rx.packets.length;
    await fiber.chat({ messages: 'hi' });
    // a marker through a separate socket: everything sent before it has arrived by the time it does
    const marker = new StatsD({ host: '127.0.0.1', port: rx.port });
    marker.increment('marker', 1);
    await rx.until(has('marker'));
    await new Promise<void>((resolve) => marker.close(() => resolve()));
    expect(rx.packets.length).toBe(before + 1);
  });

  it('opens no socket until the first call, and closes the one it opened', async () => {
    // hot-shots creates its UDP socket through node:dgram (and unrefs it, so it is not an active resource)
    const created: Socket[] = [];
    const spy = vi.spyOn(dgram, 'createSocket').mockImplementation(((...args: Parameters<typeof dgram.createSocket>) => {
      const socket = createSocket(...args);
      created.push(socket);
      return socket;
    }) as typeof dgram.createSocket);
    try {
      const mw = statsd({ host: '127.0.0.1', port: rx.port });
      const fiber = fiberWith().use(mw);
      expect(created).toHaveLength(0);
      await fiber.chat({ messages: 'hi' });
      await fiber.chat({ messages: 'hi' });
      expect(created).toHaveLength(1);
      const closed = new Promise<void>((resolve) => created[0]!.once('close', () => resolve()));
      await mw.close();
      await closed;
    } finally {
      spy.mockRestore();
    }
  });
});

describe('statsd() options', () => {
  it.each([
    [{ client: {} }, /client must be/],
    [{ client: { increment() {}, timing() {} }, host: 'x' }, /either client or host/],
    [{ port: 70_000 }, /port/],
    [{ prefix: 'bad prefix' }, /prefix/],
    [{ dogstatsd: false, globalTags: { env: 'x' } }, /globalTags need DogStatsD/],
    [{ globalTags: { env: 1 } }, /globalTags.env/],
    [{ tags: ['model'] }, /reserved/],
    [{ onError: 'log' }, /onError/],
    [{ buckets: {} }, /unknown option "buckets"/],
    [{ percentiles: [95] }, /unknown option "percentiles"/],
    [{ histogramType: 'summary' }, /histogramType must be 'timing', 'histogram', 'distribution'/],
    [{ histogramType: 'distribution', dogstatsd: false }, /'distribution' needs DogStatsD/],
    [{ client: { increment() {}, timing() {} }, histogramType: 'histogram' }, /'histogram' needs a client with histogram\(\)/],
    [{ client: { increment() {}, timing() {}, histogram() {} }, histogramType: 'distribution' }, /'distribution' needs a client with distribution\(\)/],
  ])('rejects %j with ConfigError', (options, message) => {
    expect(() => statsd(options as never)).toThrow(ConfigError);
    expect(() => statsd(options as never)).toThrow(message);
  });

  it('is a middleware named statsd', () => {
    const mw = statsd({ client: { increment() {}, timing() {} } });
    expect(mw.middlewareName).toBe('statsd');
    expect(typeof mw.close).toBe('function');
    expect(typeof mw.flush).toBe('function');
  });
});
