/**
 * The emulator's `POST /v1/responses`: the wire shapes it writes (response object, typed events, errors) and the
 * EmulatorRule fields it honours, checked at the HTTP level.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';

const PATH = '/v1/responses';
let emu: Emulator;

beforeAll(async () => {
  emu = await startEmulator();
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => emu.reset());

async function post(body: unknown, path = PATH): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(emu.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

interface Ev { event: string | undefined; data: Record<string, any> }

function events(text: string): Ev[] {
  const out: Ev[] = [];
  for (const block of text.split('\n\n')) {
    if (block === '' || block.startsWith(':')) continue;
    let event: string | undefined;
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data = line.slice(6);
    }
    out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

const input = (text: string) => ({ model: 'gpt-4.1', instructions: 'Be brief', input: [{ role: 'user', content: [{ type: 'input_text', text }] }] });

describe('emulator: POST /v1/responses', () => {
  it('answers with a response object echoing the last user text, recorded as provider openai', async () => {
    const r = await post(input('hello there'));
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('req_emu_1');
    const body = JSON.parse(r.text);
    expect(body).toMatchObject({
      id: 'resp_emu1',
      object: 'response',
      status: 'completed',
      model: 'gpt-4.1',
      instructions: 'Be brief',
      store: true,
      incomplete_details: null,
      output: [{ id: 'msg_emu1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'You said: hello there' }] }],
      // Prompt words: "Be brief" + "hello there"; completion: one per delta.
      usage: { input_tokens: 4, input_tokens_details: { cached_tokens: 0 }, output_tokens: 4, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 8 },
    });
    expect(emu.requests[0]).toMatchObject({ provider: 'openai', path: PATH });
    const plain = JSON.parse((await post({ model: 'gpt-4.1', input: 'just a string' })).text);
    expect(plain.output[0].content[0].text).toBe('You said: just a string');
  });

  it('counts the same prompt words as the same conversation on /chat/completions', async () => {
    const chat = JSON.parse((await post({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief' },
        { role: 'user', content: 'weather in Rome' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"city":"Rome"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny and warm' },
      ],
    }, '/v1/chat/completions')).text);
    const responses = JSON.parse((await post({
      model: 'm',
      instructions: 'Be brief',
      input: [
        { role: 'user', content: 'weather in Rome' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'not counted' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'c1', output: 'sunny and warm' },
      ],
    })).text);
    expect(responses.usage.input_tokens).toBe(chat.usage.prompt_tokens);
    expect(responses.output[0].content[0].text).toBe(chat.choices[0].message.content);
  });

  it('streams typed events with increasing sequence numbers, ending with response.completed', async () => {
    emu.script({ provider: 'openai', reasoning: 'Think first.', chunks: ['A', 'B'], toolCalls: [{ id: 'call_x', name: 'f', arguments: { q: 'long enough' } }] });
    const r = await post({ ...input('hi'), stream: true, store: false, include: ['reasoning.encrypted_content'] });
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const evs = events(r.text);
    expect(evs.every((e) => e.event === e.data.type)).toBe(true);
    expect(evs.map((e) => e.data.sequence_number)).toEqual(evs.map((_, i) => i));
    const types = evs.map((e) => e.event);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types).not.toContain('response.failed');
    expect(evs.filter((e) => e.event === 'response.reasoning_summary_text.delta').map((e) => e.data.delta).join('')).toBe('Think first.');
    expect(evs.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data.delta)).toEqual(['A', 'B']);
    const args = evs.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data.delta);
    expect(args.length).toBeGreaterThan(1);
    expect(args.join('')).toBe('{"q":"long enough"}');
    const end = evs.at(-1)!.data.response;
    expect(end.store).toBe(false);
    expect(end.output.map((o: { type: string }) => o.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(end.output[0].encrypted_content).toEqual(expect.any(String));
    expect(end.output[2]).toMatchObject({ call_id: 'call_x', name: 'f', arguments: '{"q":"long enough"}' });
    expect(end.usage.output_tokens_details.reasoning_tokens).toBe(2);
  });

  it('reports scripted cached and reasoning tokens', async () => {
    emu.script({ provider: 'openai', cachedPrompt: 3, reasoning: 'a b c', reasoningTokens: 40, usage: { prompt: 10, completion: 50 } });
    const body = JSON.parse((await post(input('hi'))).text);
    expect(body.usage).toEqual({ input_tokens: 10, input_tokens_details: { cached_tokens: 3 }, output_tokens: 50, output_tokens_details: { reasoning_tokens: 40 }, total_tokens: 60 });
  });

  it('sends encrypted reasoning only when the request includes it', async () => {
    emu.script({ provider: 'openai', reasoning: 'Hmm.' });
    const body = JSON.parse((await post(input('hi'))).text);
    expect(body.output[0]).toEqual({ id: 'rs_emu1', type: 'reasoning', summary: [{ type: 'summary_text', text: 'Hmm.' }] });
  });

  it('ends incomplete for a scripted length or content_filter finish, and honours omitEndMarker', async () => {
    emu.script({ provider: 'openai', finishReason: 'length' });
    const json = JSON.parse((await post(input('hi'))).text);
    expect(json).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    emu.script({ provider: 'openai', finishReason: 'content_filter' });
    const stream = events((await post({ ...input('hi'), stream: true })).text);
    expect(stream.at(-1)).toMatchObject({ event: 'response.incomplete', data: { response: { status: 'incomplete', incomplete_details: { reason: 'content_filter' } } } });
    emu.script({ provider: 'openai', omitEndMarker: true });
    const cut = events((await post({ ...input('hi'), stream: true })).text);
    expect(cut.at(-1)!.event).toBe('response.output_item.done');
  });

  it('answers HTTP faults with the OpenAI error body', async () => {
    emu.script({ provider: 'openai', status: 429, retryAfter: '3' });
    const r = await post(input('hi'));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('3');
    expect(JSON.parse(r.text)).toEqual({ error: { message: 'Rate limit exceeded.', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
    const bad = await fetch(emu.url + PATH, { method: 'POST', body: '{"model":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('writes in-stream errors as response.failed (5xx) or an error event (others)', async () => {
    emu.script({ provider: 'openai', inStreamError: { after: 2 } });
    const failed = events((await post({ ...input('hi'), stream: true })).text);
    expect(failed.map((e) => e.event)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    expect(failed[2]!.data.response).toMatchObject({ id: 'resp_emu1', status: 'failed', error: { code: 'server_error', message: 'Internal server error.' } });

    emu.script({ provider: 'openai', inStreamError: { after: 1, status: 429, code: 'insufficient_quota', message: 'Quota.' } });
    const quota = events((await post({ ...input('hi'), stream: true })).text);
    expect(quota.map((e) => e.event)).toEqual(['response.created', 'error']);
    expect(quota[1]!.data).toEqual({ type: 'error', error: { message: 'Quota.', type: 'requests', param: null, code: 'insufficient_quota' } });
  });

  it('keeps the emulator 404 for other paths', async () => {
    const r = await post({ model: 'x' }, '/v1/nothing-here');
    expect(r.status).toBe(404);
  });
});
