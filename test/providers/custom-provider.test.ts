/**
 * A provider written only against the public `Provider` type runs through the full middleware stack: the prod
 * preset's retry and metrics, a user hook, and the stream pipeline's end-marker rule.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defineMiddleware, Fiber, ServerError, StreamError, type Provider, type StreamDecoder, type StreamEvent, type Usage,
} from '../../src/index.js';

interface Reply { output: string; tokens_in: number; tokens_out: number }

function tinylm(): Provider {
  return {
    name: 'tinylm',
    defaultBaseUrl: 'http://127.0.0.1:1',
    idempotencyHeader: 'idempotency-key',
    prepare(req, env) {
      const prompt = req.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
      return {
        method: 'POST',
        url: `${env.baseUrl}/generate`,
        headers: { 'content-type': 'application/json', ...env.headers, ...req.headers },
        body: JSON.stringify({ model: req.model, prompt, stream: req.stream }),
      };
    },
    parse(body, res) {
      const b = body as Reply;
      return {
        text: b.output, reasoning: null, toolCalls: [], finishReason: 'stop',
        usage: { prompt: b.tokens_in, completion: b.tokens_out, total: b.tokens_in + b.tokens_out, costEstimate: null },
        model: res.model, id: null, raw: body,
      };
    },
    stream(res): StreamDecoder {
      let text = '';
      let usage: Usage | null = null;
      let finished = false;
      return {
        get finished() { return finished; },
        event(data: string, _name: string | undefined, t: number, out: StreamEvent[]) {
          const msg = JSON.parse(data) as { delta?: string; done?: boolean; n?: number };
          if (msg.delta) { text += msg.delta; out.push({ type: 'chunk', delta: msg.delta, t }); }
          if (msg.done) {
            usage = { prompt: 1, completion: msg.n ?? 0, total: 1 + (msg.n ?? 0), costEstimate: null };
            out.push({ type: 'usage', usage, t });
            finished = true;
          }
        },
        final: () => ({ text, reasoning: null, toolCalls: [], finishReason: 'stop', usage, model: res.model, id: null, raw: null }),
      };
    },
    error(res, body) {
      return new ServerError(`tinylm ${res.model}: ${body.slice(0, 80)} (${res.status})`, { status: res.status, retryable: res.status >= 500 });
    },
  };
}

let server: http.Server;
let base = '';
const seen: Array<{ body: any; headers: http.IncomingHttpHeaders }> = [];
let failNext = 0;
let cutStream = false;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      seen.push({ body, headers: req.headers });
      if (failNext > 0) { failNext--; res.writeHead(503); res.end('busy'); return; }
      const words = ['tiny', ' reply', ' to', ` "${body.prompt}"`];
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ output: words.join(''), tokens_in: 3, tokens_out: words.length }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const w of words) res.write(`data: ${JSON.stringify({ delta: w })}\n\n`);
      res.end(cutStream ? '' : `data: ${JSON.stringify({ done: true, n: words.length })}\n\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function fiberWith(extra: Parameters<Fiber['use']> = []) {
  return new Fiber({
    providers: [tinylm()],
    baseUrls: { tinylm: base },
    defaultModel: 'tinylm:tiny-1',
    retry: { minDelayMs: 1, maxDelayMs: 5 },
  }).use(...extra);
}

describe('a custom provider', () => {
  it('is retried by the prod preset and recorded by metrics', async () => {
    seen.length = 0;
    failNext = 1;
    const fiber = fiberWith();
    const r = await fiber.chat({ messages: 'hi' });
    expect(r.text).toBe('tiny reply to "hi"');
    expect(r.provider).toBe('tinylm');
    expect(r.attempts).toBe(2);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['idempotency-key']).toBe(seen[1]!.headers['idempotency-key']);
    const snap = fiber.metrics.snapshot();
    expect(snap.request_count).toEqual([{ tags: { provider: 'tinylm', model: 'tiny-1' }, value: 1 }]);
    expect(snap.retry_count).toEqual([{ tags: { provider: 'tinylm', model: 'tiny-1' }, value: 1 }]);
    await fiber.close();
  });

  it('streams through user hooks', async () => {
    const upper = defineMiddleware({
      name: 'upper',
      onEvent: (ev) => (ev.type === 'chunk' ? { ...ev, delta: ev.delta.toUpperCase() } : undefined),
    });
    const fiber = fiberWith([upper]);
    const types: string[] = [];
    const stream = fiber.chatStream({ messages: 'yo' });
    for await (const ev of stream) types.push(ev.type);
    expect(types).toEqual(['chunk', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    const r = await stream.result();
    expect(r.text).toBe('TINY REPLY TO "YO"');
    expect(r.usage.completion).toBe(4);
    await fiber.close();
  });

  it('gets a StreamError when its stream ends before the adapter saw the end', async () => {
    cutStream = true;
    const fiber = fiberWith();
    const err = await fiber.chatStream({ messages: 'cut' }).result().catch((e) => e);
    cutStream = false;
    expect(err).toBeInstanceOf(StreamError);
    expect(err.code).toBe('missing_end_marker');
    await fiber.close();
  });
});
