/**
 * Fault matrix: broken streams. Drops, truncated JSON, missing end markers on each provider, in-stream error
 * events, odd framing and bytes. A stream never ends silently: it ends with `done` or throws a typed error, and
 * it is retried only while nothing has reached the caller.
 */
import { expect } from 'vitest';
import { AuthError, BadRequestError, type FiberError, OverloadedError, RateLimitError, ServerError, StreamError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import type { EmulatorInStreamError } from '../../src/testing/index.js';
import type { ChatRequest } from '../../src/types.js';
import { sseChunk, sseEnd } from '../helpers/core.js';
import { anthropicOpening, chunk, doneOf, expectWithin, faultSuite, head, logsOf, TEST_KEY, textOf, typesOf, TOTAL_MS, type Kit, useEmulator, SSE_CHUNKED } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('streams.test.ts');

const emu = useEmulator();

const T = { timeouts: { totalMs: TOTAL_MS } };
const MODEL = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest', gemini: 'gemini-2.0-flash' } as const;

fault('drop-mid-stream', async (kit) => {
  emu.script({ chunks: ['one', ' two', ' three'], dropAfterEvents: 3 });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'connection_dropped', status: 200, attempts: 1 });
  expect(textOf(events)).toBe('one two');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('drop-before-first-event', async (kit) => {
  emu.script({ dropAfterEvents: 1 });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(textOf(events)).toBe('You said: hi');
  expect(logsOf(events)).toHaveLength(1);
  expect(logsOf(events)[0]!.data).toMatchObject({ kind: 'retry', attempt: 1, error: 'StreamError', code: 'connection_dropped' });
  expect(doneOf(events).attempts).toBe(2);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, TOTAL_MS);
});

fault('drop-mid-stream-no-fallback', async (kit) => {
  emu.script({ provider: 'openai', chunks: ['one', ' two', ' three'], dropAfterEvents: 3 });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi', fallback: [MODEL.anthropic] }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'connection_dropped', provider: 'openai', attempts: 1 });
  expect(textOf(events)).toBe('one two');
  expect(emu.requests.map((r) => r.provider)).toEqual(['openai']);
  expectWithin(ms, TOTAL_MS);
});

fault('truncated-json-first-event', async (kit) => {
  emu.script({ text: 'Hello world', malformedJson: true, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'invalid_json', retryable: true, attempts: 3 });
  expect(typesOf(events)).toEqual([]);
  expect(logsOf(events)).toHaveLength(2);
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('truncated-json-mid-stream', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(sseChunk('a')));
      c.write(chunk('data: {"id":"chatcmpl-test","choices":[{"index":0,"delta":{"content":"b\n\n'));
      c.write('0\r\n\r\n');
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'invalid_json', attempts: 1 });
  expect(textOf(events)).toBe('a');
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

/** A stream of `provider` that ends cleanly without its end marker fails with StreamError missing_end_marker. */
async function missingEndMarker(kit: Kit, provider: keyof typeof MODEL): Promise<void> {
  emu.script({ provider, chunks: ['a', 'b', 'c'], omitEndMarker: true });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ model: MODEL[provider], messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'missing_end_marker', provider, retryable: true, attempts: 1 });
  expect(textOf(events)).toBe('abc');
  expect(events.some((e) => e.type === 'done')).toBe(false);
  expect(emu.requests.map((r) => r.provider)).toEqual([provider]);
  expectWithin(ms, TOTAL_MS);
}

fault('missing-end-openai', (kit) => missingEndMarker(kit, 'openai'));
fault('missing-end-anthropic', (kit) => missingEndMarker(kit, 'anthropic'));
fault('missing-end-gemini', (kit) => missingEndMarker(kit, 'gemini'));

fault('in-stream-error-openai', async (kit) => {
  // Counted events: the role chunk, 'a', 'b', then the error.
  emu.script({ chunks: ['a', 'b', 'c'], inStreamError: { after: 3 } });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ status: 500, code: 'server_error', attempts: 1 });
  expect(textOf(events)).toBe('ab');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('in-stream-error-anthropic', async (kit) => {
  // Counted events: message_start, content_block_start, the 'a' delta, then the error.
  emu.script({ provider: 'anthropic', chunks: ['a', 'b', 'c'], inStreamError: { after: 3 } });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ model: MODEL.anthropic, messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 529, code: 'overloaded_error', provider: 'anthropic', attempts: 1 });
  expect(textOf(events)).toBe('a');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('in-stream-error-gemini', async (kit) => {
  emu.script({ provider: 'gemini', chunks: ['a', 'b', 'c'], inStreamError: { after: 2 } });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ model: MODEL.gemini, messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 503, code: 'UNAVAILABLE', provider: 'gemini', attempts: 1 });
  expect(textOf(events)).toBe('ab');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('in-stream-error-before-content', async (kit) => {
  emu.script({ provider: 'anthropic', inStreamError: { after: 1 } });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ model: MODEL.anthropic, messages: 'hi' }));
  expect(error).toBeNull();
  expect(textOf(events)).toBe('You said: hi');
  expect(logsOf(events)[0]!.data).toMatchObject({ kind: 'retry', error: 'OverloadedError', reason: '529 overloaded_error' });
  expect(doneOf(events).attempts).toBe(2);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, TOTAL_MS);
});

/** One call per `inStreamError` of `rule`: each fails with its typed error, not retryable, after 1 request. */
async function notRetried(
  kit: Kit,
  provider: keyof typeof MODEL,
  cases: ReadonlyArray<{ error: EmulatorInStreamError; cls: new (...args: never[]) => FiberError; status: number; code: string }>,
  extra: Partial<ChatRequest> = {},
): Promise<void> {
  const f = kit.emuFiber(emu, T);
  for (const [i, c] of cases.entries()) {
    emu.script({ provider, inStreamError: c.error });
    const { events, error, ms } = await kit.drain(f.chatStream({ model: MODEL[provider], messages: 'hi', ...extra }));
    expect(error, c.code).toBeInstanceOf(c.cls);
    expect(error).toMatchObject({ status: c.status, code: c.code, provider, retryable: false, attempts: 1 });
    expect(events).toEqual([]);
    expect(emu.requests).toHaveLength(i + 1);
    expectWithin(ms, TOTAL_MS);
  }
}

fault('in-stream-client-error-openai', (kit) => notRetried(kit, 'openai', [
  // Counted events: the role chunk (no content), then the error.
  { error: { after: 1, status: 400 }, cls: BadRequestError, status: 400, code: 'invalid_request_error' },
  { error: { after: 1, status: 401 }, cls: AuthError, status: 401, code: 'invalid_api_key' },
  { error: { after: 1, status: 429, code: 'insufficient_quota' }, cls: RateLimitError, status: 429, code: 'insufficient_quota' },
]));

fault('in-stream-client-error-responses', (kit) => notRetried(kit, 'openai', [
  // Counted events: response.created, response.in_progress, then the `error` event (4xx are error events).
  { error: { after: 2, status: 400 }, cls: BadRequestError, status: 400, code: 'invalid_request_error' },
  { error: { after: 2, status: 401 }, cls: AuthError, status: 401, code: 'invalid_api_key' },
  { error: { after: 2, status: 429, code: 'insufficient_quota' }, cls: RateLimitError, status: 429, code: 'insufficient_quota' },
], { providerOptions: { api: 'responses' } }));

fault('in-stream-client-error-anthropic', (kit) => notRetried(kit, 'anthropic', [
  // Counted events: message_start, then the error.
  { error: { after: 1, status: 400 }, cls: BadRequestError, status: 400, code: 'invalid_request_error' },
  { error: { after: 1, status: 401 }, cls: AuthError, status: 401, code: 'authentication_error' },
]));

fault('in-stream-client-error-gemini', (kit) => notRetried(kit, 'gemini', [
  { error: { after: 0, status: 400 }, cls: BadRequestError, status: 400, code: 'INVALID_ARGUMENT' },
  { error: { after: 0, status: 401 }, cls: AuthError, status: 401, code: 'UNAUTHENTICATED' },
]));

/** The last lines of an OpenAI stream without a usage chunk: the finish chunk and `[DONE]`. */
const OPENAI_END = 'data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
  + 'data: [DONE]\n\n';

/** A stream whose server writes `body` (in one chunk of chunked encoding) and then keeps the response open. */
async function heldOpen(kit: Kit, body: string, fiber: (url: string) => Fiber, model: string): Promise<void> {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(body));
      // No terminating `0\r\n\r\n`: the response stays open until the client leaves.
    },
  });
  const f = fiber(srv.url);
  const { events, error, ms } = await kit.drain(f.chatStream({ model, messages: 'hi', timeout: { totalMs: TOTAL_MS, idleMs: 2_500 } }));
  expect(error).toBeNull();
  expect(typesOf(events)).toEqual(['chunk', 'done']);
  expect(doneOf(events)).toMatchObject({ text: 'hello', finishReason: 'stop', attempts: 1 });
  await srv.closedConn(0);
  expect(srv.requests).toHaveLength(1);
  // Well before the idle (2.5 s) and total (3 s) deadlines: the end marker ended it.
  expect(ms).toBeLessThan(1_500);
}

fault('end-marker-held-open-openai', (kit) =>
  heldOpen(kit, sseChunk('hello') + OPENAI_END, (url) => kit.fiber(`${url}/v1`), MODEL.openai));

fault('end-marker-held-open-anthropic', (kit) =>
  heldOpen(
    kit,
    anthropicOpening('hello')
      + 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
      + 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}\n\n'
      + 'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    (url) => kit.fiber(`${url}/v1`, { baseUrls: { anthropic: url }, apiKeys: { anthropic: TEST_KEY } }),
    MODEL.anthropic,
  ));

fault('interim-103-before-stream', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write('HTTP/1.1 103 Early Hints\r\nlink: </hints.css>; rel=preload; as=style\r\n\r\n');
      c.later(10, () => {
        c.write(head('200 OK', SSE_CHUNKED));
        c.write(chunk(sseChunk('early') + sseChunk(' hints') + OPENAI_END));
        c.write('0\r\n\r\n');
      });
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(typesOf(events)).toEqual(['chunk', 'chunk', 'done']);
  expect(doneOf(events)).toMatchObject({ text: 'early hints', finishReason: 'stop', attempts: 1 });
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('huge-sse-line', async (kit) => {
  const LINE_BYTES = 32 * 1024 * 1024;
  const PIECE = 64 * 1024;
  const text = 'a'.repeat(LINE_BYTES);
  const event = Buffer.from(sseChunk(text), 'utf8');
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { 'content-type': 'text/event-stream', connection: 'close' }));
      for (let offset = 0; offset < event.length; offset += PIECE) c.write(event.subarray(offset, offset + PIECE));
      c.socket.end(OPENAI_END);
    },
  });
  // The deadline is the discriminator: linear copying finishes well inside it (about half a second here), while
  // re-copying the buffered line on every piece (quadratic) took about 7 s for this line.
  const f = kit.fiber(`${srv.url}/v1`, { timeouts: { totalMs: 4_000 }, maxResponseBytes: 40 * 1024 * 1024 });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(typesOf(events)).toEqual(['chunk', 'done']);
  const result = doneOf(events);
  expect(result.text.length).toBe(LINE_BYTES);
  expect(result).toMatchObject({ finishReason: 'stop', attempts: 1 });
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, 4_000);
}, 20_000);

fault('done-first', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk('data: [DONE]\n\n' + sseChunk('late') + sseEnd()));
      c.write('0\r\n\r\n');
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(typesOf(events)).toEqual(['done']);
  expect(doneOf(events)).toMatchObject({ text: '', finishReason: 'other', attempts: 1 });
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('invalid-utf8', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(Buffer.concat([
        Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"a'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('b"},"finish_reason":null}]}\n\n'),
      ])));
      c.write(chunk(sseEnd()));
      c.write('0\r\n\r\n');
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(textOf(events)).toBe('a\uFFFD\uFFFD\uFFFDb');
  expect(doneOf(events)).toMatchObject({ text: 'a\uFFFD\uFFFD\uFFFDb', finishReason: 'stop', attempts: 1 });
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('utf8-split-across-writes', async (kit) => {
  const event = Buffer.from(sseChunk('price: 5€ today'), 'utf8');
  const euro = event.indexOf(Buffer.from('€', 'utf8'));
  const srv = await kit.raw({
    onRequest(c) {
      c.socket.setNoDelay(true);
      c.write(head('200 OK', { 'content-type': 'text/event-stream', connection: 'close' }));
      c.write(event.subarray(0, euro + 1));
      c.later(20, () => {
        c.write(event.subarray(euro + 1));
        c.socket.end(sseEnd());
      });
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(textOf(events)).toBe('price: 5€ today');
  expect(doneOf(events).attempts).toBe(1);
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('truncated-chunked-stream', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(sseChunk('a')));
      c.later(20, () => {
        c.write('40\r\ndata: {"id"');
        c.later(10, () => c.socket.destroy());
      });
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'connection_dropped', attempts: 1 });
  expect(textOf(events)).toBe('a');
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('oversized-stream', async (kit) => {
  emu.script({ text: Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ') });
  const f = kit.emuFiber(emu, { ...T, maxResponseBytes: 1_500 });
  const { error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'response_too_large', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('html-200-stream', async (kit) => {
  emu.script({ raw: { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Please log in to the Wi-Fi</body></html>' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'missing_end_marker', attempts: 3 });
  expect(typesOf(events)).toEqual([]);
  expect(logsOf(events)).toHaveLength(2);
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('empty-200-stream', async (kit) => {
  emu.script({ raw: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: '' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'missing_end_marker', attempts: 3 });
  expect(typesOf(events)).toEqual([]);
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('reset-mid-stream', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(sseChunk('a')));
      c.later(20, () => c.socket.resetAndDestroy());
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'connection_dropped', attempts: 1 });
  expect((error as StreamError).message).toMatch(/ECONNRESET|reset/i);
  expect(textOf(events)).toBe('a');
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('one-byte-writes', async (kit) => {
  const body = sseChunk('hello') + sseChunk(' world') + sseEnd(3, 2);
  emu.script({ raw: { status: 200, headers: { 'content-type': 'text/event-stream' }, body, splitEvery: 1 } });
  const f = kit.emuFiber(emu, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeNull();
  expect(typesOf(events)).toEqual(['chunk', 'chunk', 'usage', 'done']);
  expect(doneOf(events)).toMatchObject({ text: 'hello world', finishReason: 'stop', attempts: 1, usage: { prompt: 3, completion: 2, total: 5 } });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('oversized-sse-line', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { 'content-type': 'text/event-stream', connection: 'close' }));
      c.write('data: ');
      c.write(Buffer.alloc(2 * 1024 * 1024, 0x61));
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, { ...T, maxResponseBytes: 1024 * 1024 });
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'response_too_large', retryable: false, attempts: 1 });
  expect(events).toEqual([]);
  await srv.closedConn(0);
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('hostile-tool-index', async (kit) => {
  const fragment = 'data: {"id":"chatcmpl-test","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1000000,"id":"call_x","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}\n\n';
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', SSE_CHUNKED));
      c.write(chunk(fragment + sseEnd()));
      c.write('0\r\n\r\n');
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { events, error, ms } = await kit.drain(f.chatStream({ messages: 'hi' }));
  expect(error).toBeInstanceOf(StreamError);
  expect(error).toMatchObject({ code: 'invalid_tool_call_index', retryable: false, attempts: 1 });
  expect(typesOf(events)).toEqual([]);
  expect(srv.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

coversTheMatrix();
