import { createHook } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import { ConfigError } from '../../src/errors.js';

const FIXTURES = new URL('../../../shared/fixtures/', import.meta.url);

const OPENAI = '/v1/chat/completions';
const ANTHROPIC = '/v1/messages';
const GEMINI = '/v1beta/models/gemini-2.5-flash:generateContent';
const GEMINI_STREAM = '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse';

const openaiBody = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief' },
    { role: 'user', content: 'hello there' },
  ],
  ...extra,
});
const anthropicBody = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 100,
  messages: [{ role: 'user', content: [{ type: 'text', text: 'hello there' }] }],
  ...extra,
});
const geminiBody = () => ({ contents: [{ role: 'user', parts: [{ text: 'hello there' }] }] });

interface SseEvent {
  event?: string;
  data?: string;
  comment?: string;
}

/** A minimal SSE splitter for assertions (LF or CRLF framing). */
function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.length === 0) continue;
    const ev: SseEvent = {};
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) ev.comment = line.slice(1).trim();
      else if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data = ev.data === undefined ? line.slice(6) : `${ev.data}\n${line.slice(6)}`;
    }
    out.push(ev);
  }
  return out;
}

const dataOf = (events: SseEvent[]) => events.filter((e) => e.data !== undefined && e.event !== 'ping');

let emu: Emulator;
// A private pool, so a test that breaks a connection cannot disturb the next one, and close() can be checked.
let agent: Agent;

function post(
  path: string,
  body: unknown,
  opts: { bodyTimeout?: number; headers?: Record<string, string>; signal?: AbortSignal } = {},
) {
  return request(emu.url + path, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    bodyTimeout: opts.bodyTimeout,
    signal: opts.signal,
  });
}

/** Read a body to its end or its failure, keeping what arrived. */
async function drain(body: AsyncIterable<Buffer>): Promise<{ text: string; error: unknown }> {
  const parts: Buffer[] = [];
  let error: unknown = null;
  try {
    for await (const chunk of body) parts.push(chunk);
  } catch (e) {
    error = e;
  }
  return { text: Buffer.concat(parts).toString('utf8'), error };
}

async function postText(path: string, body: unknown, opts?: Parameters<typeof post>[2]) {
  const res = await post(path, body, opts);
  const { text, error } = await drain(res.body);
  return { status: res.statusCode, headers: res.headers, text, error };
}

beforeAll(async () => {
  emu = await startEmulator();
  agent = new Agent();
});
afterAll(async () => {
  await emu.close();
  await agent.close();
});
beforeEach(() => emu.reset());

describe('emulator: default echo reply', () => {
  it('exposes the base URLs the SDKs take', () => {
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emu.baseUrls).toEqual({ openai: `${emu.url}/v1`, anthropic: emu.url, gemini: emu.url });
  });

  it('answers OpenAI JSON with the echo, the requested model, usage and a request id', async () => {
    const r = await postText(OPENAI, openaiBody());
    expect(r.status).toBe(200);
    expect(r.headers['x-request-id']).toBe('req_emu_1');
    const body = JSON.parse(r.text);
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('gpt-4o-mini');
    expect(body.choices[0].message.content).toBe('You said: hello there');
    expect(body.choices[0].finish_reason).toBe('stop');
    // prompt: "Be brief hello there" = 4 words; completion: 4 deltas
    expect(body.usage).toEqual({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
  });

  it('streams OpenAI SSE word by word and ends with [DONE], with no usage chunk by default', async () => {
    const r = await postText(OPENAI, openaiBody({ stream: true }));
    expect(r.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(r.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = dataOf(parseSse(r.text));
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data!));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '', refusal: null });
    const deltas = chunks.map((c) => c.choices[0]?.delta.content).filter((d) => typeof d === 'string' && d !== '');
    expect(deltas).toEqual(['You', ' said:', ' hello', ' there']);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(chunks.every((c) => c.choices.length === 1 && !('usage' in c))).toBe(true);
    expect(chunks.every((c) => c.model === 'gpt-4o-mini')).toBe(true);
  });

  it('adds the usage chunk with empty choices only when stream_options.include_usage is true', async () => {
    const r = await postText(OPENAI, openaiBody({ stream: true, stream_options: { include_usage: true } }));
    const events = dataOf(parseSse(r.text));
    expect(events.at(-1)!.data).toBe('[DONE]');
    const last = JSON.parse(events.at(-2)!.data!);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    expect(JSON.parse(events[0]!.data!).usage).toBeNull();
  });

  it('takes the text parts of the last user message and echoes them', async () => {
    const r = await postText(OPENAI, {
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'second' }, { type: 'image_url', image_url: { url: 'x' } }] },
      ],
    });
    expect(JSON.parse(r.text).choices[0].message.content).toBe('You said: second');
  });

  it('answers Anthropic JSON with a text block, end_turn and a request-id', async () => {
    const r = await postText(ANTHROPIC, anthropicBody());
    expect(r.headers['request-id']).toBe('req_emu_1');
    const body = JSON.parse(r.text);
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'You said: hello there' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 2, output_tokens: 4 },
    });
  });

  it('streams the Anthropic event sequence with a ping and message_stop', async () => {
    const r = await postText(ANTHROPIC, anthropicBody({ stream: true }));
    const events = parseSse(r.text);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const text = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => JSON.parse(e.data!).delta.text)
      .join('');
    expect(text).toBe('You said: hello there');
    const delta = JSON.parse(events.find((e) => e.event === 'message_delta')!.data!);
    expect(delta.delta.stop_reason).toBe('end_turn');
    expect(delta.usage.output_tokens).toBe(4);
    expect(JSON.parse(events[0]!.data!).message.model).toBe('claude-sonnet-4-5');
  });

  it('answers Gemini JSON with the model from the path, usageMetadata and a responseId', async () => {
    const r = await postText(GEMINI, geminiBody());
    expect(r.headers['content-type']).toBe('application/json; charset=UTF-8');
    const body = JSON.parse(r.text);
    expect(body.candidates[0].content).toEqual({ parts: [{ text: 'You said: hello there' }], role: 'model' });
    expect(body.candidates[0].finishReason).toBe('STOP');
    expect(body.usageMetadata).toEqual({ promptTokenCount: 2, candidatesTokenCount: 4, totalTokenCount: 6 });
    expect(body.modelVersion).toBe('gemini-2.5-flash');
    expect(body.responseId).toBe('emu1');
  });

  it('streams Gemini with CRLF framing and finishReason only on the last chunk', async () => {
    const r = await postText(GEMINI_STREAM, geminiBody());
    expect(r.text).toMatch(/^data: \{.*\}\r\n\r\n/);
    const chunks = dataOf(parseSse(r.text)).map((e) => JSON.parse(e.data!));
    expect(chunks.map((c) => c.candidates[0].content.parts[0].text).join('')).toBe('You said: hello there');
    expect(chunks.map((c) => c.candidates[0].finishReason)).toEqual([undefined, undefined, undefined, 'STOP']);
    expect(chunks.at(-1).usageMetadata.candidatesTokenCount).toBe(4);
  });
});

describe('emulator: scripted content', () => {
  it('streams OpenAI tool calls as fragments by index, with id and name only on the first', async () => {
    emu.script({
      provider: 'openai',
      toolCalls: [
        { name: 'get_weather', arguments: { city: 'Paris', unit: 'c' } },
        { id: 'call_fixed', name: 'get_time', arguments: {} },
      ],
    });
    const r = await postText(OPENAI, openaiBody({ stream: true }));
    const chunks = dataOf(parseSse(r.text)).slice(0, -1).map((e) => JSON.parse(e.data!));
    const fragments = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    const byIndex = new Map<number, { id?: string; name?: string; args: string; frags: number; heads: number }>();
    for (const f of fragments) {
      const entry = byIndex.get(f.index) ?? { args: '', frags: 0, heads: 0 };
      if (f.id !== undefined) {
        entry.id = f.id;
        entry.name = f.function.name;
        entry.heads += 1;
      }
      entry.args += f.function.arguments;
      entry.frags += 1;
      byIndex.set(f.index, entry);
    }
    const first = byIndex.get(0)!;
    expect(first.heads).toBe(1);
    expect(first.frags).toBeGreaterThanOrEqual(3);
    expect(first.name).toBe('get_weather');
    expect(first.id).toMatch(/^call_/);
    expect(JSON.parse(first.args)).toEqual({ city: 'Paris', unit: 'c' });
    expect(byIndex.get(1)).toMatchObject({ id: 'call_fixed', name: 'get_time', heads: 1 });
    expect(JSON.parse(byIndex.get(1)!.args)).toEqual({});
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');
    // no text unless scripted
    expect(chunks.some((c) => typeof c.choices[0]?.delta.content === 'string' && c.choices[0].delta.content !== '')).toBe(false);
  });

  it('returns OpenAI JSON tool calls with null content', async () => {
    emu.script({ provider: 'openai', toolCalls: [{ name: 'f', arguments: { a: 1 } }] });
    const body = JSON.parse((await postText(OPENAI, openaiBody())).text);
    expect(body.choices[0].message.content).toBeNull();
    expect(body.choices[0].message.tool_calls[0]).toMatchObject({ type: 'function', function: { name: 'f', arguments: '{"a":1}' } });
    expect(body.choices[0].finish_reason).toBe('tool_calls');
  });

  it('streams Anthropic tool_use blocks with input_json_delta and stop_reason tool_use', async () => {
    emu.script({ provider: 'anthropic', text: 'Checking.', toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
    const events = parseSse((await postText(ANTHROPIC, anthropicBody({ stream: true }))).text);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => JSON.parse(e.data!));
    expect(starts.map((s) => s.content_block.type)).toEqual(['text', 'tool_use']);
    expect(starts[1].content_block).toMatchObject({ name: 'get_weather', input: {} });
    expect(starts[1].content_block.id).toMatch(/^toolu_/);
    const json = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => JSON.parse(e.data!))
      .filter((d) => d.delta.type === 'input_json_delta')
      .map((d) => d.delta.partial_json);
    expect(json.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(json.join(''))).toEqual({ city: 'Paris' });
    const delta = JSON.parse(events.find((e) => e.event === 'message_delta')!.data!);
    expect(delta.delta.stop_reason).toBe('tool_use');
  });

  it('returns Anthropic JSON tool_use blocks', async () => {
    emu.script({ provider: 'anthropic', toolCalls: [{ id: 'toolu_x', name: 'f', arguments: { a: 1 } }] });
    const body = JSON.parse((await postText(ANTHROPIC, anthropicBody())).text);
    expect(body.content).toEqual([{ type: 'tool_use', id: 'toolu_x', name: 'f', input: { a: 1 } }]);
    expect(body.stop_reason).toBe('tool_use');
  });

  it('sends Gemini functionCall parts, one per chunk when streaming', async () => {
    emu.script({ provider: 'gemini', toolCalls: [{ name: 'a', arguments: { x: 1 } }, { name: 'b', arguments: {} }], times: 2 });
    const json = JSON.parse((await postText(GEMINI, geminiBody())).text);
    expect(json.candidates[0].content.parts).toEqual([{ functionCall: { name: 'a', args: { x: 1 } } }, { functionCall: { name: 'b', args: {} } }]);
    const chunks = dataOf(parseSse((await postText(GEMINI_STREAM, geminiBody())).text)).map((e) => JSON.parse(e.data!));
    expect(chunks.map((c) => c.candidates[0].content.parts[0].functionCall.name)).toEqual(['a', 'b']);
    expect(chunks.at(-1).candidates[0].finishReason).toBe('STOP');
  });

  it('uses explicit chunks, usage and finish reason as scripted', async () => {
    emu.script({ provider: 'openai', chunks: ['Hel', 'lo'], usage: { prompt: 7, completion: 9 }, finishReason: 'length' });
    const r = await postText(OPENAI, openaiBody({ stream: true, stream_options: { include_usage: true } }));
    const chunks = dataOf(parseSse(r.text)).slice(0, -1).map((e) => JSON.parse(e.data!));
    expect(chunks.map((c) => c.choices[0]?.delta.content).filter((d) => d)).toEqual(['Hel', 'lo']);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('length');
    expect(chunks.at(-1).usage).toEqual({ prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 });
  });

  it('sends reasoning as an Anthropic thinking block and Gemini thought parts', async () => {
    emu.script({ provider: 'anthropic', reasoning: 'Let me think.', text: 'Done.' });
    emu.script({ provider: 'gemini', reasoning: 'Hmm.', text: 'Done.' });
    const body = JSON.parse((await postText(ANTHROPIC, anthropicBody())).text);
    expect(body.content[0]).toMatchObject({ type: 'thinking', thinking: 'Let me think.' });
    expect(body.content[0].signature).toBeTruthy();
    expect(body.content[1]).toEqual({ type: 'text', text: 'Done.' });
    const g = JSON.parse((await postText(GEMINI, geminiBody())).text);
    expect(g.candidates[0].content.parts).toEqual([{ text: 'Hmm.', thought: true }, { text: 'Done.' }]);
  });
});

describe('emulator: rules', () => {
  it('takes the first matching rule by provider and predicate, and counts times', async () => {
    emu.script({ provider: 'anthropic', text: 'anthropic only' });
    emu.script({ provider: 'openai', match: (r) => (r.body as { model?: string }).model === 'other', text: 'other model' });
    emu.script({ provider: 'openai', text: 'twice', times: 2 });
    const texts: string[] = [];
    for (const model of ['gpt-4o-mini', 'other', 'gpt-4o-mini', 'gpt-4o-mini']) {
      texts.push(JSON.parse((await postText(OPENAI, openaiBody({ model }))).text).choices[0].message.content);
    }
    expect(texts).toEqual(['twice', 'other model', 'twice', 'You said: hello there']);
    expect(JSON.parse((await postText(ANTHROPIC, anthropicBody())).text).content[0].text).toBe('anthropic only');
  });

  it('keeps a rule with times: Infinity', async () => {
    emu.script({ text: 'always', times: Infinity });
    for (let i = 0; i < 3; i++) {
      expect(JSON.parse((await postText(OPENAI, openaiBody())).text).choices[0].message.content).toBe('always');
    }
  });

  it('rejects an invalid rule with ConfigError', () => {
    expect(() => emu.script({ times: 0 })).toThrow(ConfigError);
    expect(() => emu.script({ dropAfterEvents: -1 })).toThrow(ConfigError);
    expect(() => emu.script({ provider: 'azure' as never })).toThrow(ConfigError);
    // a misspelt fault would otherwise turn into the default echo without a word
    expect(() => emu.script({ status: 503, retryAfterMS: '10' } as never)).toThrow(/unknown rule field "retryAfterMS"/);
    expect(() => emu.script({ model: '' })).toThrow(ConfigError);
  });

  it('records every request with provider, path, lower-case headers and parsed body, in order', async () => {
    await postText(OPENAI, openaiBody(), { headers: { 'Idempotency-Key': 'k-1' } });
    await postText(GEMINI_STREAM, geminiBody());
    await postText('/nope', 'not json');
    expect(emu.requests.map((r) => [r.provider, r.method, r.path])).toEqual([
      ['openai', 'POST', OPENAI],
      ['gemini', 'POST', GEMINI_STREAM],
      ['unknown', 'POST', '/nope'],
    ]);
    expect(emu.requests[0]!.headers['idempotency-key']).toBe('k-1');
    expect(emu.requests[0]!.body).toEqual(openaiBody());
    expect(emu.requests[2]!.body).toBe('not json');
    expect(typeof emu.requests[0]!.receivedAt).toBe('number');
    emu.reset();
    expect(emu.requests).toHaveLength(0);
  });

  it('answers an unknown route with a 404 JSON body', async () => {
    const r = await postText('/v1/embeddings', { model: 'x' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error.message).toContain('/v1/embeddings');
  });

  it('answers a body that is not JSON with a provider-shaped 400', async () => {
    const o = await postText(OPENAI, '{"model":');
    expect(o.status).toBe(400);
    expect(JSON.parse(o.text).error.type).toBe('invalid_request_error');
    const a = await postText(ANTHROPIC, '{');
    expect(JSON.parse(a.text)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const g = await postText(GEMINI, 'x');
    expect(JSON.parse(g.text).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
  });
});

describe('emulator: HTTP errors', () => {
  it('sends an OpenAI error body with retry-after and retry-after-ms headers', async () => {
    emu.script({ provider: 'openai', status: 429, retryAfter: '2', retryAfterMs: '1500', headers: { 'X-Extra': 'yes' } });
    const r = await postText(OPENAI, openaiBody({ stream: true }));
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('2');
    expect(r.headers['retry-after-ms']).toBe('1500');
    expect(r.headers['x-extra']).toBe('yes');
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.text)).toEqual({
      error: { message: expect.any(String), type: 'requests', param: null, code: 'rate_limit_exceeded' },
    });
  });

  it('uses errorCode and errorMessage verbatim', async () => {
    emu.script({ provider: 'openai', status: 400, errorCode: 'context_length_exceeded', errorMessage: 'too long' });
    const body = JSON.parse((await postText(OPENAI, openaiBody())).text);
    expect(body.error).toEqual({ message: 'too long', type: 'invalid_request_error', param: null, code: 'context_length_exceeded' });
  });

  it.each([
    [529, 'overloaded_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [401, 'authentication_error'],
    [400, 'invalid_request_error'],
    [404, 'not_found_error'],
  ])('maps Anthropic status %i to %s with the request id in the body', async (status, type) => {
    emu.script({ provider: 'anthropic', status });
    const r = await postText(ANTHROPIC, anthropicBody());
    expect(r.status).toBe(status);
    expect(JSON.parse(r.text)).toEqual({ type: 'error', error: { type, message: expect.any(String) }, request_id: r.headers['request-id'] });
  });

  it('sends a Gemini google.rpc.Status with RetryInfo', async () => {
    emu.script({ provider: 'gemini', status: 429, geminiRetryDelay: '7s' });
    const r = await postText(GEMINI, geminiBody());
    expect(r.status).toBe(429);
    expect(JSON.parse(r.text)).toEqual({
      error: {
        code: 429,
        message: expect.any(String),
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' }],
      },
    });
  });
});

describe('emulator: timing faults', () => {
  // The writers' timing is observed by ordering, not by the clock: a request without a rule, sent later on another
  // connection, completes while the scripted one is still held.
  it('holds the headers back with delayMs', async () => {
    emu.script({ provider: 'openai', delayMs: 10_000 });
    const abort = new AbortController();
    let settled = false;
    const slow = post(OPENAI, openaiBody(), { signal: abort.signal }).finally(() => {
      settled = true;
    });
    expect((await postText(ANTHROPIC, anthropicBody())).status).toBe(200);
    expect(settled).toBe(false);
    abort.abort();
    await expect(slow).rejects.toThrow();
  });

  it('sends the headers, then holds the body back with stallAfterHeadersMs', async () => {
    emu.script({ provider: 'openai', stallAfterHeadersMs: 10_000 });
    const abort = new AbortController();
    const res = await post(OPENAI, openaiBody(), { signal: abort.signal });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    let settled = false;
    const body = res.body.text().finally(() => {
      settled = true;
    });
    expect((await postText(ANTHROPIC, anthropicBody())).status).toBe(200);
    expect(settled).toBe(false);
    abort.abort();
    await expect(body).rejects.toThrow();
  });

  it('stalls a stream after N events with stallAfterEvents', async () => {
    emu.script({ provider: 'openai', stallAfterEvents: { after: 2, ms: 10_000 } });
    const abort = new AbortController();
    const res = await post(OPENAI, openaiBody({ stream: true }), { signal: abort.signal });
    const chunks = res.body[Symbol.asyncIterator]();
    let text = '';
    while (dataOf(parseSse(text)).length < 2) text += ((await chunks.next()).value as Buffer).toString('utf8');
    let more = false;
    const next = chunks.next().then(
      () => (more = true),
      () => undefined,
    );
    expect((await postText(ANTHROPIC, anthropicBody())).status).toBe(200);
    expect(more).toBe(false);
    expect(dataOf(parseSse(text))).toHaveLength(2);
    abort.abort();
    await next;
  });

  it('spaces events with chunkDelayMs and still delivers the whole stream', async () => {
    emu.script({ chunkDelayMs: 5 });
    const r = await postText(ANTHROPIC, anthropicBody({ stream: true }));
    expect(parseSse(r.text).at(-1)!.event).toBe('message_stop');
  });

  it('sends only keep-alive comments with pingOnly', async () => {
    emu.script({ pingOnly: true, pingIntervalMs: 5 });
    const res = await post(OPENAI, openaiBody({ stream: true }));
    let text = '';
    for await (const chunk of res.body) {
      text += chunk.toString('utf8');
      if ((text.match(/: ping\n\n/g) ?? []).length >= 3) break;
    }
    expect(text).toMatch(/^(: ping\n\n)+$/);
  });

  it('sends Anthropic ping events with pingOnly', async () => {
    emu.script({ provider: 'anthropic', pingOnly: true, pingIntervalMs: 5 });
    const res = await post(ANTHROPIC, anthropicBody({ stream: true }));
    let text = '';
    for await (const chunk of res.body) {
      text += chunk.toString('utf8');
      if (parseSse(text).length >= 3) break;
    }
    expect(new Set(parseSse(text).map((e) => e.event))).toEqual(new Set(['ping']));
  });

  it('inserts keep-alives between events with pingsBetweenEvents', async () => {
    emu.script({ provider: 'gemini', pingsBetweenEvents: 2 });
    const r = await postText(GEMINI_STREAM, geminiBody());
    const events = parseSse(r.text);
    const data = dataOf(events);
    expect(data).toHaveLength(4);
    expect(events.filter((e) => e.comment === 'ping')).toHaveLength(2 * (data.length - 1));
    expect(events[0]!.data).toBeDefined();
  });
});

describe('emulator: broken streams', () => {
  it('drops the connection after N events with dropAfterEvents', async () => {
    emu.script({ dropAfterEvents: 3 });
    const res = await post(OPENAI, openaiBody({ stream: true }));
    const { text, error } = await drain(res.body);
    expect(error).toBeTruthy();
    expect(dataOf(parseSse(text))).toHaveLength(3);
  });

  it('cuts a non-streaming body mid-way with dropAfterEvents', async () => {
    emu.script({ provider: 'gemini', dropAfterEvents: 0 });
    const res = await post(GEMINI, geminiBody());
    const { error } = await drain(res.body);
    expect(error).toBeTruthy();
  });

  it('ends cleanly without the end marker with omitEndMarker', async () => {
    emu.script({ provider: 'openai', omitEndMarker: true });
    emu.script({ provider: 'anthropic', omitEndMarker: true });
    emu.script({ provider: 'gemini', omitEndMarker: true });
    const o = await postText(OPENAI, openaiBody({ stream: true }));
    expect(o.error).toBeNull();
    expect(o.text).not.toContain('[DONE]');
    const a = await postText(ANTHROPIC, anthropicBody({ stream: true }));
    expect(a.error).toBeNull();
    expect(parseSse(a.text).map((e) => e.event)).not.toContain('message_stop');
    expect(parseSse(a.text).at(-1)!.event).toBe('message_delta');
    const g = await postText(GEMINI_STREAM, geminiBody());
    expect(g.error).toBeNull();
    const chunks = dataOf(parseSse(g.text)).map((e) => JSON.parse(e.data!));
    expect(chunks.map((c) => c.candidates[0].content.parts[0].text).join('')).toBe('You said: hello there');
    expect(chunks.some((c) => 'finishReason' in c.candidates[0])).toBe(false);
  });

  it('cuts one event JSON in half with malformedJson', async () => {
    emu.script({ provider: 'openai', malformedJson: true });
    const r = await postText(OPENAI, openaiBody({ stream: true }));
    expect(r.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const bad = dataOf(parseSse(r.text)).filter((e) => {
      try {
        JSON.parse(e.data!);
        return false;
      } catch {
        return e.data !== '[DONE]';
      }
    });
    expect(bad).toHaveLength(1);
  });

  it('truncates a non-streaming body with malformedJson', async () => {
    emu.script({ provider: 'anthropic', malformedJson: true });
    const r = await postText(ANTHROPIC, anthropicBody());
    expect(r.error).toBeNull();
    expect(r.text.startsWith('{"id":"msg_emu')).toBe(true);
    expect(() => JSON.parse(r.text)).toThrow();
  });

  it('sends provider-shaped in-stream errors after N events', async () => {
    emu.script({ provider: 'openai', inStreamError: { after: 2 } });
    emu.script({ provider: 'anthropic', inStreamError: { after: 3, status: 529 } });
    emu.script({ provider: 'gemini', inStreamError: { after: 1, status: 429, message: 'slow down' }, geminiRetryDelay: '1s' });

    const o = dataOf(parseSse((await postText(OPENAI, openaiBody({ stream: true }))).text));
    expect(o).toHaveLength(3);
    expect(JSON.parse(o[2]!.data!)).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: null } });

    const a = parseSse((await postText(ANTHROPIC, anthropicBody({ stream: true }))).text);
    expect(a.at(-1)!.event).toBe('error');
    expect(JSON.parse(a.at(-1)!.data!)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(a.filter((e) => e.event !== 'ping')).toHaveLength(4);

    const g = dataOf(parseSse((await postText(GEMINI_STREAM, geminiBody())).text));
    expect(g).toHaveLength(2);
    expect(JSON.parse(g[1]!.data!).error).toMatchObject({ code: 429, message: 'slow down', status: 'RESOURCE_EXHAUSTED' });
  });

  it('resets the connection before any response byte with resetBeforeResponse', async () => {
    emu.script({ resetBeforeResponse: true });
    await expect(post(OPENAI, openaiBody())).rejects.toThrow();
    expect(emu.requests).toHaveLength(1);
  });
});

describe('emulator: raw replay', () => {
  it('serves a recorded fixture byte for byte, split in small pieces', async () => {
    const sse = readFileSync(new URL('openai/stream-keepalive-comments.sse', FIXTURES));
    const meta = JSON.parse(readFileSync(new URL('openai/stream-keepalive-comments.meta.json', FIXTURES), 'utf8'));
    emu.script({ raw: { status: meta.status, headers: meta.headers, body: sse, splitEvery: 7 } });
    const res = await post(OPENAI, meta.request);
    const parts: Buffer[] = [];
    for await (const chunk of res.body) parts.push(chunk);
    expect(res.statusCode).toBe(200);
    for (const [name, value] of Object.entries(meta.headers as Record<string, string>)) expect(res.headers[name]).toBe(value);
    expect(Buffer.concat(parts).equals(sse)).toBe(true);
  });

  it('serves a recorded error body with its status and headers', async () => {
    const body = readFileSync(new URL('gemini/error-429-resource-exhausted.json', FIXTURES), 'utf8');
    emu.script({ provider: 'gemini', raw: { status: 429, headers: { 'content-type': 'application/json; charset=UTF-8' }, body } });
    const r = await postText(GEMINI, geminiBody());
    expect(r.status).toBe(429);
    expect(r.text).toBe(body);
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });
});

describe('emulator: backpressure and shutdown', () => {
  it('delivers a large stream intact to a client that reads late', async () => {
    const chunks = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(996)}`);
    emu.script({ chunks });
    const res = await post(OPENAI, openaiBody({ stream: true }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { text, error } = await drain(res.body);
    expect(error).toBeNull();
    const got = dataOf(parseSse(text))
      .slice(0, -1)
      .map((e) => JSON.parse(e.data!).choices[0].delta.content)
      .filter((d) => d);
    expect(got.join('')).toBe(chunks.join(''));
  });

  it('clears its timers when the client goes away mid-stream', async () => {
    // Track the Timeouts the emulator's session creates, by the stack that created them.
    const live = new Set<number>();
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 50;
    const hook = createHook({
      init(id, type) {
        if (type === 'Timeout' && /testing[\\/]session\.ts/.test(new Error().stack ?? '')) live.add(id);
      },
      destroy(id) {
        live.delete(id);
      },
    }).enable();
    try {
      emu.script({ stallAfterEvents: { after: 1, ms: 30_000 } });
      const res = await post(OPENAI, openaiBody({ stream: true }));
      for await (const _ of res.body) break; // the first event arrived, then the client leaves
      expect(live.size).toBe(1);
      const deadline = Date.now() + 2_000;
      while (live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      expect(live.size).toBe(0);
    } finally {
      hook.disable();
      Error.stackTraceLimit = limit;
    }
  });

  it('closes promptly with a stalled stream, an idle keep-alive connection and a delayed reply open', async () => {
    const own = await startEmulator();
    const ownAgent = new Agent();
    try {
      const send = (body: unknown) =>
        request(own.url + OPENAI, { method: 'POST', dispatcher: ownAgent, body: JSON.stringify(body) });
      await (await send(openaiBody())).body.text(); // leaves an idle keep-alive socket
      own.script({ stallAfterEvents: { after: 1, ms: Number.MAX_SAFE_INTEGER } });
      own.script({ delayMs: 60_000 });
      const stalled = await send(openaiBody({ stream: true }));
      const reading = drain(stalled.body);
      const delayed = send(openaiBody()).then(
        () => null,
        (e: unknown) => e,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      const closed = own.close().then(() => 'closed');
      const winner = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('hung'), 2_000))]);
      expect(winner).toBe('closed');
      expect((await reading).error).toBeTruthy();
      expect(await delayed).toBeTruthy();
      await own.close(); // twice is fine
    } finally {
      await own.close();
      await ownAgent.close();
    }
  });
});
