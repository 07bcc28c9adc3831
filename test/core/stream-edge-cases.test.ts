/**
 * Regressions found by the fault matrix: an end marker on a response the server keeps open, a 1xx interim
 * response before a stream, and one huge SSE line (linear, not quadratic, copying).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fiber } from '../../src/index.js';
import { SseParser } from '../../src/sse.js';
import { chunk, head, rawServer, type RawServer } from '../faults/kit.js';
import { TEST_KEY, collect, trackHandles, type HandleTracker } from '../helpers/core.js';

const openaiChunk = (delta: string | null, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: delta === null ? {} : { content: delta }, finish_reason: finish }] })}\n\n`;

let handles: HandleTracker;
let held: RawServer;
let early: RawServer;

beforeAll(async () => {
  handles = trackHandles();
  held = await rawServer({
    onRequest(conn) {
      conn.write(head('200 OK', { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }));
      conn.write(chunk(openaiChunk('held') + openaiChunk(null, 'stop') + 'data: [DONE]\n\n'));
      // …and never the terminating 0-length chunk: the response stays open.
    },
  });
  early = await rawServer({
    onRequest(conn) {
      conn.write('HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n');
      conn.write(head('200 OK', { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }));
      conn.write(chunk(openaiChunk('hinted') + openaiChunk(null, 'stop') + 'data: [DONE]\n\n'));
      conn.write('0\r\n\r\n');
    },
  });
});
afterAll(async () => {
  await held.close();
  await early.close();
  await handles.expectAllClosed();
});

const fiberFor = (url: string) => new Fiber({ apiKeys: { openai: TEST_KEY }, baseUrls: { openai: `${url}/v1` }, defaultModel: 'gpt-4o-mini', retry: false, timeouts: { totalMs: 5_000 } });

describe('stream edge cases', () => {
  it('ends a stream at its end marker even when the server keeps the response open', async () => {
    const f = fiberFor(held.url);
    const { events, error } = await collect(f.chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    expect(events.map((e) => e.type)).toEqual(['chunk', 'done']);
    expect((events.at(-1) as any).result).toMatchObject({ text: 'held', finishReason: 'stop' });
    await held.closedConn(0); // the held connection is released
    await f.close();
  });

  it('skips a 103 Early Hints response before the stream', async () => {
    const f = fiberFor(early.url);
    const r = await f.chatStream({ messages: 'hi' }).result();
    expect(r.text).toBe('hinted');
    const c = await f.chat({ messages: 'hi' }).catch((e) => e);
    // chat() reads the same SSE bytes as a JSON body: the point is that the 103 is not mistaken for the status.
    expect(c.status ?? 200).toBe(200);
    await f.close();
  });

  it('parses one huge SSE line arriving in many pieces with linear copying', () => {
    let got = '';
    const p = new SseParser((data) => { got = data; });
    p.push(Buffer.from('data: '));
    const piece = Buffer.alloc(65_536, 97);
    for (let i = 0; i < 512; i++) p.push(piece); // 32 MiB without a line break
    p.push(Buffer.from('\n\n'));
    expect(got.length).toBe(512 * 65_536);
  });
});
