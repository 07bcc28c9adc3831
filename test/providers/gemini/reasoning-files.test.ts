/**
 * Gemini: thought summaries (the thoughts fixture at every split), `reasoning` → `thinkingConfig` by model
 * generation with the refusals checked before sending, file and audio parts, and the usage details.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gemini } from '../../../providers/gemini/index.js';
import { GEMINI_MAX_INLINE_BYTES, GEMINI_MAX_INLINE_PDF_BYTES, prepareGenerateContent, thinkingConfig } from '../../../providers/gemini/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import { Fiber } from '../../../src/fiber.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';
import type { ContentPart, NormalizedRequest, ProviderEnv, StreamEvent, StreamFinal } from '../../../src/types.js';
import { collect } from '../../helpers/core.js';
import { comparable, decodeSse, type Fixture, fixtureResponse, loadFixturesFrom, normalizeRun, randomPieces, type SseRun } from '../../helpers/fixtures.js';

const DIR = new URL('../../fixtures/gemini/', import.meta.url);
const fixtures = loadFixturesFrom(DIR);
const provider = gemini();
const env: ProviderEnv = { apiKey: 'AIza-test', baseUrl: 'https://generativelanguage.googleapis.com', headers: {} };

function runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun {
  const res = fixtureResponse(fx, 'gemini');
  return decodeSse(provider.stream(res, { model: 'gemini-3-pro-preview', messages: [], stream: true }), pieces, res, 'a finishReason');
}

describe('gemini thoughts fixture (test/fixtures/gemini/thoughts-stream)', () => {
  const fx = fixtures.find((f) => f.name === 'thoughts-stream')!;
  const extra = JSON.parse(readFileSync(new URL('thoughts-stream.reasoning.json', DIR), 'utf8')) as { reasoning: string; usageDetails: { reasoning: number } };

  function view(run: SseRun) {
    const final = run.outcome as StreamFinal;
    return { normalized: comparable(normalizeRun(run)), reasoning: final.reasoning, thoughtTokens: final.usage?.reasoning };
  }
  const want = { normalized: comparable(fx.expected), reasoning: extra.reasoning, thoughtTokens: extra.usageDetails.reasoning };

  it('matches the oracle and the SDK thought view fed whole, thoughts as reasoning events only', () => {
    const run = runSse(fx, [fx.body]);
    expect(view(run)).toEqual(want);
    expect(run.events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta).join('')).toBe(extra.reasoning);
    expect(run.events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta).join('')).toBe((fx.expected as { text: string }).text);
    expect(run.events.map((e) => e.type).filter((t, i, a) => t !== a[i - 1])).toEqual(['reasoning', 'chunk', 'usage']);
    // The signed part is kept for the next turn.
    const parts = ((run.outcome as StreamFinal).providerData as { gemini: { parts: Array<Record<string, unknown>> } }).gemini.parts;
    expect(parts.at(-1)).toMatchObject({ text: '', thoughtSignature: expect.stringMatching(/^Eo0HCooH/) });
  });

  it('gives the same result and events split in two at every byte', () => {
    const whole = runSse(fx, [fx.body]);
    const shape = (events: readonly StreamEvent[]) => events.map(({ t: _t, ...e }) => e);
    for (let i = 1; i < fx.body.length; i++) {
      const run = runSse(fx, [fx.body.subarray(0, i), fx.body.subarray(i)]);
      expect(view(run), `split at ${i}`).toEqual(want);
      expect(shape(run.events), `split at ${i}`).toEqual(shape(whole.events));
    }
    for (const seed of [1, 2, 3, 42, 1337]) expect(view(runSse(fx, randomPieces(fx.body, seed))), `seed ${seed}`).toEqual(want);
  });
});

describe('reasoning → thinkingConfig', () => {
  const config = (model: string, reasoning: NonNullable<NormalizedRequest['reasoning']>) => thinkingConfig(reasoning, model, 'gemini');
  function error(model: string, reasoning: NonNullable<NormalizedRequest['reasoning']>): BadRequestError {
    try {
      config(model, reasoning);
    } catch (err) {
      expect(err).toBeInstanceOf(BadRequestError);
      expect(err).toMatchObject({ code: 'unsupported_option', provider: 'gemini', model, retryable: false });
      return err as BadRequestError;
    }
    throw new Error('expected a BadRequestError');
  }

  it('Gemini 3: the effort is the thinking level; a budget alone is a budget; never both', () => {
    expect(config('gemini-3-pro-preview', { effort: 'low', summary: true })).toEqual({ thinkingLevel: 'low', includeThoughts: true });
    expect(config('gemini-3-flash-preview', { effort: 'minimal' })).toEqual({ thinkingLevel: 'minimal' });
    expect(config('gemini-3-pro-preview', { effort: 'high', budgetTokens: 4096 })).toEqual({ thinkingLevel: 'high' });
    expect(config('gemini-3-pro-preview', { budgetTokens: 4096 })).toEqual({ thinkingBudget: 4096 });
    expect(config('gemini-flash-latest', { effort: 'medium' })).toEqual({ thinkingLevel: 'medium' });
    expect(error('gemini-3-pro-preview', { effort: 'none' }).message).toContain("gemini gemini-3-pro-preview: reasoning.effort 'none' is not supported: Gemini 3 models always think");
  });

  it('Gemini 2.5: a budget, from budgetTokens or the effort table; none turns thinking off except on Pro', () => {
    expect(config('gemini-2.5-flash', { effort: 'low' })).toEqual({ thinkingBudget: 2048 });
    expect(config('gemini-2.5-flash', { effort: 'high', budgetTokens: 3000, summary: true })).toEqual({ thinkingBudget: 3000, includeThoughts: true });
    expect(config('models/gemini-2.5-flash-lite', { effort: 'minimal' })).toEqual({ thinkingBudget: 512 });
    expect(config('gemini-2.5-flash', { effort: 'none', summary: true })).toEqual({ thinkingBudget: 0 });
    expect(error('gemini-2.5-pro', { effort: 'none' }).message).toContain('Gemini 2.5 Pro cannot turn thinking off');
    expect(config('gemini-2.5-pro', { summary: true })).toEqual({ includeThoughts: true });
  });

  it('Gemini 2.0 and 1.5: no thinking; none and summary alone send nothing, anything else is refused', () => {
    expect(config('gemini-2.0-flash', { effort: 'none' })).toBeUndefined();
    expect(config('gemini-2.0-flash', { summary: true })).toBeUndefined();
    expect(error('gemini-2.0-flash', { effort: 'low' }).message).toContain("reasoning.effort 'low' is not supported: Gemini 1.x and 2.0 models do not think");
    expect(error('gemini-1.5-pro', { budgetTokens: 2048 }).message).toContain('reasoning.budgetTokens');
  });

  it('puts the config in generationConfig and rejects before any request', async () => {
    const b = JSON.parse(prepareGenerateContent({ model: 'gemini-3-pro-preview', messages: [{ role: 'user', content: 'hi' }], stream: false, temperature: 1, reasoning: { effort: 'high', summary: true } }, env).body);
    expect(b.generationConfig).toEqual({ temperature: 1, thinkingConfig: { thinkingLevel: 'high', includeThoughts: true } });
    const emu = await startEmulator();
    const f = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { gemini: 'k' }, retry: false });
    try {
      await expect(f.chat({ model: 'gemini-2.0-flash', messages: 'hi', reasoning: { effort: 'high' } })).rejects.toBeInstanceOf(BadRequestError);
      expect(emu.requests).toHaveLength(0);
    } finally {
      await f.close();
      await emu.close();
    }
  });

  it('leaves the request alone for promptCache: Gemini caches implicitly', () => {
    const r: NormalizedRequest = { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: 'hi' }], stream: false };
    for (const promptCache of ['auto', 'off', { ttl: '1h' }] as const) expect(prepareGenerateContent({ ...r, promptCache }, env).body).toBe(prepareGenerateContent(r, env).body);
  });
});

describe('file and audio parts', () => {
  const PDF = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n').toString('base64');
  function parts(...content: ContentPart[]): unknown[] {
    return JSON.parse(prepareGenerateContent({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content }], stream: false }, env).body).contents[0].parts;
  }
  function error(...content: ContentPart[]): BadRequestError {
    try {
      parts(...content);
    } catch (err) {
      expect(err).toBeInstanceOf(BadRequestError);
      return err as BadRequestError;
    }
    throw new Error('expected a BadRequestError');
  }

  it('sends base64 files and audio as inlineData and URLs as fileData', () => {
    expect(parts(
      { type: 'text', text: 'Compare' },
      { type: 'file', data: PDF, mediaType: 'application/pdf' },
      { type: 'file', url: `data:application/pdf;base64,${PDF}` },
      { type: 'file', url: 'https://generativelanguage.googleapis.com/v1beta/files/abc123' },
      { type: 'file', url: 'gs://bucket/notes.txt', mediaType: 'text/plain' },
      { type: 'audio', data: 'UklGRg==', mediaType: 'audio/wav' },
      { type: 'audio', data: 'SUQz', mediaType: 'audio/MPEG' },
    )).toEqual([
      { text: 'Compare' },
      { inlineData: { mimeType: 'application/pdf', data: PDF } },
      { inlineData: { mimeType: 'application/pdf', data: PDF } },
      { fileData: { mimeType: 'application/pdf', fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/abc123' } },
      { fileData: { mimeType: 'text/plain', fileUri: 'gs://bucket/notes.txt' } },
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
      { inlineData: { mimeType: 'audio/mpeg', data: 'SUQz' } },
    ]);
  });

  it('refuses unsupported media types, naming the model and the part', () => {
    const err = error({ type: 'text', text: 'x' }, { type: 'audio', data: 'AAAA', mediaType: 'audio/x-ms-wma' });
    expect(err).toMatchObject({ code: 'unsupported_content_part', provider: 'gemini', model: 'gemini-2.5-flash', retryable: false });
    expect(err.message).toContain("gemini gemini-2.5-flash: content part type 'audio' (messages[0].content[1]) has media type 'audio/x-ms-wma'");
    expect(error({ type: 'file', data: 'AAAA', mediaType: 'application/zip' }).message).toContain("'application/zip'");
    expect(error({ type: 'file', url: 'https://example.com/a.xlsx', mediaType: 'application/vnd.ms-excel' }).message).toContain('PDF');
  });

  it('refuses an inline PDF over 50 MB and inline data over 100 MB of base64 per request', () => {
    const bigPdf = 'A'.repeat(Math.ceil((GEMINI_MAX_INLINE_PDF_BYTES + 3) / 3) * 4);
    const pdfErr = error({ type: 'file', data: bigPdf, mediaType: 'application/pdf' });
    expect(pdfErr).toMatchObject({ code: 'content_too_large' });
    expect(pdfErr.message).toContain('Files API');
    const audio = 'A'.repeat(GEMINI_MAX_INLINE_BYTES / 2 + 4);
    const totalErr = error({ type: 'audio', data: audio, mediaType: 'audio/wav' }, { type: 'audio', data: audio, mediaType: 'audio/wav' });
    expect(totalErr.message).toContain("'audio' (messages[0].content[1])");
    expect(totalErr.message).toContain('100.0 MB');
  });
});

describe('usage details through the Fiber', () => {
  let emu: Emulator;
  let fiber: Fiber;
  beforeAll(async () => {
    emu = await startEmulator();
    fiber = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { gemini: 'k' }, retry: false });
  });
  afterAll(async () => {
    await fiber.close();
    await emu.close();
  });
  beforeEach(() => emu.reset());

  it('reports cachedContentTokenCount and thoughtsTokenCount, chat and stream alike', async () => {
    const rule = { provider: 'gemini' as const, reasoning: 'Hmm.', text: 'Done.', usage: { prompt: 3000, completion: 80 }, cachedPrompt: 2048, reasoningTokens: 60 };
    emu.script(rule);
    const r = await fiber.chat({ model: 'gemini-2.5-flash', messages: 'hi', reasoning: { effort: 'low', summary: true } });
    expect(r.usage).toEqual({ prompt: 3000, completion: 80, total: 3080, costEstimate: null, cachedPrompt: 2048, reasoning: 60 });
    expect(r.reasoning).toBe('Hmm.');
    expect(emu.requests[0]!.body).toMatchObject({ generationConfig: { thinkingConfig: { thinkingBudget: 2048, includeThoughts: true } } });
    emu.script(rule);
    const { events } = await collect(fiber.chatStream({ model: 'gemini-2.5-flash', messages: 'hi', reasoning: { effort: 'low', summary: true } }));
    expect((events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result.usage).toEqual(r.usage);
  });
});
