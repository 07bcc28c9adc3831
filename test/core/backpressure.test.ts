/**
 * A slow consumer must hold the server back instead of growing the client's memory: the client buffers at most
 * its high-water mark of events (1024) plus what one socket read decodes to, pauses the socket, and TCP flow
 * control makes the server's `res.write()` return false until the consumer pulls again. Observed from the server
 * (a purpose-built `node:http` server) and from the source's `buffered` count; nothing here is timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineMiddleware } from '../../src/compose.js';
import type { Fiber } from '../../src/fiber.js';
import type { FiberContext, StreamEvent } from '../../src/types.js';
import {
  type HandleTracker, iter, SSE_HEADERS, sseChunk, sseEnd, startServer, type TestServer, trackHandles, urlFiber,
} from '../helpers/core.js';

/** 20,000 events of ~1.2 kB: about 23 MB, several times what the kernel buffers of a loopback pair hold. */
const EVENTS = 20_000;
const DELTA = 'x'.repeat(1_000);
const EVENT_BYTES = Buffer.byteLength(sseChunk(DELTA, EVENTS));
/** The client's high-water mark plus the events one 64 KiB socket read can hold. */
const MAX_BUFFERED = 1024 + Math.ceil(65_536 / EVENT_BYTES);

/** What the server saw while writing the one stream of this file. */
const producer = { written: 0, writeReturnedFalse: 0, waitingForDrain: false, ended: false };

let server: TestServer;
let fiber: Fiber;
let ctx: FiberContext | undefined;
let handles: HandleTracker;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const buffered = () => (ctx!.source as unknown as { buffered: number }).buffered;

beforeAll(async () => {
  handles = trackHandles();
  server = await startServer((_i, _req, res) => {
    res.writeHead(200, SSE_HEADERS);
    const pump = () => {
      producer.waitingForDrain = false;
      while (producer.written < EVENTS) {
        const ok = res.write(sseChunk(DELTA, producer.written));
        producer.written++;
        if (!ok) {
          producer.writeReturnedFalse++;
          producer.waitingForDrain = true;
          res.once('drain', pump);
          return;
        }
      }
      res.end(sseEnd(1, EVENTS));
      producer.ended = true;
    };
    pump();
  });
  const probe = defineMiddleware({ name: 'probe', handle: async (c, next) => { await next(); ctx = c; } });
  fiber = urlFiber(server.url).use(probe);
});

afterAll(async () => {
  await fiber.close();
  await server.close();
  await handles.expectAllClosed();
});

describe('a slow consumer', () => {
  const stream = () => streamRef!;
  let streamRef: ReturnType<Fiber['chatStream']> | undefined;
  let it_: AsyncIterator<StreamEvent>;
  let consumed = 0;
  let text = 0;
  let maxBuffered = 0;

  const take = async (): Promise<StreamEvent | undefined> => {
    const r = await it_.next();
    if (r.done) return undefined;
    if (r.value.type === 'chunk') { consumed++; text += r.value.delta.length; }
    const b = buffered();
    if (b > maxBuffered) maxBuffered = b;
    return r.value;
  };

  beforeAll(() => {
    streamRef = fiber.chatStream({ messages: 'stream a lot' });
    it_ = iter(streamRef);
  });

  it('stops the server writing while it does not pull', async () => {
    expect((await take())?.type).toBe('chunk');
    // Wait until the producer is parked on 'drain' and stays there: TCP flow control reached it.
    let last = -1;
    let stable = 0;
    while (stable < 3) {
      await sleep(20);
      if (producer.waitingForDrain && producer.written === last) stable++;
      else stable = 0;
      last = producer.written;
    }
    expect(producer.ended).toBe(false);
    expect(producer.written).toBeLessThan(EVENTS);
    expect(producer.writeReturnedFalse).toBeGreaterThan(0);
    expect(consumed).toBe(1);
  });

  it('holds at most its high-water mark plus one socket read of events meanwhile', () => {
    expect(buffered()).toBeGreaterThan(0);
    expect(buffered()).toBeLessThanOrEqual(MAX_BUFFERED);
  });

  it('lets the server go on as it pulls at about 1 MB/s, without buffering more', async () => {
    const parkedAt = producer.written;
    // 2,500 events of ~1.2 kB with a 10 ms pause every 10: about 1 MB/s. The source resumes the socket each time
    // its queue runs empty, so this passes through its 1,024-event buffer twice.
    for (let i = 0; i < 2_500; i++) {
      await take();
      if (i % 10 === 9) await sleep(10);
    }
    expect(producer.written).toBeGreaterThan(parkedAt);
    expect(producer.ended).toBe(false);
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED);
  });

  it('delivers every event in the end, with the server blocked on drain many times', async () => {
    for (let ev = await take(); ev !== undefined; ev = await take()) { /* drain */ }
    expect(consumed).toBe(EVENTS);
    expect(text).toBe(EVENTS * DELTA.length);
    const result = await stream().result();
    expect(result.text.length).toBe(EVENTS * DELTA.length);
    expect(result.usage.completion).toBe(EVENTS);
    expect(producer.ended).toBe(true);
    expect(producer.writeReturnedFalse).toBeGreaterThan(1);
    expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED);
    expect(server.requests).toHaveLength(1);
  });
});
