import { describe, expect, it } from 'vitest';
import { prepareGenerateContent } from '../../../providers/gemini/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv } from '../../../src/types.js';
import { thrown } from '../../helpers/conformance.js';

const KEY = 'AIza-test-canary-0123456789abcdef';
const env: ProviderEnv = { apiKey: KEY, baseUrl: 'https://generativelanguage.googleapis.com', headers: {} };

function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
}

function body(r: NormalizedRequest, e: ProviderEnv = env): Record<string, any> {
  return JSON.parse(prepareGenerateContent(r, e).body);
}

describe('prepareGenerateContent', () => {
  it('posts to {baseUrl}/v1beta/models/{model}:generateContent with a JSON body', () => {
    const wire = prepareGenerateContent(req(), env);
    expect(wire.method).toBe('POST');
    expect(wire.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
    expect(JSON.parse(wire.body)).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] });
  });

  it('streams from :streamGenerateContent?alt=sse', () => {
    expect(prepareGenerateContent(req({ stream: true }), env).url).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
  });

  it('takes the API version, drops a models/ prefix and encodes the model name', () => {
    expect(prepareGenerateContent(req({ model: 'models/gemini-2.0-flash' }), env, 'gemini', 'v1').url).toBe(
      'https://generativelanguage.googleapis.com/v1/models/gemini-2.0-flash:generateContent',
    );
    expect(prepareGenerateContent(req({ model: 'my model?x=1#y' }), env).url).toBe(
      'https://generativelanguage.googleapis.com/v1beta/models/my%20model%3Fx%3D1%23y:generateContent',
    );
  });

  it('sends the key in x-goog-api-key only, never in the URL or body', () => {
    for (const stream of [false, true]) {
      const wire = prepareGenerateContent(req({ stream }), env);
      expect(wire.headers['x-goog-api-key']).toBe(KEY);
      expect(wire.url).not.toContain(KEY);
      expect(wire.url).not.toContain('key=');
      expect(wire.body).not.toContain(KEY);
      expect(Object.entries(wire.headers).filter(([, v]) => v.includes(KEY)).map(([k]) => k)).toEqual(['x-goog-api-key']);
    }
  });

  it('sends content-type, then provider and call headers over it', () => {
    const wire = prepareGenerateContent(req({ headers: { 'x-call': 'c', 'x-both': 'call' } }), { ...env, headers: { 'x-env': 'e', 'x-both': 'env' } });
    expect(wire.headers).toEqual({ 'content-type': 'application/json', 'x-goog-api-key': KEY, 'x-env': 'e', 'x-call': 'c', 'x-both': 'call' });
  });

  it('sends no key header when no key is set', () => {
    expect(prepareGenerateContent(req(), { ...env, apiKey: undefined }).headers).toEqual({ 'content-type': 'application/json' });
    expect(prepareGenerateContent(req(), { ...env, apiKey: '' }).headers).not.toHaveProperty('x-goog-api-key');
  });

  it('maps the sampling options into generationConfig and omits it when none is set', () => {
    expect(body(req({ temperature: 0.2, maxTokens: 64, seed: 7, stop: ['END'] })).generationConfig).toEqual({
      temperature: 0.2,
      maxOutputTokens: 64,
      seed: 7,
      stopSequences: ['END'],
    });
    expect(Object.keys(body(req({ temperature: undefined })))).toEqual(['contents']);
  });

  it('maps reasoning to thinkingConfig', () => {
    expect(body(req({ reasoning: { budgetTokens: 1024, summary: true } })).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } });
    expect(body(req({ reasoning: { effort: 'none' } })).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 0 } });
    // Gemini 2.5 takes a budget, Gemini 3 a level (test/providers/gemini/reasoning-files.test.ts has the full rules).
    expect(body(req({ reasoning: { effort: 'high' } })).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 24576 } });
    expect(body(req({ model: 'gemini-3-pro-preview', reasoning: { effort: 'high' } })).generationConfig).toEqual({ thinkingConfig: { thinkingLevel: 'high' } });
    expect(body(req({ reasoning: {} }))).not.toHaveProperty('generationConfig');
  });

  it('hoists system messages into systemInstruction, one part each', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
    ];
    const b = body(req({ messages }));
    expect(b.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] });
    expect(b.contents).toEqual([{ role: 'user', parts: [{ text: 'Hi' }] }]);
  });

  it('maps roles (assistant → model), tool calls to functionCall and tool results to functionResponse named by the call', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris and Tokyo?' },
      {
        role: 'assistant',
        content: 'Looking.',
        toolCalls: [
          { id: 'call_0', name: 'get_weather', arguments: { city: 'Paris' } },
          { id: 'call_1', name: 'get_time', arguments: { city: 'Tokyo' } },
        ],
      },
      { role: 'tool', content: '{"temp":21}', toolCallId: 'call_0' },
      { role: 'tool', content: '09:00', toolCallId: 'call_1' },
      { role: 'assistant', content: 'It is 21°C in Paris; 09:00 in Tokyo.' },
    ];
    expect(body(req({ messages })).contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris and Tokyo?' }] },
      {
        role: 'model',
        parts: [
          { text: 'Looking.' },
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_time', args: { city: 'Tokyo' } } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { result: '{"temp":21}' } } },
          { functionResponse: { name: 'get_time', response: { result: '09:00' } } },
        ],
      },
      { role: 'model', parts: [{ text: 'It is 21°C in Paris; 09:00 in Tokyo.' }] },
    ]);
  });

  it('sends ids that Gemini or another provider gave, but not our synthesized call_<n>', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_abc123', name: 'a', arguments: {} }, { id: 'call_7', name: 'b', arguments: {} }] },
      { role: 'tool', content: '1', toolCallId: 'call_abc123' },
      { role: 'tool', content: '2', toolCallId: 'call_7' },
    ];
    const contents = body(req({ messages })).contents;
    expect(contents[1]).toEqual({ role: 'model', parts: [{ functionCall: { id: 'call_abc123', name: 'a', args: {} } }, { functionCall: { name: 'b', args: {} } }] });
    expect(contents[2].parts).toEqual([
      { functionResponse: { id: 'call_abc123', name: 'a', response: { result: '1' } } },
      { functionResponse: { name: 'b', response: { result: '2' } } },
    ]);
  });

  it('looks the function name up in the latest earlier assistant turn (call_0 repeats across responses)', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'first', arguments: {} }] },
      { role: 'tool', content: 'r1', toolCallId: 'call_0' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'second', arguments: {} }] },
      { role: 'tool', content: 'r2', toolCallId: 'call_0' },
    ];
    const contents = body(req({ messages })).contents;
    expect(contents[2].parts[0].functionResponse.name).toBe('first');
    expect(contents[4].parts[0].functionResponse.name).toBe('second');
  });

  it("falls back to the tool message's name, and otherwise rejects an unknown call id with BadRequestError", () => {
    const named: ChatMessage[] = [{ role: 'tool', content: 'r', toolCallId: 'zz', name: 'lookup' }];
    expect(body(req({ messages: named })).contents[0].parts[0]).toEqual({ functionResponse: { id: 'zz', name: 'lookup', response: { result: 'r' } } });
    const err = thrown(() => prepareGenerateContent(req({ messages: [{ role: 'tool', content: 'r', toolCallId: 'call_9' }] }), env));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ code: 'unknown_tool_call', retryable: false, provider: 'gemini' });
    expect(err.message).toContain("'call_9'");
  });

  it('merges consecutive turns of the same role', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'c' },
      { role: 'assistant', content: '' },
      { role: 'assistant', content: 'd' },
      { role: 'user', content: 'e' },
    ];
    expect(body(req({ messages })).contents).toEqual([
      { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
      { role: 'model', parts: [{ text: 'c' }, { text: 'd' }] },
      { role: 'user', parts: [{ text: 'e' }] },
    ]);
  });

  it('sends providerData.gemini.parts back verbatim (thought signatures) instead of rebuilding the turn', () => {
    const parts = [
      { text: 'thinking…', thought: true },
      { functionCall: { name: 'weather', args: { location: 'SF' } }, thoughtSignature: 'EskgCsYgAb4+sig' },
    ];
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'weather', arguments: { location: 'SF' } }], providerData: { gemini: { parts } } },
      { role: 'tool', content: 'sunny', toolCallId: 'call_0' },
    ];
    const contents = body(req({ messages })).contents;
    expect(contents[1]).toEqual({ role: 'model', parts });
    expect(contents[2].parts).toEqual([{ functionResponse: { name: 'weather', response: { result: 'sunny' } } }]);
  });

  it('ignores providerData of other providers', () => {
    const messages: ChatMessage[] = [{ role: 'assistant', content: 'hi', providerData: { anthropic: { blocks: [] } } }];
    expect(body(req({ messages })).contents).toEqual([{ role: 'model', parts: [{ text: 'hi' }] }]);
  });

  it('maps text and image parts: base64 → inlineData, URL → fileData with a media type', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
          { type: 'image', url: 'https://example.com/cat.PNG?size=2#x' },
          { type: 'image', url: 'https://example.com/photo' },
          { type: 'image', url: 'https://example.com/a.webp', mediaType: 'image/heic' },
          { type: 'image', url: 'data:image/gif;base64,R0lGOD' },
        ],
      },
    ];
    expect(body(req({ messages })).contents[0].parts).toEqual([
      { text: 'What is this?' },
      { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
      { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.PNG?size=2#x' } },
      { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photo' } },
      { fileData: { mimeType: 'image/heic', fileUri: 'https://example.com/a.webp' } },
      { inlineData: { mimeType: 'image/gif', data: 'R0lGOD' } },
    ]);
  });

  it.each(['file', 'audio'] as const)('rejects a %s part with BadRequestError naming the type', (type) => {
    const part = { type, data: 'AAAA', mediaType: 'application/octet-stream' } as ContentPart;
    const err = thrown(() => prepareGenerateContent(req({ messages: [{ role: 'user', content: [part] }] }), env));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain(`'${type}'`);
    expect((err as BadRequestError).retryable).toBe(false);
  });

  it('rejects an image in a system message', () => {
    const messages: ChatMessage[] = [{ role: 'system', content: [{ type: 'image', url: 'https://example.com/a.png' }] }];
    expect(thrown(() => prepareGenerateContent(req({ messages }), env))).toBeInstanceOf(BadRequestError);
  });

  it('maps tools to one functionDeclarations entry and every tool choice to toolConfig', () => {
    const tools = [
      { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'noop' },
    ];
    expect(body(req({ tools })).tools).toEqual([{ functionDeclarations: [tools[0], { name: 'noop' }] }]);
    expect(body(req({ tools })).toolConfig).toBeUndefined();
    expect(body(req({ tools, toolChoice: 'auto' })).toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(body(req({ tools, toolChoice: 'none' })).toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(body(req({ tools, toolChoice: 'required' })).toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(body(req({ tools, toolChoice: { name: 'noop' } })).toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['noop'] } });
    expect(body(req({ tools: [] }))).not.toHaveProperty('tools');
  });

  it('merges providerOptions last: objects one level deep, anything else replaced', () => {
    const b = body(req({ temperature: 1, maxTokens: 5, providerOptions: { generationConfig: { temperature: 0, topK: 3 }, safetySettings: [{ category: 'X', threshold: 'BLOCK_NONE' }], cachedContent: 'c/1' } }));
    expect(b.generationConfig).toEqual({ temperature: 0, maxOutputTokens: 5, topK: 3 });
    expect(b.safetySettings).toEqual([{ category: 'X', threshold: 'BLOCK_NONE' }]);
    expect(b.cachedContent).toBe('c/1');
    expect(body(req({ providerOptions: { contents: [] } })).contents).toEqual([]);
  });

  it('skips prototype-polluting providerOptions keys, also inside merged objects', () => {
    const providerOptions = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"x": 1}, "prototype": 1, "ok": 1, "generationConfig": {"__proto__": {"polluted": true}, "topP": 0.5}}');
    const wire = prepareGenerateContent(req({ temperature: 1, providerOptions }), env);
    const b = JSON.parse(wire.body);
    expect(b.ok).toBe(1);
    expect(b.generationConfig).toEqual({ temperature: 1, topP: 0.5 });
    expect(Object.keys(b)).not.toContain('constructor');
    expect(Object.keys(b)).not.toContain('prototype');
    expect(wire.body).not.toContain('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not mutate the caller messages or providerData', () => {
    const parts = [{ text: 'a', thoughtSignature: 'sig' }];
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'a', providerData: { gemini: { parts } } },
      { role: 'assistant', content: 'more' },
      { role: 'tool', content: 'r', toolCallId: 'x', name: 'n' },
      { role: 'user', content: 'again' },
    ];
    const before = structuredClone(messages);
    const contents = body(req({ messages })).contents;
    expect(contents[1].parts).toEqual([{ text: 'a', thoughtSignature: 'sig' }, { text: 'more' }]);
    expect(messages).toEqual(before);
  });
});
