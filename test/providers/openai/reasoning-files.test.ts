/**
 * OpenAI Chat Completions: `reasoning` → `reasoning_effort` with the model rules checked before sending,
 * OpenAI-compatible `reasoning_content` → reasoning (never text), file and audio parts, and the usage details.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openaiCompatible } from '../../../providers/openai-compatible/index.js';
import { parseChat } from '../../../providers/openai/parse.js';
import { OPENAI_DIALECT, OPENAI_MAX_FILE_BYTES, prepareChat } from '../../../providers/openai/prepare.js';
import { OpenAIStreamDecoder } from '../../../providers/openai/stream.js';
import { BadRequestError } from '../../../src/errors.js';
import { Fiber } from '../../../src/fiber.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';
import type { ContentPart, NormalizedRequest, ProviderEnv, ResponseInfo, StreamEvent } from '../../../src/types.js';
import { collect } from '../../helpers/core.js';
import { decodeSse, streamText } from '../../helpers/fixtures.js';

const env: ProviderEnv = { apiKey: 'sk-test', baseUrl: 'https://api.openai.com/v1', headers: {} };
const PDF = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n').toString('base64');

function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  return { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
}
function body(r: NormalizedRequest): Record<string, any> {
  return JSON.parse(prepareChat(r, env).body);
}
function error(r: NormalizedRequest): BadRequestError {
  try {
    prepareChat(r, env);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return err as BadRequestError;
  }
  throw new Error('expected a BadRequestError');
}
function user(model: string, ...parts: ContentPart[]): NormalizedRequest {
  return req({ model, messages: [{ role: 'user', content: parts }] });
}

describe('reasoning → reasoning_effort', () => {
  it('sends the effort to reasoning models: the gpt-5 family takes every level, the o-series low to high', () => {
    for (const effort of ['none', 'minimal', 'low', 'medium', 'high'] as const) expect(body(req({ reasoning: { effort } })).reasoning_effort).toBe(effort);
    for (const model of ['o1', 'o3-mini', 'o4-mini-2025-04-16', 'ft:o4-mini:acme::abc']) expect(body(req({ model, reasoning: { effort: 'high' } })).reasoning_effort).toBe('high');
    expect(body(req({ model: 'gpt-5.1', reasoning: { effort: 'none' } })).reasoning_effort).toBe('none');
  });

  it('uses the effort and ignores a budget beside it (one setting for every provider)', () => {
    expect(body(req({ reasoning: { effort: 'medium', budgetTokens: 8000 } })).reasoning_effort).toBe('medium');
  });

  it('refuses a budget alone, naming the model and the option', () => {
    const err = error(req({ reasoning: { budgetTokens: 4000 } }));
    expect(err).toMatchObject({ code: 'unsupported_option', provider: 'openai', model: 'gpt-5-mini', retryable: false });
    expect(err.message).toBe("openai gpt-5-mini: reasoning.budgetTokens is not supported: OpenAI takes no thinking budget; set reasoning.effort ('low', 'medium' or 'high') instead");
  });

  it('refuses an effort on a model that does not reason, and drops a harmless none there', () => {
    for (const model of ['gpt-4o-mini', 'gpt-4.1', 'chatgpt-4o-latest']) {
      const err = error(req({ model, reasoning: { effort: 'low' } }));
      expect(err.message).toContain(`openai ${model}: reasoning.effort is not supported`);
      expect(body(req({ model, reasoning: { effort: 'none' } }))).not.toHaveProperty('reasoning_effort');
    }
  });

  it("refuses 'minimal' and 'none' on the o-series", () => {
    expect(error(req({ model: 'o3', reasoning: { effort: 'minimal' } })).message).toContain("reasoning.effort 'minimal' is not supported: o-series models take 'low', 'medium' or 'high'");
    expect(error(req({ model: 'o4-mini', reasoning: { effort: 'none' } })).message).toContain("reasoning.effort 'none'");
  });

  it('treats summary as best effort: nothing to send on Chat Completions, no error', () => {
    expect(body(req({ reasoning: { summary: true } }))).not.toHaveProperty('reasoning_effort');
    expect(body(req({ model: 'gpt-4o', reasoning: { summary: true } }))).not.toHaveProperty('reasoning_effort');
  });

  it('passes the effort through untouched to OpenAI-compatible servers (their models, their rules)', () => {
    const dialect = { ...OPENAI_DIALECT, openaiRules: false };
    const sent = (r: NormalizedRequest) => JSON.parse(prepareChat(r, env, 'deepseek', dialect).body);
    expect(sent(req({ model: 'deepseek-reasoner', reasoning: { effort: 'minimal', budgetTokens: 10 } })).reasoning_effort).toBe('minimal');
    expect(sent(req({ model: 'qwen3', reasoning: { budgetTokens: 10 } }))).not.toHaveProperty('reasoning_effort');
  });

  it('leaves the request alone for promptCache: OpenAI caches automatically', () => {
    for (const promptCache of ['auto', 'off', { ttl: '1h' }] as const) expect(body(req({ promptCache }))).toEqual(body(req()));
  });
});

describe('reasoning_content from OpenAI-compatible servers', () => {
  const res: ResponseInfo = { status: 200, header: () => undefined, requestId: undefined, provider: 'deepseek', model: 'deepseek-reasoner' };

  it('parses reasoning_content (or reasoning) as reasoning, never text', () => {
    const completion = (message: Record<string, unknown>) => ({ id: 'c', model: 'm', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: 'stop' }] });
    expect(parseChat(completion({ content: 'Paris.', reasoning_content: 'The capital of France.' }), res)).toMatchObject({ text: 'Paris.', reasoning: 'The capital of France.' });
    expect(parseChat(completion({ content: 'Paris.', reasoning: 'Groq style.' }), res).reasoning).toBe('Groq style.');
    expect(parseChat(completion({ content: 'Paris.', reasoning_content: null }), res).reasoning).toBeNull();
  });

  it('streams reasoning deltas as reasoning events, in order, apart from chunks', () => {
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => `data: ${JSON.stringify({ id: 'c1', model: 'deepseek-reasoner', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const sse = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Think' }),
      chunk({ reasoning_content: 'ing.', content: null }),
      chunk({ reasoning_content: '', content: 'Answer' }),
      chunk({ reasoning: ' (also)' }),
      chunk({ content: '.' }, 'stop'),
      'data: [DONE]\n\n',
    ].join('');
    const run = decodeSse(new OpenAIStreamDecoder(res), [Buffer.from(sse)], res, '[DONE]');
    expect(run.events.map(({ t: _t, ...e }) => e)).toEqual([
      { type: 'reasoning', delta: 'Think' },
      { type: 'reasoning', delta: 'ing.' },
      { type: 'chunk', delta: 'Answer' },
      { type: 'reasoning', delta: ' (also)' },
      { type: 'chunk', delta: '.' },
    ]);
    expect(streamText(run.events)).toBe('Answer.');
    expect(run.outcome).toMatchObject({ reasoning: 'Thinking. (also)' });
  });

  it('delivers reasoning through a compatible adapter against the emulator', async () => {
    const emu = await startEmulator();
    const fiber = new Fiber({ providers: [openaiCompatible({ name: 'deepseek', baseUrl: emu.baseUrls.openai })], apiKeys: { deepseek: 'k' }, retry: false });
    try {
      emu.script({ provider: 'openai', reasoning: 'Counting letters.', text: 'Three.' });
      const { events } = await collect(fiber.chatStream({ model: 'deepseek:deepseek-reasoner', messages: 'How many r?' }));
      const result = (events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result;
      expect(result).toMatchObject({ text: 'Three.', reasoning: 'Counting letters.' });
      expect(events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta).join('')).toBe('Three.');
    } finally {
      await fiber.close();
      await emu.close();
    }
  });
});

describe('file and audio parts', () => {
  it('sends a PDF (base64 or data URL) as a file part with a filename', () => {
    const content = body(user('gpt-4o', { type: 'text', text: 'Summarize' }, { type: 'file', data: PDF, mediaType: 'application/pdf' }, { type: 'file', url: `data:application/pdf;base64,${PDF}` })).messages[0].content;
    expect(content).toEqual([
      { type: 'text', text: 'Summarize' },
      { type: 'file', file: { filename: 'document-1.pdf', file_data: `data:application/pdf;base64,${PDF}` } },
      { type: 'file', file: { filename: 'document-2.pdf', file_data: `data:application/pdf;base64,${PDF}` } },
    ]);
  });

  it('sends wav and mp3 as input_audio with the format from the media type', () => {
    const content = body(user('gpt-4o-audio-preview', { type: 'audio', data: 'UklGRg==', mediaType: 'audio/wav' }, { type: 'audio', data: 'SUQz', mediaType: 'audio/mpeg' })).messages[0].content;
    expect(content).toEqual([
      { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
      { type: 'input_audio', input_audio: { data: 'SUQz', format: 'mp3' } },
    ]);
  });

  it('refuses other audio formats and audio for a model that is not an audio model', () => {
    const ogg = error(user('gpt-audio', { type: 'audio', data: 'T2dnUw==', mediaType: 'audio/ogg' }));
    expect(ogg).toMatchObject({ code: 'unsupported_content_part', model: 'gpt-audio' });
    expect(ogg.message).toContain("openai gpt-audio: content part 'audio' (messages[0].content[0]) has media type 'audio/ogg'");
    expect(error(user('gpt-4o', { type: 'audio', data: 'UklGRg==', mediaType: 'audio/wav' })).message).toContain('needs an audio model');
  });

  it('refuses file URLs, non-PDF files and files outside user turns', () => {
    expect(error(user('gpt-4o', { type: 'file', url: 'https://example.com/a.pdf' })).message).toContain("use openai({ api: 'responses' })");
    expect(error(user('gpt-4o', { type: 'file', data: 'AAAA', mediaType: 'text/csv' })).message).toContain("media type 'text/csv'");
    const assistant = req({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: [{ type: 'file', data: PDF, mediaType: 'application/pdf' }] }] });
    expect(error(assistant).message).toContain("content part 'file' (messages[1].content[0]) is not supported in an assistant message");
  });

  it('refuses more than 32 MB of files per request (decoded), on OpenAI only', () => {
    const big = 'A'.repeat(Math.ceil((OPENAI_MAX_FILE_BYTES / 2 + 8) / 3) * 4);
    const two = user('gpt-4o', { type: 'file', data: big, mediaType: 'application/pdf' }, { type: 'file', data: big, mediaType: 'application/pdf' });
    const err = error(two);
    expect(err).toMatchObject({ code: 'content_too_large', retryable: false });
    expect(err.message).toContain("'file' (messages[0].content[1])");
    expect(() => prepareChat(user('gpt-4o', { type: 'file', data: big, mediaType: 'application/pdf' }), env)).not.toThrow();
    expect(() => prepareChat(two, env, 'vllm', { ...OPENAI_DIALECT, openaiRules: false })).not.toThrow();
  });
});

describe('usage details through the Fiber', () => {
  let emu: Emulator;
  let fiber: Fiber;
  beforeAll(async () => {
    emu = await startEmulator();
    fiber = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { openai: 'sk-test' }, retry: false });
  });
  afterAll(async () => {
    await fiber.close();
    await emu.close();
  });
  beforeEach(() => emu.reset());

  it('reports cached prompt tokens and reasoning tokens, chat and stream alike', async () => {
    const rule = { provider: 'openai' as const, text: 'Done.', usage: { prompt: 2000, completion: 50 }, cachedPrompt: 1536, reasoningTokens: 32 };
    emu.script(rule);
    const r = await fiber.chat({ model: 'gpt-5-mini', messages: 'hi', reasoning: { effort: 'low' } });
    expect(r.usage).toEqual({ prompt: 2000, completion: 50, total: 2050, costEstimate: null, cachedPrompt: 1536, reasoning: 32 });
    expect(emu.requests[0]!.body).toMatchObject({ reasoning_effort: 'low' });
    emu.script(rule);
    const { events } = await collect(fiber.chatStream({ model: 'gpt-5-mini', messages: 'hi', reasoning: { effort: 'low' } }));
    expect((events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result.usage).toEqual(r.usage);
  });

  it('rejects an unsupported reasoning setting before sending anything', async () => {
    await expect(fiber.chat({ model: 'gpt-4o-mini', messages: 'hi', reasoning: { effort: 'high' } })).rejects.toMatchObject({ name: 'BadRequestError', model: 'gpt-4o-mini' });
    expect(emu.requests).toHaveLength(0);
  });
});
