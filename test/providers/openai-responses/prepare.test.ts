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
    // 'none' turns reasoning off (gpt-5.1 takes it; the o-series does not, see below): no include.
    expect(bodyOf(req([{ role: 'user', content: 'hi' }], { model: 'gpt-5.1', reasoning: { effort: 'none' } }))).not.toHaveProperty('include');
    expect(bodyOf(req([{ role: 'user', content: 'hi' }], { reasoning: { summary: false } }))).not.toHaveProperty('reasoning');
    // No reasoning asked for: no include (the API rejects it for models that do not reason).
    expect(bodyOf(req([{ role: 'user', content: 'hi' }]))).not.toHaveProperty('include');
  });

  it('checks reasoning by the Chat wire\'s rules before sending', () => {
    const hi: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    const error = (r: NormalizedRequest): BadRequestError => {
      try {
        prepareResponses(r, ENV);
      } catch (e) {
        expect(e).toBeInstanceOf(BadRequestError);
        return e as BadRequestError;
      }
      throw new Error('expected BadRequestError');
    };
    // Reasoning families (o-series, gpt-5, fine-tunes of them) take an effort.
    expect(bodyOf(req(hi, { model: 'gpt-5-mini', reasoning: { effort: 'minimal' } })).reasoning).toEqual({ effort: 'minimal' });
    expect(bodyOf(req(hi, { model: 'ft:o4-mini:acme::x', reasoning: { effort: 'high' } })).reasoning).toEqual({ effort: 'high' });
    // Another model: an effort is refused before sending, 'none' is dropped with everything that came with it.
    const gpt4o = error(req(hi, { model: 'gpt-4o', reasoning: { effort: 'low' } }));
    expect(gpt4o).toMatchObject({ code: 'unsupported_option', retryable: false, provider: 'openai', model: 'gpt-4o' });
    expect(gpt4o.message).toBe('openai gpt-4o: reasoning.effort is not supported: only reasoning models (the o-series and the gpt-5 family) take a reasoning effort');
    const dropped = bodyOf(req(hi, { model: 'gpt-4o', reasoning: { effort: 'none', summary: true } }));
    expect(dropped).not.toHaveProperty('reasoning');
    expect(dropped).not.toHaveProperty('include');
    expect(bodyOf(req(hi, { model: 'gpt-4.1', reasoning: { summary: true } }))).not.toHaveProperty('include');
    // The o-series takes low/medium/high only.
    expect(error(req(hi, { model: 'o4-mini', reasoning: { effort: 'none' } })).message).toContain("reasoning.effort 'none'");
    expect(error(req(hi, { model: 'o3', reasoning: { effort: 'minimal' } })).code).toBe('unsupported_option');
    // A budget alone has no OpenAI equivalent: refused, so it never asks for encrypted reasoning; beside an effort it is ignored.
    expect(error(req(hi, { reasoning: { budgetTokens: 4000 } })).message).toContain('reasoning.budgetTokens');
    expect(error(req(hi, { model: 'gpt-4o', reasoning: { budgetTokens: 4000, summary: true } })).message).toContain('reasoning.budgetTokens');
    const both = bodyOf(req(hi, { reasoning: { effort: 'medium', budgetTokens: 8000 } }));
    expect(both.reasoning).toEqual({ effort: 'medium' });
    expect(both.include).toEqual(['reasoning.encrypted_content']);
    // Summaries alone on a reasoning model: reasoning is sent, so its items are asked for.
    expect(bodyOf(req(hi, { reasoning: { summary: true } }))).toMatchObject({ reasoning: { summary: 'auto' }, include: ['reasoning.encrypted_content'] });
    expect(bodyOf(req(hi, { reasoning: {} }))).not.toHaveProperty('include');
  });

  it('limits inline file bytes per request as the Chat wire does, URLs not counted', () => {
    const mib = (n: number) => 'A'.repeat(Math.ceil((n * 1024 * 1024) / 3) * 4);
    const file = (data: string) => ({ type: 'file' as const, data, mediaType: 'application/pdf' });
    // 16 + 16 MiB fits (with a fetched URL beside it), one byte more does not.
    const fits = bodyOf(req([{ role: 'user', content: [file(mib(16)), { type: 'file', url: 'https://example.com/huge.pdf' }] }, { role: 'user', content: [{ type: 'file', url: `data:application/pdf;base64,${mib(15.9)}` }] }]));
    expect(fits.input).toHaveLength(2);
    let err: unknown;
    try {
      prepareResponses(req([
        { role: 'user', content: [{ type: 'text', text: 'read these' }, file(mib(20))] },
        { role: 'tool', toolCallId: 'call_1', content: [{ type: 'file', url: `data:application/pdf;base64,${mib(13)}` }] },
      ]), ENV);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ code: 'content_too_large', retryable: false, provider: 'openai', model: 'o4-mini' });
    expect((err as Error).message).toBe("openai o4-mini: content part 'file' (messages[1].content[0]) brings the request's files to 33.0 MB, over OpenAI's 32.0 MB per request");
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
