import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TOKENS, prepareMessages } from '../../../providers/anthropic/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv } from '../../../src/types.js';
import { expectSkipsPollutingProviderOptions, thrown } from '../../helpers/conformance.js';

const env: ProviderEnv = { apiKey: 'sk-ant-test-canary-0123456789', baseUrl: 'https://api.anthropic.com', headers: {} };

function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
}

function body(r: NormalizedRequest, e: ProviderEnv = env): Record<string, any> {
  return JSON.parse(prepareMessages(r, e).body);
}

describe('prepareMessages', () => {
  it('posts to {baseUrl}/v1/messages with model, max_tokens and messages', () => {
    const wire = prepareMessages(req(), env);
    expect(wire.method).toBe('POST');
    expect(wire.url).toBe('https://api.anthropic.com/v1/messages');
    expect(JSON.parse(wire.body)).toEqual({ model: 'claude-sonnet-4-5', max_tokens: 4096, messages: [{ role: 'user', content: 'Hello' }] });
  });

  it('defaults max_tokens to 4096 (the API requires it) and takes maxTokens or the adapter default over it', () => {
    expect(DEFAULT_MAX_TOKENS).toBe(4096);
    expect(body(req()).max_tokens).toBe(4096);
    expect(body(req({ maxTokens: 64 })).max_tokens).toBe(64);
    const wire = prepareMessages(req(), env, { name: 'anthropic', version: '2023-06-01', defaultMaxTokens: 1000 });
    expect(JSON.parse(wire.body).max_tokens).toBe(1000);
  });

  it('sends content-type, x-api-key and anthropic-version, then provider and call headers over them', () => {
    const wire = prepareMessages(req({ headers: { 'x-call': 'c', 'x-both': 'call' } }), { ...env, headers: { 'anthropic-beta': 'b1', 'x-both': 'env' } });
    expect(wire.headers).toEqual({
      'content-type': 'application/json',
      'x-api-key': 'sk-ant-test-canary-0123456789',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'b1',
      'x-call': 'c',
      'x-both': 'call',
    });
  });

  it('sends no x-api-key header when no key is set, and the configured version', () => {
    expect(prepareMessages(req(), { ...env, apiKey: undefined }).headers).toEqual({ 'content-type': 'application/json', 'anthropic-version': '2023-06-01' });
    expect(prepareMessages(req(), { ...env, apiKey: '' }).headers).not.toHaveProperty('x-api-key');
    const wire = prepareMessages(req(), env, { name: 'anthropic', version: '2099-01-01', defaultMaxTokens: 1 });
    expect(wire.headers['anthropic-version']).toBe('2099-01-01');
  });

  it('puts the key in the x-api-key header only', () => {
    const wire = prepareMessages(req(), env);
    expect(wire.body).not.toContain(env.apiKey);
    expect(wire.url).not.toContain(env.apiKey);
  });

  it('maps temperature and stop, sends stream: true when streaming, and no seed (the API has none)', () => {
    const b = body(req({ temperature: 0.2, stop: ['END'], seed: 7, stream: true }));
    expect(b).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0.2,
      stop_sequences: ['END'],
      stream: true,
    });
    expect(Object.keys(body(req()))).toEqual(['model', 'max_tokens', 'messages']);
  });

  it('hoists one system message to a system string', () => {
    const b = body(req({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] }));
    expect(b.system).toBe('Be brief.');
    expect(b.messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('hoists several system messages (and system text parts) to text blocks, wherever they are', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'system', content: [{ type: 'text', text: 'Use French.' }, { type: 'text', text: '' }] },
      { role: 'assistant', content: 'Salut' },
    ];
    const b = body(req({ messages }));
    expect(b.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Use French.' },
    ]);
    expect(b.messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Salut' },
    ]);
  });

  it('sends no system for an empty system message', () => {
    expect(body(req({ messages: [{ role: 'system', content: '' }, { role: 'user', content: 'Hi' }] }))).not.toHaveProperty('system');
  });

  it('maps assistant tool calls to tool_use blocks and tool results to a user turn of tool_result blocks', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris and Tokyo?' },
      {
        role: 'assistant',
        content: 'Checking both.',
        toolCalls: [
          { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } },
          { id: 'toolu_2', name: 'get_weather', arguments: { city: 'Tokyo' } },
        ],
      },
      { role: 'tool', content: '{"temp":21}', toolCallId: 'toolu_1' },
      { role: 'tool', content: '{"temp":18}', toolCallId: 'toolu_2' },
      { role: 'assistant', content: 'Paris 21°C, Tokyo 18°C.' },
    ];
    expect(body(req({ messages })).messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Tokyo?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Tokyo' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp":21}' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '{"temp":18}' },
        ],
      },
      { role: 'assistant', content: 'Paris 21°C, Tokyo 18°C.' },
    ]);
  });

  it('leaves out the empty text of an assistant turn that only calls tools', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Go' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'noop', arguments: {} }] },
    ];
    expect(body(req({ messages })).messages[1]).toEqual({ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'noop', input: {} }] });
  });

  it('merges consecutive same-role turns, as the API requires alternation', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'First.' },
      { role: 'user', content: [{ type: 'text', text: 'Second.' }] },
      { role: 'assistant', content: 'A' },
      { role: 'assistant', content: 'B' },
      { role: 'tool', content: 'result', toolCallId: 'toolu_9' },
      { role: 'user', content: 'And now?' },
    ];
    expect(body(req({ messages })).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'First.' }, { type: 'text', text: 'Second.' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_9', content: 'result' },
          { type: 'text', text: 'And now?' },
        ],
      },
    ]);
  });

  it('sends providerData thinking blocks back verbatim, before the text', () => {
    const thinking = { type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCgIYAhIM' };
    const redacted = { type: 'redacted_thinking', data: 'EmwKAhgB' };
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: 'A', toolCalls: [{ id: 'toolu_1', name: 'f', arguments: { x: 1 } }], providerData: { anthropic: { blocks: [thinking, redacted] } } },
      { role: 'tool', content: 'ok', toolCallId: 'toolu_1' },
    ];
    expect(body(req({ messages })).messages[1].content).toEqual([
      thinking,
      redacted,
      { type: 'text', text: 'A' },
      { type: 'tool_use', id: 'toolu_1', name: 'f', input: { x: 1 } },
    ]);
  });

  it("ignores other providers' providerData", () => {
    const messages: ChatMessage[] = [{ role: 'assistant', content: 'hi', providerData: { gemini: { thoughtSignature: 'x' }, anthropic: 'nope' } }];
    expect(body(req({ messages })).messages).toEqual([{ role: 'assistant', content: [{ type: 'text', text: 'hi' }] }]);
  });

  it('maps image parts: URL → url source, base64 → base64 source, base64 data URL → base64 source', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', url: 'https://example.com/cat.png' },
          { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
          { type: 'image', url: 'data:image/jpeg;base64,/9j/4AAQ' },
        ],
      },
    ];
    expect(body(req({ messages })).messages[0].content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
    ]);
  });

  it('maps tool results with content parts, images included', () => {
    const messages: ChatMessage[] = [{ role: 'tool', toolCallId: 'toolu_1', content: [{ type: 'text', text: 'chart:' }, { type: 'image', data: 'AAAA', mediaType: 'image/png' }] }];
    expect(body(req({ messages })).messages).toEqual([
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'toolu_1',
            content: [
              { type: 'text', text: 'chart:' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
            ],
          },
        ],
      },
    ]);
  });

  it.each(['file', 'audio'] as const)('rejects a %s part with BadRequestError naming the type', (type) => {
    // A PDF file is a document block now (test/providers/anthropic/files-caching.test.ts); another type is not.
    const part = { type, data: 'AAAA', mediaType: 'application/octet-stream' } as ContentPart;
    const err = thrown(() => prepareMessages(req({ messages: [{ role: 'user', content: [part] }] }), env));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ code: 'unsupported_content_part', retryable: false, provider: 'anthropic', model: 'claude-sonnet-4-5' });
    expect((err as Error).message).toContain(`'${type}'`);
  });

  it('rejects images in assistant and system messages, and non-base64 data URLs', () => {
    const image: ContentPart = { type: 'image', url: 'https://example.com/x.png' };
    expect(() => prepareMessages(req({ messages: [{ role: 'assistant', content: [image] }] }), env)).toThrow(/assistant message/);
    expect(() => prepareMessages(req({ messages: [{ role: 'system', content: [image] }] }), env)).toThrow(/system message/);
    expect(() => prepareMessages(req({ messages: [{ role: 'user', content: [{ type: 'image', url: 'data:image/svg+xml,<svg/>' }] }] }), env)).toThrow(BadRequestError);
  });

  it('maps tools, with an empty object schema when parameters are absent', () => {
    const tools = [
      { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'noop' },
    ];
    expect(body(req({ tools })).tools).toEqual([
      { name: 'get_weather', description: 'Weather for a city', input_schema: tools[0]!.parameters },
      { name: 'noop', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body(req({ tools: [] }))).not.toHaveProperty('tools');
  });

  it('maps every tool choice form', () => {
    const tools = [{ name: 'noop' }];
    expect(body(req({ tools, toolChoice: 'auto' })).tool_choice).toEqual({ type: 'auto' });
    expect(body(req({ tools, toolChoice: 'required' })).tool_choice).toEqual({ type: 'any' });
    expect(body(req({ tools, toolChoice: 'none' })).tool_choice).toEqual({ type: 'none' });
    expect(body(req({ tools, toolChoice: { name: 'noop' } })).tool_choice).toEqual({ type: 'tool', name: 'noop' });
  });

  it('turns reasoning into extended thinking, adding the budget to the default max_tokens', () => {
    expect(body(req({ reasoning: { budgetTokens: 2000 } }))).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2000 }, max_tokens: 6096 });
    expect(body(req({ reasoning: { effort: 'medium' }, maxTokens: 20000 }))).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 8192 }, max_tokens: 20000 });
    expect(body(req({ reasoning: { effort: 'none', budgetTokens: 2000 } }))).not.toHaveProperty('thinking');
    expect(body(req({ reasoning: { summary: true } }))).not.toHaveProperty('thinking');
  });

  it('merges providerOptions last, over the mapped fields', () => {
    const b = body(req({ temperature: 1, providerOptions: { temperature: 0, top_k: 5, metadata: { user_id: 'u1' } } }));
    expect(b.temperature).toBe(0);
    expect(b.top_k).toBe(5);
    expect(b.metadata).toEqual({ user_id: 'u1' });
  });

  it('skips prototype-polluting providerOptions keys', () => {
    expectSkipsPollutingProviderOptions((providerOptions) => prepareMessages(req({ providerOptions }), env));
  });

  it('does not mutate the caller messages', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'S1' },
      { role: 'system', content: 'S2' },
      { role: 'user', content: 'Hi' },
      { role: 'user', content: [{ type: 'text', text: 'again' }] },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'n', arguments: {} }], providerData: { anthropic: { blocks: [{ type: 'thinking', thinking: 't', signature: 's' }] } } },
      { role: 'tool', content: 'r', toolCallId: 'c' },
    ];
    const before = structuredClone(messages);
    prepareMessages(req({ messages }), env);
    prepareMessages(req({ messages }), env);
    expect(messages).toEqual(before);
  });
});
