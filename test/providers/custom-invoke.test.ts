/**
 * A provider with its own `invoke()` (no HTTP through undici): its responses still go through the adapter's
 * parse/stream/error stages, the retry loop, the stream end-marker rule and the call clock.
 */
import { describe, expect, it } from 'vitest';
import { AbortError, ConnectionError, Fiber, StreamError, TimeoutError, type Provider, type WireRequest } from '../../src/index.js';
import { openai } from '../../providers/index.js';

type Invoke = NonNullable<Provider['invoke']>;

/** The OpenAI adapter with a custom invoke: an in-process "server". */
function inProcess(invoke: Invoke): Provider {
  const base = openai({ name: 'local', baseUrl: 'http://in-process.invalid/v1' });
  return { ...base, invoke };
}

const json = (text: string) => JSON.stringify({
  id: 'chatcmpl-local', object: 'chat.completion', model: 'local-1',
  choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
});
const sse = (deltas: string[], done = true) => {
  const lines = deltas.map((d) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'local-1', choices: [{ index: 0, delta: { content: d }, finish_reason: null }] })}\n\n`);
  lines.push(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'local-1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  if (done) lines.push('data: [DONE]\n\n');
  return lines;
};
async function* pieces(parts: string[], onPull?: (i: number) => void) {
  for (let i = 0; i < parts.length; i++) { onPull?.(i); yield new TextEncoder().encode(parts[i]!); }
}
const fiberWith = (p: Provider, extra = {}) => new Fiber({ providers: [p], defaultModel: 'local:local-1', retry: { minDelayMs: 1, maxDelayMs: 2 }, ...extra });

describe('Provider.invoke', () => {
  it('answers a chat through the adapter stages', async () => {
    const seen: WireRequest[] = [];
    const f = fiberWith(inProcess(async (wire) => { seen.push(wire); return { status: 200, headers: { 'x-request-id': 'req_local' }, body: json('hi from memory') }; }));
    const r = await f.chat({ messages: 'hello' });
    expect(r.text).toBe('hi from memory');
    expect(r.usage.total).toBe(3);
    expect(JSON.parse(seen[0]!.body).messages[0].content).toBe('hello');
    await f.close();
  });

  it('streams an async-iterable body and enforces the end marker', async () => {
    const f = fiberWith(inProcess(async () => ({ status: 200, headers: {}, body: pieces(sse(['a', 'b', 'c'])) })));
    const r = await f.chatStream({ messages: 'x' }).result();
    expect(r.text).toBe('abc');
    const cut = fiberWith(inProcess(async () => ({ status: 200, headers: {}, body: pieces(sse(['a'], false)) })), { retry: false });
    const err = await cut.chatStream({ messages: 'x' }).result().catch((e) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect(err.code).toBe('missing_end_marker');
  });

  it('maps error statuses with the adapter and retries them', async () => {
    let n = 0;
    const f = fiberWith(inProcess(async () => (++n === 1
      ? { status: 503, headers: {}, body: JSON.stringify({ error: { message: 'busy', type: 'server_error' } }) }
      : { status: 200, headers: {}, body: json('second time') })));
    const r = await f.chat({ messages: 'x' });
    expect(r.text).toBe('second time');
    expect(r.attempts).toBe(2);
  });

  it('turns a throwing invoke into a typed connection error', async () => {
    const f = fiberWith(inProcess(async () => { throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }); }), { retry: false });
    const err = await f.chat({ messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
  });

  it('aborts the invoke signal when the caller aborts, and stops pulling the body', async () => {
    let signal: AbortSignal | undefined;
    let pulled = 0;
    async function* slow() {
      for (let i = 0; ; i++) {
        pulled = i;
        yield new TextEncoder().encode(sse(['x'])[0]!);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const f = fiberWith(inProcess(async (_w, s) => { signal = s; return { status: 200, headers: {}, body: slow() }; }));
    const stream = f.chatStream({ messages: 'x' });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    stream.abort();
    await expect(it.next()).rejects.toBeInstanceOf(AbortError);
    expect(signal?.aborted).toBe(true);
    // A pull already in flight at the abort may finish; none starts after it.
    await new Promise((r) => setTimeout(r, 30));
    const at = pulled;
    await new Promise((r) => setTimeout(r, 30));
    expect(pulled).toBe(at);
  });

  it('is bounded by the call deadline', async () => {
    const f = fiberWith(inProcess((_w, s) => new Promise((_r, reject) => s.addEventListener('abort', () => reject(s.reason)))), { retry: false, timeouts: { totalMs: 40 } });
    const err = await f.chat({ messages: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.phase).toBe('total');
  });
});
