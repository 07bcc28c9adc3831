import { describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import { prepareResponses } from '../../../providers/openai/responses/prepare.js';
import { BadRequestError, ConfigError } from '../../../src/errors.js';
import type { ChatMessage, NormalizedRequest, ProviderEnv } from '../../../src/types.js';

const ENV: ProviderEnv = { apiKey: 'sk-test', baseUrl: 'https://api.openai.com/v1', headers: { 'x-org': 'o' } };

function req(messages: ChatMessage[], extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'o4-mini', messages, stream: false, ...extra };
}

function bodyOf(r: NormalizedRequest): Record<string, any> {
  return JSON.parse(prepareResponses(r, ENV).body);
}

describe('prepareResponses', () => {
  it('posts to {baseUrl}/responses with bearer auth, provider headers, then call headers', () => {
    const wire = prepareResponses(req([{ role: 'user', content: 'hi' }], { headers: { 'x-org': 'call' } }), ENV);
    expect(wire.method).toBe('POST');
    expect(wire.url).toBe('https://api.openai.com/v1/responses');
    expect(wire.headers).toEqual({ 'content-type': 'application/json', authorization: 'Bearer sk-test', 'x-org': 'call' });
    const noKey = prepareResponses(req([{ role: 'user', content: 'hi' }]), { ...ENV, apiKey: undefined });
    expect(noKey.headers.authorization).toBeUndefined();
  });

  it('moves leading system turns to instructions and keeps later ones as system input messages', () => {
    const body = bodyOf(req([
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: [{ type: 'text', text: 'Use metric.' }] },
      { role: 'user', content: 'hi' },
      { role: 'system', content: 'Now be verbose.' },
    ]));
    expect(body.instructions).toBe('Be brief.\n\nUse metric.');
    expect(body.input).toEqual([{ role: 'user', content: 'hi' }, { role: 'system', content: 'Now be verbose.' }]);
    expect(body.store).toBe(false);
    expect(body.stream).toBeUndefined();
  });

  it('maps user parts to input_text / input_image and drops names', () => {
    const body = bodyOf(req([{
      role: 'user',
      name: 'ann',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image', url: 'https://example.com/cat.png' },
        { type: 'image', data: 'AAAA', mediaType: 'image/png' },
      ],
    }]));
    expect(body.input).toEqual([{
      role: 'user',
      content: [
        { type: 'input_text', text: 'What is this?' },
        { type: 'input_image', image_url: 'https://example.com/cat.png' },
        { type: 'input_image', image_url: 'data:image/png;base64,AAAA' },
      ],
    }]);
  });

  it('maps assistant tool calls to function_call items and tool turns to function_call_output', () => {
    const body = bodyOf(req([
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: 'Checking.', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Rome' } }, { id: 'call_2', name: 'noop', arguments: {} }] },
      { role: 'tool', toolCallId: 'call_1', content: 'sunny' },
      { role: 'tool', toolCallId: 'call_2', content: [{ type: 'text', text: 'o' }, { type: 'text', text: 'k' }] },
    ]));
    expect(body.input).toEqual([
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Rome"}' },
      { type: 'function_call', call_id: 'call_2', name: 'noop', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
      { type: 'function_call_output', call_id: 'call_2', output: 'ok' },
    ]);
  });

  it('replays kept items in order, attaching kept ids to the message and calls they name', () => {
    const assistant: ChatMessage = {
      role: 'assistant',
      content: 'Let me check.',
      toolCalls: [{ id: 'call_a', name: 'f', arguments: { x: 1 } }, { id: 'call_b', name: 'f', arguments: { x: 2 } }],
      providerData: {
        openaiResponses: {
          items: [
            { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'enc' },
            { type: 'message', id: 'msg_1' },
            { type: 'function_call', id: 'fc_b', call_id: 'call_b' },
            { type: 'function_call', id: 'fc_gone', call_id: 'call_removed' },
            { type: 'bogus' },
            null,
          ],
        },
      },
    };
    expect(bodyOf(req([{ role: 'user', content: 'go' }, assistant])).input).toEqual([
      { role: 'user', content: 'go' },
      { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'enc' },
      { role: 'assistant', id: 'msg_1', content: [{ type: 'output_text', text: 'Let me check.' }] },
      { type: 'function_call', id: 'fc_b', call_id: 'call_b', name: 'f', arguments: '{"x":2}' },
      { type: 'function_call', call_id: 'call_a', name: 'f', arguments: '{"x":1}' },
    ]);
  });

  it('ignores malformed provider data', () => {
    const m: ChatMessage = { role: 'assistant', content: 'hi', providerData: { openaiResponses: 'nope', anthropic: {} } };
    expect(bodyOf(req([m])).input).toEqual([{ role: 'assistant', content: [{ type: 'output_text', text: 'hi' }] }]);
  });

  it('maps tools (strict: false), tool choice, max tokens and temperature', () => {
    const body = bodyOf(req([{ role: 'user', content: 'hi' }], {
      tools: [{ name: 'f', description: 'does f', parameters: { type: 'object' } }, { name: 'g' }],
      toolChoice: { name: 'f' },
      maxTokens: 99,
      temperature: 0,
    }));
    expect(body.tools).toEqual([
      { type: 'function', name: 'f', description: 'does f', parameters: { type: 'object' }, strict: false },
      { type: 'function', name: 'g', strict: false },
    ]);
    expect(body.tool_choice).toEqual({ type: 'function', name: 'f' });
    expect(body.max_output_tokens).toBe(99);
    expect(body.temperature).toBe(0);
    expect(bodyOf(req([{ role: 'user', content: 'hi' }], { toolChoice: 'required' })).tool_choice).toBe('required');
  });

  it('maps reasoning to effort and summary, and asks for encrypted reasoning while store is false', () => {
    const body = bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { effort: 'high', summary: true }, stream: true }));
    expect(body.reasoning).toEqual({ effort: 'high', summary: 'auto' });
    expect(body.include).toEqual(['reasoning.encrypted_content']);
    expect(body.stream).toBe(true);
    expect(bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { effort: 'none' } }))).not.toHaveProperty('include');
    expect(bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { summary: false } }))).not.toHaveProperty('reasoning');
    // No reasoning asked for: no include (the API rejects it for models that do not reason).
    expect(bodyOf(req([{ role: 'user', content: 'hi' }]))).not.toHaveProperty('include');
  });

  it('merges providerOptions last, without `api` or prototype keys', () => {
    const options = JSON.parse('{"api":"responses","store":true,"previous_response_id":"resp_1","__proto__":{"x":1}}');
    const body = bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { effort: 'low' }, providerOptions: options }));
    expect(body.store).toBe(true);
    expect(body.previous_response_id).toBe('resp_1');
    expect(body).not.toHaveProperty('api');
    expect(body).not.toHaveProperty('include');
    expect(Object.prototype.hasOwnProperty.call(body, '__proto__')).toBe(false);
    const own = bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { effort: 'low' }, providerOptions: { include: ['message.output_text.logprobs'] } }));
    expect(own.include).toEqual(['message.output_text.logprobs']);
  });

  it('rejects what the Responses API does not take, before sending', () => {
    expect(() => prepareResponses(req([{ role: 'user', content: 'hi' }], { seed: 1 }), ENV)).toThrow(BadRequestError);
    expect(() => prepareResponses(req([{ role: 'user', content: 'hi' }], { stop: ['\n'] }), ENV)).toThrow(/stop/);
    expect(() => prepareResponses(req([{ role: 'assistant', content: [{ type: 'image', url: 'https://x/y.png' }] }]), ENV)).toThrow(BadRequestError);
    expect(() => prepareResponses(req([{ role: 'user', content: [{ type: 'audio', data: 'AA', mediaType: 'audio/wav' }] }]), ENV)).toThrow(/audio/);
  });

  it('maps file parts to input_file: a URL as file_url, bytes as file_data with a filename', () => {
    const body = bodyOf(req([{
      role: 'user',
      content: [
        { type: 'file', url: 'https://example.com/report.pdf' },
        { type: 'file', data: 'JVBERi0=', mediaType: 'application/pdf' },
        { type: 'file', url: 'data:application/pdf;base64,JVBERi0=' },
      ],
    }]));
    expect(body.input[0].content).toEqual([
      { type: 'input_file', file_url: 'https://example.com/report.pdf' },
      { type: 'input_file', filename: 'file-1.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
      { type: 'input_file', filename: 'file-2.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
    ]);
  });
});

describe('the adapter picks the wire per call', () => {
  const chatAdapter = openai();
  const responsesAdapter = openai({ api: 'responses' });
  const base = req([{ role: 'user', content: 'hi' }]);

  it('by providerOptions.api in prepare, never sending the option', () => {
    expect(chatAdapter.prepare(base, ENV).url).toBe('https://api.openai.com/v1/chat/completions');
    expect(responsesAdapter.prepare(base, ENV).url).toBe('https://api.openai.com/v1/responses');
    const toResponses = chatAdapter.prepare({ ...base, providerOptions: { api: 'responses', user: 'u' } }, ENV);
    expect(toResponses.url).toBe('https://api.openai.com/v1/responses');
    expect(JSON.parse(toResponses.body)).toMatchObject({ user: 'u' });
    const toChat = responsesAdapter.prepare({ ...base, providerOptions: { api: 'chat', user: 'u' } }, ENV);
    expect(toChat.url).toBe('https://api.openai.com/v1/chat/completions');
    expect(JSON.parse(toChat.body)).not.toHaveProperty('api');
    expect(JSON.parse(toChat.body)).toMatchObject({ user: 'u' });
    expect(() => chatAdapter.prepare({ ...base, providerOptions: { api: 'assistants' } }, ENV)).toThrow(ConfigError);
  });

  it('by the body in parse, and by the request in stream', () => {
    const res = { status: 200, header: () => undefined, requestId: undefined, provider: 'openai', model: 'm' };
    expect(chatAdapter.parse({ object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: 'R' }] }] }, res).text).toBe('R');
    expect(responsesAdapter.parse({ object: 'chat.completion', choices: [{ message: { content: 'C' }, finish_reason: 'stop' }] }, res).text).toBe('C');
    expect(responsesAdapter.parse({ output: [{ type: 'message', content: [{ type: 'output_text', text: 'R2' }] }], status: 'completed' }, res).text).toBe('R2');
    expect(chatAdapter.stream(res, { ...base, providerOptions: { api: 'responses' } }).constructor.name).toBe('ResponsesStreamDecoder');
    expect(responsesAdapter.stream(res, base).constructor.name).toBe('ResponsesStreamDecoder');
    expect(responsesAdapter.stream(res, { ...base, providerOptions: { api: 'chat' } }).constructor.name).toBe('OpenAIStreamDecoder');
  });
});
