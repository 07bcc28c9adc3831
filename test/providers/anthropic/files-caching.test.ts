/**
 * Anthropic `document` blocks for file parts, the audio refusal, the request size limit, and the prompt-cache
 * breakpoint rule of `promptCache`.
 */
import { describe, expect, it } from 'vitest';
import { ANTHROPIC_MAX_REQUEST_BYTES, prepareMessages } from '../../../providers/anthropic/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import type { ChatMessage, ContentPart, NormalizedRequest, ProviderEnv } from '../../../src/types.js';

const env: ProviderEnv = { apiKey: 'sk-ant-test', baseUrl: 'https://api.anthropic.com', headers: {} };
const PDF = Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n').toString('base64');

function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
}
function body(r: NormalizedRequest): Record<string, any> {
  return JSON.parse(prepareMessages(r, env).body);
}
function user(...parts: ContentPart[]): NormalizedRequest {
  return req({ messages: [{ role: 'user', content: parts }] });
}
function error(r: NormalizedRequest): BadRequestError {
  try {
    prepareMessages(r, env);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('expected a BadRequestError');
}

describe('file and audio parts', () => {
  it('sends a base64 PDF, a PDF data URL and a PDF URL as document blocks', () => {
    const content = body(user(
      { type: 'text', text: 'Summarize these.' },
      { type: 'file', data: PDF, mediaType: 'application/pdf' },
      { type: 'file', url: `data:application/pdf;base64,${PDF}` },
      { type: 'file', url: 'https://example.com/report.pdf' },
      { type: 'file', url: 'https://example.com/doc', mediaType: 'application/pdf' },
    )).messages[0].content;
    expect(content).toEqual([
      { type: 'text', text: 'Summarize these.' },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } },
      { type: 'document', source: { type: 'url', url: 'https://example.com/report.pdf' } },
      { type: 'document', source: { type: 'url', url: 'https://example.com/doc' } },
    ]);
  });

  it('sends base64 plain text as a text document source', () => {
    const data = Buffer.from('Plain notes: ünïcödé.').toString('base64');
    expect(body(user({ type: 'file', data, mediaType: 'text/plain' })).messages[0].content).toEqual([
      { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Plain notes: ünïcödé.' } },
    ]);
  });

  it('refuses audio: the Messages API has no audio input', () => {
    const err = error(user({ type: 'text', text: 'Transcribe' }, { type: 'audio', data: 'UklGRg==', mediaType: 'audio/wav' }));
    expect(err).toMatchObject({ code: 'unsupported_content_part', provider: 'anthropic', model: 'claude-sonnet-4-5', retryable: false });
    expect(err.message).toContain("'audio' (messages[0].content[1])");
    expect(err.message).toContain('no audio input');
  });

  it('refuses other document types, non-PDF URLs, data in the wrong field and documents outside user turns', () => {
    expect(error(user({ type: 'file', data: 'AAAA', mediaType: 'application/vnd.ms-excel' })).message).toContain("media type 'application/vnd.ms-excel'");
    expect(error(user({ type: 'file', url: 'https://example.com/a.docx', mediaType: 'application/msword' })).message).toContain('PDF documents');
    expect(error(user({ type: 'file', data: `data:application/pdf;base64,${PDF}`, mediaType: 'application/pdf' })).message).toContain('data: URL in `data`');
    expect(error(user({ type: 'file', url: 'data:application/pdf,%25PDF' })).message).toContain('not base64');
    const tool: ChatMessage[] = [
      { role: 'assistant', content: '', toolCalls: [{ id: 't1', name: 'f', arguments: {} }] },
      { role: 'tool', toolCallId: 't1', content: [{ type: 'file', data: PDF, mediaType: 'application/pdf' }] },
    ];
    expect(error(req({ messages: [{ role: 'user', content: 'x' }, ...tool] })).message).toContain('tool result');
  });

  it('refuses more base64 than the 32 MB request limit, counting every document and image', () => {
    const half = 'A'.repeat(ANTHROPIC_MAX_REQUEST_BYTES / 2 + 4);
    const err = error(user({ type: 'file', data: half, mediaType: 'application/pdf' }, { type: 'image', data: half, mediaType: 'image/png' }));
    expect(err).toMatchObject({ code: 'content_too_large', retryable: false });
    expect(err.message).toContain("'image' (messages[0].content[1])");
    expect(err.message).toContain('32.0 MB');
    expect(() => prepareMessages(user({ type: 'file', data: half, mediaType: 'application/pdf' }), env)).not.toThrow();
  });
});

describe('promptCache breakpoints', () => {
  const tools = [{ name: 'a', parameters: { type: 'object' } }, { name: 'b' }];
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'a', arguments: {} }], providerData: { anthropic: { blocks: [{ type: 'thinking', thinking: 't', signature: 's' }] } } },
    { role: 'tool', toolCallId: 'toolu_1', content: '{"tempC":21}' },
    { role: 'assistant', content: 'It is 21°C.' },
    { role: 'user', content: 'And tomorrow?' },
  ];
  const EPHEMERAL = { type: 'ephemeral' };

  it("'auto': the last tool, the last system block and the last block of the second-to-last user turn", () => {
    const b = body(req({ tools, messages: conversation, promptCache: 'auto' }));
    expect(b.tools.map((t: any) => t.cache_control)).toEqual([undefined, EPHEMERAL]);
    expect(b.system).toEqual([{ type: 'text', text: 'You are terse.', cache_control: EPHEMERAL }]);
    expect(b.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'tool_use', id: 'toolu_1', name: 'a', input: {} }] },
      // The tool-result turn is the second-to-last user turn: the last stable one.
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"tempC":21}', cache_control: EPHEMERAL }] },
      { role: 'assistant', content: 'It is 21°C.' },
      // The new question is not written to the cache.
      { role: 'user', content: 'And tomorrow?' },
    ]);
    expect(JSON.stringify(b).split('cache_control').length - 1).toBe(3);
  });

  it('{ ttl } sets the TTL of every breakpoint; a string turn becomes a text block to carry it', () => {
    const b = body(req({ tools, messages: [['system', 'S'], ['user', 'Q1'], ['assistant', 'A1'], ['user', 'Q2']].map(([role, content]) => ({ role, content }) as ChatMessage), promptCache: { ttl: '1h' } }));
    const oneHour = { type: 'ephemeral', ttl: '1h' };
    expect(b.tools[1].cache_control).toEqual(oneHour);
    expect(b.system).toEqual([{ type: 'text', text: 'S', cache_control: oneHour }]);
    expect(b.messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'Q1', cache_control: oneHour }] });
    expect(b.messages[2]).toEqual({ role: 'user', content: 'Q2' });
  });

  it('marks the last of several system blocks and of a multi-part user turn', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'S1' },
      { role: 'system', content: 'S2' },
      { role: 'user', content: [{ type: 'text', text: 'Read this' }, { type: 'file', data: PDF, mediaType: 'application/pdf' }] },
      { role: 'assistant', content: 'Done.' },
      { role: 'user', content: 'Next?' },
    ];
    const b = body(req({ messages, promptCache: { ttl: '5m' } }));
    const fiveMin = { type: 'ephemeral', ttl: '5m' };
    expect(b.system).toEqual([{ type: 'text', text: 'S1' }, { type: 'text', text: 'S2', cache_control: fiveMin }]);
    expect(b.messages[0].content).toEqual([
      { type: 'text', text: 'Read this' },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF }, cache_control: fiveMin },
    ]);
  });

  it('places only what exists: a single user turn and no tools is the system prompt alone', () => {
    const b = body(req({ messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }], promptCache: 'auto' }));
    expect(b.system).toEqual([{ type: 'text', text: 'S', cache_control: EPHEMERAL }]);
    expect(b.messages).toEqual([{ role: 'user', content: 'Q' }]);
    expect(body(req({ promptCache: 'auto' }))).toEqual(body(req()));
  });

  it("'off' and no promptCache place nothing", () => {
    for (const promptCache of ['off', undefined] as const) {
      expect(JSON.stringify(body(req({ tools, messages: conversation, promptCache })))).not.toContain('cache_control');
    }
  });

  it('never touches the caller objects', () => {
    const messages = structuredClone(conversation);
    const toolsCopy = structuredClone(tools);
    body(req({ tools: toolsCopy, messages, promptCache: 'auto' }));
    expect(messages).toEqual(conversation);
    expect(toolsCopy).toEqual(tools);
  });
});
