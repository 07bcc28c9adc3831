// A custom provider written only against the public `Provider` interface, running through the full middleware
// stack (retries, timeouts, metrics, hooks). The "TinyLM" server below speaks its own small wire format:
//   POST /generate { model, prompt, stream }  →  { output, tokens_in, tokens_out }   or SSE `data: {"delta"}` … `data: {"done":true}`
// Run: node examples/custom-provider.mjs
import http from 'node:http';
import { Fiber, ServerError, StreamError, BadRequestError, RateLimitError } from 'llm-fiber';

/** The adapter: prepare → (shared undici transport) → parse / stream / error. */
export function tinylm({ baseUrl } = {}) {
  return {
    name: 'tinylm',
    defaultBaseUrl: baseUrl,
    idempotencyHeader: 'idempotency-key',
    requestIdHeader: 'x-tinylm-request',
    prepare(req, env) {
      const prompt = req.messages.map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : ''}`).join('\n');
      const headers = { 'content-type': 'application/json', ...env.headers, ...req.headers };
      if (env.apiKey) headers.authorization = `Bearer ${env.apiKey}`;
      return { method: 'POST', url: `${env.baseUrl}/generate`, headers, body: JSON.stringify({ model: req.model, prompt, stream: req.stream }) };
    },
    parse(body, res) {
      return {
        text: body.output, reasoning: null, toolCalls: [], finishReason: 'stop',
        usage: { prompt: body.tokens_in, completion: body.tokens_out, total: body.tokens_in + body.tokens_out, costEstimate: null },
        model: res.model, id: res.requestId ?? null, raw: body,
      };
    },
    stream(res) {
      // A small synchronous state machine: one call per SSE event, pushing StreamEvents onto `out`.
      let text = '';
      let usage = null;
      return {
        finished: false,
        event(data, _name, t, out) {
          if (this.finished) return;
          let msg;
          try { msg = JSON.parse(data); } catch { throw new StreamError(`tinylm ${res.model}: bad event`, { code: 'invalid_json', retryable: true }); }
          if (msg.delta) { text += msg.delta; out.push({ type: 'chunk', delta: msg.delta, t }); }
          if (msg.done) {
            usage = { prompt: msg.tokens_in, completion: msg.tokens_out, total: msg.tokens_in + msg.tokens_out, costEstimate: null };
            out.push({ type: 'usage', usage, t });
            this.finished = true;
          }
        },
        final: () => ({ text, reasoning: null, toolCalls: [], finishReason: 'stop', usage, model: res.model, id: null, raw: null }),
      };
    },
    error(res, body) {
      const init = { status: res.status, requestId: res.requestId, retryable: res.status === 429 || res.status >= 500 };
      const what = `tinylm ${res.model}: ${body.slice(0, 100)} (${res.status})`;
      if (res.status === 429) return new RateLimitError(what, { ...init, retryAfterMs: Number(res.header('retry-after') ?? 0) * 1000 });
      if (res.status >= 500) return new ServerError(what, init);
      return new BadRequestError(what, init);
    },
  };
}

/** A TinyLM server: fails the first request with 503 so the retry shows, then answers. */
function startTinyLM() {
  let calls = 0;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      if (++calls === 1) { res.writeHead(503, { 'x-tinylm-request': `r${calls}` }); res.end('warming up'); return; }
      const words = `TinyLM heard ${body.prompt.split('\n').length} line(s).`.split(' ');
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json', 'x-tinylm-request': `r${calls}` });
        res.end(JSON.stringify({ output: words.join(' '), tokens_in: 5, tokens_out: words.length }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [i, w] of words.entries()) res.write(`data: ${JSON.stringify({ delta: (i ? ' ' : '') + w })}\n\n`);
      res.end(`data: ${JSON.stringify({ done: true, tokens_in: 5, tokens_out: words.length })}\n\n`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startTinyLM();
  const fiber = new Fiber({
    providers: [tinylm({ baseUrl: `http://127.0.0.1:${server.address().port}` })],
    defaultModel: 'tinylm:tiny-1',
    retry: { minDelayMs: 10, maxDelayMs: 50 },
  });
  const reply = await fiber.chat({ messages: 'Hello, TinyLM' });
  console.log(`chat: ${reply.text} (attempts: ${reply.attempts})`);
  let streamed = '';
  for await (const ev of fiber.chatStream({ messages: [['system', 'Be brief.'], ['user', 'Stream it']] })) {
    if (ev.type === 'chunk') streamed += ev.delta;
  }
  console.log(`stream: ${streamed}`);
  const requests = fiber.metrics.snapshot().request_count.find((p) => p.tags.provider === 'tinylm').value;
  console.log(`metrics: ${requests} requests recorded for tinylm`);
  await fiber.close();
  server.close();
}
