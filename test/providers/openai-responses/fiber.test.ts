/**
 * The Responses wire through the Fiber against the emulator: chat, stream, tool round trip, reasoning, errors, the
 * per-call switch, and equality with the Chat Completions wire for the same conversation.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import { ChatMessage, Fiber, type ChatResult, type StreamEvent } from '../../../src/index.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';

const MODEL = 'gpt-4o-mini';
const KEY = 'sk-test-fake';
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let emu: Emulator;
let responses: Fiber;
let chat: Fiber;

beforeAll(async () => {
  emu = await startEmulator();
  responses = new Fiber({ providers: [openai({ api: 'responses' })], baseUrls: emu.baseUrls, apiKeys: { openai: KEY }, retry: false });
  chat = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { openai: KEY }, retry: false });
});
afterAll(async () => {
  await responses.close();
  await chat.close();
  await emu.close();
});
beforeEach(() => emu.reset());

type Body = Record<string, any>;
const body = (i: number): Body => emu.requests[i]!.body as Body;

async function collect(stream: AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; result: ChatResult }> {
  const events: StreamEvent[] = [];
  for await (const ev of stream) events.push(ev);
  const done = events.at(-1) as Extract<StreamEvent, { type: 'done' }>;
  expect(done.type).toBe('done');
  return { events, result: done.result };
}

/** What must agree between the wires: everything but ids of the response and of the calls the emulator mints. */
function normalized(r: ChatResult) {
  return {
    text: r.text,
    reasoning: r.reasoning,
    finishReason: r.finishReason,
    toolCalls: r.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })),
    usage: { prompt: r.usage.prompt, completion: r.usage.completion, total: r.usage.total },
    model: r.model,
    message: { role: r.message.role, content: r.message.content, toolCalls: (r.message.toolCalls ?? []).map((c) => c.name) },
  };
}

describe('openai({ api: "responses" }) against the emulator', () => {
  it('chats: POST /v1/responses with instructions, input and store: false', async () => {
    const r = await responses.chat({ model: MODEL, messages: [ChatMessage.system('Be brief.'), ChatMessage.user('hello there')], maxTokens: 50, temperature: 0.2 });
    expect(r.text).toBe('You said: hello there');
    expect(r.finishReason).toBe('stop');
    expect(r.provider).toBe('openai');
    expect(r.model).toBe(MODEL);
    expect(r.id).toBe('resp_emu1');
    expect(r.reasoning).toBeNull();
    expect(r.usage).toMatchObject({ prompt: 4, completion: 4, total: 8, cachedPrompt: 0, reasoning: 0 });
    expect(r.message).toEqual({ role: 'assistant', content: 'You said: hello there' });
    expect(emu.requests[0]!.path).toBe('/v1/responses');
    expect(emu.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(body(0)).toEqual({
      model: MODEL,
      instructions: 'Be brief.',
      input: [{ role: 'user', content: 'hello there' }],
      temperature: 0.2,
      max_output_tokens: 50,
      store: false,
    });
  });

  it('streams text as chunks, then usage and done', async () => {
    emu.script({ provider: 'openai', chunks: ['Hel', 'lo ', 'wor', 'ld'] });
    const { events, result } = await collect(responses.chatStream({ model: MODEL, messages: 'hi' }));
    expect(events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta)).toEqual(['Hel', 'lo ', 'wor', 'ld']);
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    expect(result.text).toBe('Hello world');
    expect(result.finishReason).toBe('stop');
    expect(body(0).stream).toBe(true);
  });

  it('carries a tool round trip: function_call and function_call_output items with the call id', async () => {
    emu.script({ provider: 'openai', toolCalls: [{ id: 'call_rt1', name: 'get_weather', arguments: { city: 'Rome' } }] });
    const first = await responses.chat({ model: MODEL, messages: 'Weather in Rome?', tools: [weatherTool], toolChoice: 'auto' });
    expect(first.finishReason).toBe('tool_calls');
    expect(first.toolCalls).toEqual([{ id: 'call_rt1', name: 'get_weather', arguments: { city: 'Rome' } }]);
    expect(body(0).tools).toEqual([{ type: 'function', name: 'get_weather', description: 'Current weather for a city', parameters: weatherTool.parameters, strict: false }]);
    expect(body(0).tool_choice).toBe('auto');

    emu.script({ provider: 'openai', text: 'It is sunny in Rome.' });
    const second = await responses.chat({
      model: MODEL,
      tools: [weatherTool],
      messages: [ChatMessage.user('Weather in Rome?'), first.message, ChatMessage.tool('call_rt1', '{"sky":"sunny"}')],
    });
    expect(second.text).toBe('It is sunny in Rome.');
    expect(body(1).input).toEqual([
      { role: 'user', content: 'Weather in Rome?' },
      { type: 'function_call', call_id: 'call_rt1', name: 'get_weather', arguments: '{"city":"Rome"}' },
      { type: 'function_call_output', call_id: 'call_rt1', output: '{"sky":"sunny"}' },
    ]);
  });

  it('streams tool calls once their arguments are complete, with their call ids', async () => {
    emu.script({ provider: 'openai', text: 'Checking.', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }, { name: 'get_weather', arguments: { city: 'Bergen' } }] });
    const { events, result } = await collect(responses.chatStream({ model: MODEL, messages: 'Weather?', tools: [weatherTool] }));
    const calls = events.filter((e) => e.type === 'tool_call').map((e) => (e as Extract<StreamEvent, { type: 'tool_call' }>).toolCall);
    expect(calls).toEqual([
      { id: 'call_emu1_0', name: 'get_weather', arguments: { city: 'Oslo' } },
      { id: 'call_emu1_1', name: 'get_weather', arguments: { city: 'Bergen' } },
    ]);
    expect(result.toolCalls).toEqual(calls);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.text).toBe('Checking.');
  });

  it('keeps reasoning summaries out of the text, as reasoning events and result.reasoning', async () => {
    emu.script({ provider: 'openai', reasoning: 'The user greets me.', text: 'Hi!' });
    const { events, result } = await collect(responses.chatStream({ model: 'o4-mini', messages: 'hello', reasoning: { effort: 'low', summary: true } }));
    expect(body(0).reasoning).toEqual({ effort: 'low', summary: 'auto' });
    expect(body(0).include).toEqual(['reasoning.encrypted_content']);
    expect(events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta).join('')).toBe('The user greets me.');
    expect(events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta).join('')).toBe('Hi!');
    expect(events.findIndex((e) => e.type === 'reasoning')).toBeLessThan(events.findIndex((e) => e.type === 'chunk'));
    expect(result.text).toBe('Hi!');
    expect(result.reasoning).toBe('The user greets me.');
    expect(result.usage.reasoning).toBe(4);

    emu.script({ provider: 'openai', reasoning: 'The user greets me.', text: 'Hi!' });
    const json = await responses.chat({ model: 'o4-mini', messages: 'hello', reasoning: { effort: 'low', summary: true } });
    expect(json.reasoning).toBe(result.reasoning);
    expect(json.text).toBe('Hi!');
  });

  it('sends the kept encrypted reasoning item back before the call it led to (store: false: no ids)', async () => {
    emu.script({ provider: 'openai', reasoning: 'Need the weather tool.', toolCalls: [{ id: 'call_r1', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const first = await responses.chat({ model: 'o4-mini', messages: 'Weather in Oslo?', tools: [weatherTool], reasoning: { effort: 'medium' } });
    const kept = (first.message.providerData as { openaiResponses: { items: Array<Record<string, unknown>> } }).openaiResponses.items;
    expect(kept).toEqual([{ type: 'reasoning', summary: [{ type: 'summary_text', text: 'Need the weather tool.' }], encrypted_content: expect.any(String) }]);

    emu.script({ provider: 'openai', text: 'Cold.' });
    await responses.chat({
      model: 'o4-mini',
      tools: [weatherTool],
      reasoning: { effort: 'medium' },
      messages: [ChatMessage.user('Weather in Oslo?'), first.message, ChatMessage.tool('call_r1', 'minus 3')],
    });
    expect(body(1).input).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      kept[0],
      { type: 'function_call', call_id: 'call_r1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'call_r1', output: 'minus 3' },
    ]);
  });

  it('with providerOptions { store: true }, keeps item ids and replays reasoning paired with the items that followed it', async () => {
    emu.script({ provider: 'openai', reasoning: 'Think.', text: 'Let me check.', toolCalls: [{ id: 'call_s1', name: 'get_weather', arguments: { city: 'Lima' } }] });
    const first = await collect(responses.chatStream({ model: 'o4-mini', messages: 'Weather in Lima?', tools: [weatherTool], providerOptions: { store: true } }));
    expect(body(0).store).toBe(true);
    expect(body(0).include).toBeUndefined();
    expect(first.result.message.providerData).toEqual({
      openaiResponses: {
        items: [
          { type: 'reasoning', id: 'rs_emu1', summary: [{ type: 'summary_text', text: 'Think.' }] },
          { type: 'message', id: 'msg_emu1' },
          { type: 'function_call', id: 'fc_emu1_0', call_id: 'call_s1' },
        ],
      },
    });
    emu.script({ provider: 'openai', text: 'Warm.' });
    await responses.chat({
      model: 'o4-mini',
      tools: [weatherTool],
      providerOptions: { store: true },
      messages: [ChatMessage.user('Weather in Lima?'), first.result.message, ChatMessage.tool('call_s1', '25C')],
    });
    expect(body(1).input).toEqual([
      { role: 'user', content: 'Weather in Lima?' },
      { type: 'reasoning', id: 'rs_emu1', summary: [{ type: 'summary_text', text: 'Think.' }] },
      { role: 'assistant', id: 'msg_emu1', content: [{ type: 'output_text', text: 'Let me check.' }] },
      { type: 'function_call', id: 'fc_emu1_0', call_id: 'call_s1', name: 'get_weather', arguments: '{"city":"Lima"}' },
      { type: 'function_call_output', call_id: 'call_s1', output: '25C' },
    ]);
  });

  it('reports cached prompt and reasoning tokens in usage, streamed and not', async () => {
    emu.script({ provider: 'openai', cachedPrompt: 1024, reasoning: 'Plan.', reasoningTokens: 64, usage: { prompt: 1200, completion: 80 }, times: 2 });
    const r = await responses.chat({ model: 'o4-mini', messages: 'hi', reasoning: { effort: 'low' } });
    expect(r.usage).toEqual({ prompt: 1200, completion: 80, total: 1280, costEstimate: r.usage.costEstimate, cachedPrompt: 1024, reasoning: 64 });
    const s = await collect(responses.chatStream({ model: 'o4-mini', messages: 'hi', reasoning: { effort: 'low' } }));
    expect(s.result.usage).toEqual(r.usage);
    expect(s.events.find((e) => e.type === 'usage')).toMatchObject({ usage: { cachedPrompt: 1024, reasoning: 64 } });
  });

  it('maps an incomplete response (max_output_tokens) to finishReason length', async () => {
    emu.script({ provider: 'openai', text: 'Once upon a', finishReason: 'length', times: 2 });
    const r = await responses.chat({ model: MODEL, messages: 'story', maxTokens: 16 });
    expect(r.finishReason).toBe('length');
    const s = await collect(responses.chatStream({ model: MODEL, messages: 'story', maxTokens: 16 }));
    expect(s.result.finishReason).toBe('length');
    expect(s.result.text).toBe('Once upon a');
  });
});

describe('errors on the Responses wire', () => {
  it('maps HTTP errors with the OpenAI error body', async () => {
    emu.script({ provider: 'openai', status: 429, retryAfter: '2' });
    await expect(responses.chat({ model: MODEL, messages: 'hi' })).rejects.toMatchObject({ name: 'RateLimitError', status: 429, retryAfterMs: 2000, code: 'rate_limit_exceeded' });
    emu.script({ provider: 'openai', status: 400, errorMessage: 'Encrypted content is not supported with this model.' });
    await expect(responses.chat({ model: MODEL, messages: 'hi' })).rejects.toMatchObject({ name: 'BadRequestError', status: 400 });
    emu.script({ provider: 'openai', status: 401 });
    await expect(responses.chatStream({ model: MODEL, messages: 'hi' }).result()).rejects.toMatchObject({ name: 'AuthError', status: 401 });
  });

  it('throws the typed error of response.failed (5xx) and of an error event (others) mid-stream', async () => {
    // Counted events: created, in_progress, output_item.added, content_part.added, then the text deltas.
    emu.script({ provider: 'openai', text: 'one two three four', inStreamError: { after: 6 } });
    const failed = responses.chatStream({ model: MODEL, messages: 'hi' });
    const seen: string[] = [];
    await expect((async () => { for await (const ev of failed) seen.push(ev.type); })()).rejects.toMatchObject({ name: 'ServerError', status: 500, code: 'server_error' });
    expect(seen).toEqual(['chunk', 'chunk']);

    emu.script({ provider: 'openai', inStreamError: { after: 2, status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota.' } });
    await expect(responses.chatStream({ model: MODEL, messages: 'hi' }).result()).rejects.toMatchObject({ name: 'RateLimitError', status: 429, code: 'insufficient_quota' });
  });

  it('throws StreamError when the stream ends without response.completed, or the connection drops', async () => {
    emu.script({ provider: 'openai', omitEndMarker: true });
    await expect(responses.chatStream({ model: MODEL, messages: 'hi' }).result()).rejects.toMatchObject({ name: 'StreamError', code: 'missing_end_marker' });
    emu.script({ provider: 'openai', dropAfterEvents: 5 });
    await expect(responses.chatStream({ model: MODEL, messages: 'hi' }).result()).rejects.toMatchObject({ retryable: true });
  });

  it('refuses options the Responses API does not have, before sending', async () => {
    await expect(responses.chat({ model: MODEL, messages: 'hi', seed: 1 })).rejects.toMatchObject({ name: 'BadRequestError', code: 'unsupported_option' });
    await expect(responses.chat({ model: MODEL, messages: 'hi', stop: ['x'] })).rejects.toMatchObject({ name: 'BadRequestError', code: 'unsupported_option' });
    expect(emu.requests).toHaveLength(0);
  });

  it('replays recorded bytes split in small pieces (raw)', async () => {
    const sse = readFileSync(new URL('../../fixtures/openai-responses/reasoning-stream.sse', import.meta.url));
    emu.script({ provider: 'openai', raw: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse, splitEvery: 97 } });
    const { result } = await collect(responses.chatStream({ model: 'o4-mini', messages: 'What is the answer to everything?', reasoning: { effort: 'medium', summary: true } }));
    expect(result.text).toBe('The answer is 42.');
    expect(result.reasoning).toContain('**Answering briefly**');
    expect(result.usage).toMatchObject({ prompt: 1187, completion: 214, cachedPrompt: 1024, reasoning: 192 });
  });
});

describe('choosing the wire per call', () => {
  it('openai() (chat) speaks Responses for a call with providerOptions { api: "responses" }, and the option is not sent', async () => {
    const r = await chat.chat({ model: MODEL, messages: 'hi', providerOptions: { api: 'responses' } });
    expect(emu.requests[0]!.path).toBe('/v1/responses');
    expect(body(0).api).toBeUndefined();
    expect(r.id).toBe('resp_emu1');
    const s = await collect(chat.chatStream({ model: MODEL, messages: 'hi', providerOptions: { api: 'responses' } }));
    expect(emu.requests[1]!.path).toBe('/v1/responses');
    expect(s.result.text).toBe('You said: hi');
  });

  it('openai({ api: "responses" }) speaks Chat Completions for a call with { api: "chat" }', async () => {
    const r = await responses.chat({ model: MODEL, messages: 'hi', providerOptions: { api: 'chat' } });
    expect(emu.requests[0]!.path).toBe('/v1/chat/completions');
    expect(body(0).api).toBeUndefined();
    expect(r.text).toBe('You said: hi');
    const s = await collect(responses.chatStream({ model: MODEL, messages: 'hi', providerOptions: { api: 'chat' } }));
    expect(emu.requests[1]!.path).toBe('/v1/chat/completions');
    expect(s.result.text).toBe('You said: hi');
  });

  it('rejects an unknown api value as a ConfigError, before sending', async () => {
    await expect(chat.chat({ model: MODEL, messages: 'hi', providerOptions: { api: 'completions' } })).rejects.toMatchObject({ name: 'ConfigError' });
    expect(emu.requests).toHaveLength(0);
  });
});

describe('the same conversation on the Chat and Responses wires', () => {
  /** Two turns: a tool call (with text before it), then the answer to the tool result. */
  async function conversation(fiber: Fiber, stream: boolean): Promise<ChatResult[]> {
    const call = (messages: Parameters<Fiber['chat']>[0]['messages']) => {
      const req = { model: MODEL, messages, tools: [weatherTool], maxTokens: 200 };
      return stream ? collect(fiber.chatStream(req)).then((s) => s.result) : fiber.chat(req);
    };
    emu.script({ provider: 'openai', text: 'Let me look that up.', toolCalls: [{ id: 'call_eq', name: 'get_weather', arguments: { city: 'Paris', unit: 'C' } }] });
    const history = [ChatMessage.system('You are a weather bot.'), ChatMessage.user('How warm is Paris today?')];
    const first = await call(history);
    emu.script({ provider: 'openai', text: 'It is 21 degrees in Paris.' });
    const second = await call([...history, first.message, ChatMessage.tool('call_eq', '{"temp":21}')]);
    return [first, second];
  }

  it.each([false, true])('gives equal normalized results (stream: %s)', async (stream) => {
    const onChat = await conversation(chat, stream);
    const onResponses = await conversation(responses, stream);
    expect(emu.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions', '/v1/responses', '/v1/responses']);
    expect(onResponses.map(normalized)).toEqual(onChat.map(normalized));
    expect(onResponses[0]!.toolCalls).toEqual(onChat[0]!.toolCalls);
    expect(onResponses[0]!.finishReason).toBe('tool_calls');
    expect(onResponses[1]!.text).toBe('It is 21 degrees in Paris.');
  });

  it('gives equal stream event sequences', async () => {
    const kinds = async (fiber: Fiber) => {
      emu.script({ provider: 'openai', text: 'Looking it up.', toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
      const { events } = await collect(fiber.chatStream({ model: MODEL, messages: 'Weather in Oslo?', tools: [weatherTool] }));
      return events.map((e) => (e.type === 'chunk' ? `chunk:${e.delta}` : e.type));
    };
    expect(await kinds(responses)).toEqual(await kinds(chat));
  });
});
