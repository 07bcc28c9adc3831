import { describe, expect, it } from 'vitest';
import { prepareChat } from '../../../providers/openai/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv } from '../../../src/types.js';
import { expectSkipsPollutingProviderOptions } from '../../helpers/conformance.js';

const env: ProviderEnv = { apiKey: 'sk-test-canary-0123456789', baseUrl: 'https://api.openai.com/v1', headers: {} };

function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
}

function body(r: NormalizedRequest, e: ProviderEnv = env): Record<string, any> {
  return JSON.parse(prepareChat(r, e).body);
}

describe('prepareChat', () => {
  it('posts to {baseUrl}/chat/completions with a JSON body', () => {
    const wire = prepareChat(req(), env);
    expect(wire.method).toBe('POST');
    expect(wire.url).toBe('https://api.openai.com/v1/chat/completions');
    expect(JSON.parse(wire.body)).toEqual({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] });
  });

  it('sends content-type and a bearer authorization header, then provider and call headers over them', () => {
    const wire = prepareChat(req({ headers: { 'x-call': 'c', 'x-both': 'call' } }), { ...env, headers: { 'x-env': 'e', 'x-both': 'env' } });
    expect(wire.headers).toEqual({
      'content-type': 'application/json',
      authorization: 'Bearer sk-test-canary-0123456789',
      'x-env': 'e',
      'x-call': 'c',
      'x-both': 'call',
    });
  });

  it('sends no authorization header when no key is set', () => {
    expect(prepareChat(req(), { ...env, apiKey: undefined }).headers).toEqual({ 'content-type': 'application/json' });
    expect(prepareChat(req(), { ...env, apiKey: '' }).headers).not.toHaveProperty('authorization');
  });

  it('maps the sampling options and omits the ones not set', () => {
    expect(body(req({ temperature: 0.2, maxTokens: 64, seed: 7, stop: ['END'] }))).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0.2,
      max_completion_tokens: 64,
      seed: 7,
      stop: ['END'],
    });
    const b = body(req({ temperature: undefined }));
    expect(Object.keys(b)).toEqual(['model', 'messages']);
  });

  it('asks for usage in streams', () => {
    const b = body(req({ stream: true }));
    expect(b.stream).toBe(true);
    expect(b.stream_options).toEqual({ include_usage: true });
  });

  it('maps system, user, assistant tool calls and tool results', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?', name: 'alice' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }] },
      { role: 'tool', content: '{"temp":21}', toolCallId: 'call_1' },
      { role: 'assistant', content: 'It is 21°C.' },
    ];
    expect(body(req({ messages })).messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris?', name: 'alice' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      { role: 'assistant', content: 'It is 21°C.' },
    ]);
  });

  it('does not send providerData of a message', () => {
    const messages: ChatMessage[] = [{ role: 'assistant', content: 'hi', providerData: { secret: 1 } }];
    expect(body(req({ messages })).messages).toEqual([{ role: 'assistant', content: 'hi' }]);
  });

  it('maps text and image parts, base64 images as data URLs', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', url: 'https://example.com/cat.png' },
          { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
        ],
      },
    ];
    expect(body(req({ messages })).messages[0].content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    ]);
  });

  it.each(['file', 'audio'] as const)('rejects a %s part with BadRequestError naming the type', (type) => {
    const part = { type, data: 'AAAA', mediaType: 'application/octet-stream' } as ContentPart;
    const messages: ChatMessage[] = [{ role: 'user', content: [part] }];
    let thrown: unknown;
    try {
      prepareChat(req({ messages }), env);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BadRequestError);
    expect((thrown as Error).message).toContain(`'${type}'`);
    expect((thrown as BadRequestError).retryable).toBe(false);
  });

  it('maps tools and every tool choice form', () => {
    const tools = [
      { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'noop' },
    ];
    expect(body(req({ tools })).tools).toEqual([
      { type: 'function', function: tools[0] },
      { type: 'function', function: { name: 'noop' } },
    ]);
    expect(body(req({ tools, toolChoice: 'auto' })).tool_choice).toBe('auto');
    expect(body(req({ tools, toolChoice: 'none' })).tool_choice).toBe('none');
    expect(body(req({ tools, toolChoice: 'required' })).tool_choice).toBe('required');
    expect(body(req({ tools, toolChoice: { name: 'noop' } })).tool_choice).toEqual({ type: 'function', function: { name: 'noop' } });
  });

  it('merges providerOptions last, over the mapped fields', () => {
    const b = body(req({ temperature: 1, providerOptions: { temperature: 0, parallel_tool_calls: false, user: 'u1' } }));
    expect(b.temperature).toBe(0);
    expect(b.parallel_tool_calls).toBe(false);
    expect(b.user).toBe('u1');
  });

  it('skips prototype-polluting providerOptions keys', () => {
    expectSkipsPollutingProviderOptions((providerOptions) => prepareChat(req({ providerOptions }), env));
  });

  it('does not mutate the caller messages', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'n', arguments: {} }] },
    ];
    const before = structuredClone(messages);
    prepareChat(req({ messages }), env);
    expect(messages).toEqual(before);
  });

  it('puts the key in the authorization header only', () => {
    const wire = prepareChat(req(), env);
    expect(wire.body).not.toContain(env.apiKey);
    expect(wire.url).not.toContain(env.apiKey);
  });
});
