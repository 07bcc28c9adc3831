/**
 * Anthropic extended thinking: the recorded thinking fixtures at every split, the thinking blocks kept in
 * `providerData` and sent back byte for byte (signature included) on the next turn, redacted thinking kept opaque,
 * and the reasoning rules checked before sending.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anthropic } from '../../../providers/anthropic/index.js';
import { MIN_THINKING_BUDGET, prepareMessages, thinkingBudget } from '../../../providers/anthropic/prepare.js';
import { BadRequestError } from '../../../src/errors.js';
import { Fiber } from '../../../src/fiber.js';
import { startEmulator, type Emulator } from '../../../src/testing/index.js';
import type { ChatResult, NormalizedRequest, ParsedResult, Provider, ProviderEnv, StreamEvent, StreamFinal } from '../../../src/types.js';
import { collect } from '../../helpers/core.js';
import { comparable, decodeSse, type Fixture, fixtureResponse, loadFixturesFrom, normalizeForCompare, randomPieces, type SseRun, streamText } from '../../helpers/fixtures.js';

const DIR = new URL('../../fixtures/anthropic/', import.meta.url);
const fixtures = loadFixturesFrom(DIR);
const provider = anthropic();
const env: ProviderEnv = { apiKey: 'sk-ant-test', baseUrl: 'https://api.anthropic.com', headers: {} };

interface ReasoningExpectation {
  reasoning: string | null;
  usageDetails: { cachedPrompt?: number; cacheWrite?: number; reasoning?: number };
  providerBlocks: Array<Record<string, unknown>>;
}

function extra(fx: Fixture): ReasoningExpectation {
  return JSON.parse(readFileSync(new URL(`${fx.name}.reasoning.json`, DIR), 'utf8')) as ReasoningExpectation;
}

function runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun {
  const res = fixtureResponse(fx, 'anthropic');
  return decodeSse(provider.stream(res, { model: String(fx.meta.request.model), messages: [], stream: true }), pieces, res, '`message_stop`');
}

function shape(events: readonly StreamEvent[]): unknown[] {
  return events.map(({ t: _t, ...rest }) => rest);
}

/** A decoded stream as a result: its final facts, with the delivered `chunk` text as text (as the Fiber builds it). */
function streamed(run: SseRun): ParsedResult {
  return { ...(run.outcome as StreamFinal), text: streamText(run.events) };
}

/** Everything this suite checks of a decoded result: the shared schema plus reasoning, details and blocks. */
function view(r: ParsedResult) {
  const u = r.usage!;
  const details: Record<string, number> = {};
  if (u.cachedPrompt !== undefined) details.cachedPrompt = u.cachedPrompt;
  if (u.cacheWrite !== undefined) details.cacheWrite = u.cacheWrite;
  if (u.reasoning !== undefined) details.reasoning = u.reasoning;
  return {
    normalized: comparable(normalizeForCompare(r)),
    reasoning: r.reasoning,
    usageDetails: details,
    providerBlocks: (r.providerData as { anthropic?: { blocks?: unknown } } | undefined)?.anthropic?.blocks,
  };
}

function want(fx: Fixture) {
  const x = extra(fx);
  return { normalized: comparable(fx.expected), reasoning: x.reasoning, usageDetails: x.usageDetails, providerBlocks: x.providerBlocks };
}

describe('anthropic thinking fixtures (test/fixtures/anthropic)', () => {
  it('finds them', () => {
    expect(fixtures.map((f) => f.name)).toEqual(expect.arrayContaining(['thinking-stream', 'thinking-tool-use']));
  });

  it('thinking-tool-use (recorded JSON): reasoning apart from text, the block verbatim, thinking tokens', () => {
    const fx = fixtures.find((f) => f.name === 'thinking-tool-use')!;
    const parsed = provider.parse(JSON.parse(fx.body.toString('utf8')), fixtureResponse(fx, 'anthropic'));
    expect(view(parsed)).toEqual(want(fx));
    expect(parsed.text).toBe('');
  });

  const stream = fixtures.find((f) => f.name === 'thinking-stream')!;

  it('thinking-stream matches the oracle and the SDK reasoning view fed whole', () => {
    const run = runSse(stream, [stream.body]);
    expect(view(streamed(run))).toEqual(want(stream));
    const reasoning = run.events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta);
    expect(reasoning.join('')).toBe(extra(stream).reasoning);
    // Never in text: the chunks are the text block only.
    expect(run.events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta).join('')).toBe('925 ÷ 5 = 185');
    expect(run.events.map((e) => e.type).filter((t, i, a) => t !== a[i - 1])).toEqual(['reasoning', 'chunk', 'tool_call', 'usage']);
  });

  it('thinking-stream gives the same result and events split in two at every byte', () => {
    const whole = runSse(stream, [stream.body]);
    const expected = want(stream);
    for (let i = 1; i < stream.body.length; i++) {
      const run = runSse(stream, [stream.body.subarray(0, i), stream.body.subarray(i)]);
      expect(view(streamed(run)), `split at ${i}`).toEqual(expected);
      expect(shape(run.events), `split at ${i}`).toEqual(shape(whole.events));
    }
  });

  it('thinking-stream gives the same result fed in random 1-7 byte pieces', () => {
    const expected = want(stream);
    for (const seed of [1, 2, 3, 42, 1337]) expect(view(streamed(runSse(stream, randomPieces(stream.body, seed)))), `seed ${seed}`).toEqual(expected);
  });
});

describe('thinking blocks survive the tool round trip byte for byte', () => {
  let emu: Emulator;
  let fiber: Fiber;
  /** Exact request bodies, as the transport sends them. */
  const sent: string[] = [];

  /** The built-in adapter, with a tap on the exact bytes it hands to the transport. */
  function tapped(): Provider {
    const base = anthropic();
    return { ...base, prepare: (req: NormalizedRequest, e: ProviderEnv) => { const wire = base.prepare(req, e); sent.push(wire.body); return wire; } };
  }

  beforeAll(async () => {
    emu = await startEmulator();
    fiber = new Fiber({ providers: [tapped()], baseUrls: { anthropic: emu.baseUrls.anthropic }, apiKeys: { anthropic: 'sk-ant-test' }, retry: false });
  });
  afterAll(async () => {
    await fiber.close();
    await emu.close();
  });
  beforeEach(() => {
    emu.reset();
    sent.length = 0;
  });

  const tools = [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
  const request = { model: 'claude-sonnet-4-5', tools, reasoning: { effort: 'low' as const } };

  async function secondTurn(first: ChatResult, callId: string): Promise<string> {
    emu.script({ provider: 'anthropic', text: 'It is 21°C.' });
    await fiber.chat({ ...request, messages: ['Weather in Paris?', first.message, { role: 'tool', toolCallId: callId, content: '{"tempC":21}' }] });
    return sent.at(-1)!;
  }

  it('JSON: the served block bytes (odd characters and the signature included) reappear verbatim in the next request', async () => {
    // A compact body, so the block's bytes in the response are exactly its JSON text.
    const thinking = { type: 'thinking', thinking: 'Quotes " and \\ back\u00adslash, ünïcödé, emoji 🌦️, line\nbreak, </script>', signature: 'EpQBCkYIBBgCKkBv+/=sig' };
    const redacted = { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw=' };
    const body = JSON.stringify({
      id: 'msg_bytes', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5',
      content: [thinking, redacted, { type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_bytes', name: 'get_weather', input: { city: 'Paris' } }],
      stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 20 },
    });
    emu.script({ provider: 'anthropic', raw: { status: 200, headers: { 'content-type': 'application/json' }, body } });
    const first = await fiber.chat({ ...request, messages: 'Weather in Paris?' });
    expect(first.reasoning).toBe(thinking.thinking);
    expect(first.text).toBe('Let me check.');

    const blockBytes = [JSON.stringify(thinking), JSON.stringify(redacted)];
    for (const bytes of blockBytes) expect(body).toContain(bytes); // sanity: these are the served bytes
    const next = await secondTurn(first, 'toolu_bytes');
    // The two blocks, adjacent and in order, then the text and the call: exactly the served bytes.
    expect(next).toContain(`"content":[${blockBytes.join(',')},{"type":"text","text":"Let me check."},{"type":"tool_use"`);
    expect(next).toContain(`"signature":"${thinking.signature}"`);
  });

  it('JSON: the recorded claude-sonnet-4-6 block (real signature) goes back unchanged', async () => {
    const fx = fixtures.find((f) => f.name === 'thinking-tool-use')!;
    emu.script({ provider: 'anthropic', raw: { status: 200, headers: fx.meta.headers, body: fx.body } });
    const first = await fiber.chat({ ...request, messages: 'Weather in Paris?' });
    const recorded = JSON.parse(fx.body.toString('utf8')).content[0];
    expect(first.message.providerData).toEqual({ anthropic: { blocks: [recorded] } });
    const next = await secondTurn(first, 'toolu_017R7ACrx7NF7sLDDtvdQ1u9');
    // The recorded body is pretty-printed; the block's compact form, key order and every string are unchanged.
    expect(next).toContain(`"content":[${JSON.stringify(recorded)},{"type":"tool_use","id":"toolu_017R7ACrx7NF7sLDDtvdQ1u9"`);
    const resent = (JSON.parse(next).messages[1].content as unknown[])[0];
    expect(resent).toEqual(recorded);
  });

  it('stream: the block rebuilt from thinking and signature deltas goes back exactly as the SDK holds it', async () => {
    const fx = fixtures.find((f) => f.name === 'thinking-stream')!;
    emu.script({ provider: 'anthropic', raw: { status: 200, headers: fx.meta.headers, body: fx.body, splitEvery: 13 } });
    const { events } = await collect(fiber.chatStream({ ...request, messages: 'Weather in Paris?' }));
    const first = (events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result;
    const [block] = extra(fx).providerBlocks;
    expect(first.message.providerData).toEqual({ anthropic: { blocks: [block] } });
    const next = await secondTurn(first, 'toolu_01Hc8fKm2TzQvJ5wXyNn3pLd');
    expect(next).toContain(`"content":[${JSON.stringify(block)},{"type":"text","text":"925 ÷ 5 = 185"}`);
  });

  it('emulator: thinking and redacted_thinking blocks stream and come back, the redacted one opaque', async () => {
    emu.script({ provider: 'anthropic', reasoning: 'Checking the forecast.', redactedThinking: 'EmwKAhgBEgy3opaque==', toolCalls: [{ id: 'toolu_e', name: 'get_weather', arguments: { city: 'Paris' } }] });
    const { events } = await collect(fiber.chatStream({ ...request, messages: 'Weather in Paris?' }));
    const first = (events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result;
    expect(first.reasoning).toBe('Checking the forecast.');
    // The redacted block carries no text: nothing of it reaches reasoning events or text.
    expect(events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta).join('')).toBe('Checking the forecast.');
    const blocks = (first.message.providerData as { anthropic: { blocks: unknown[] } }).anthropic.blocks;
    expect(blocks).toEqual([
      { type: 'thinking', thinking: 'Checking the forecast.', signature: expect.stringMatching(/^emu_sig_/) },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3opaque==' },
    ]);
    const next = await secondTurn(first, 'toolu_e');
    expect(next).toContain(`[${JSON.stringify(blocks[0])},${JSON.stringify(blocks[1])},{"type":"tool_use","id":"toolu_e"`);
  });

  it('reports thinking tokens and cache usage the emulator was told to send', async () => {
    emu.script({ provider: 'anthropic', reasoning: 'Hmm.', text: 'Done.', usage: { prompt: 100, completion: 30 }, cachedPrompt: 60, cacheWrite: 25, reasoningTokens: 12 });
    const r = await fiber.chat({ ...request, messages: 'hi' });
    expect(r.usage).toEqual({ prompt: 100, completion: 30, total: 130, costEstimate: null, cachedPrompt: 60, cacheWrite: 25, reasoning: 12 });
    emu.script({ provider: 'anthropic', reasoning: 'Hmm.', text: 'Done.', usage: { prompt: 100, completion: 30 }, cachedPrompt: 60, cacheWrite: 25, reasoningTokens: 12 });
    const { events } = await collect(fiber.chatStream({ ...request, messages: 'hi' }));
    expect((events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result.usage).toEqual(r.usage);
  });
});

describe('reasoning → extended thinking, checked before sending', () => {
  function req(extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
    return { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hello' }], stream: false, ...extra };
  }
  function body(r: NormalizedRequest, e: ProviderEnv = env): Record<string, any> {
    return JSON.parse(prepareMessages(r, e).body);
  }
  function error(r: NormalizedRequest, e: ProviderEnv = env): BadRequestError {
    try {
      prepareMessages(r, e);
    } catch (err) {
      expect(err).toBeInstanceOf(BadRequestError);
      return err as BadRequestError;
    }
    throw new Error('expected a BadRequestError');
  }

  it('maps effort through the budget table and takes budgetTokens as it is', () => {
    expect(body(req({ reasoning: { effort: 'minimal' } })).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(body(req({ reasoning: { effort: 'low' } })).thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(body(req({ reasoning: { effort: 'high' } }))).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 16384 }, max_tokens: 4096 + 16384 });
    expect(body(req({ reasoning: { effort: 'high', budgetTokens: 3000 }, maxTokens: 8000 }))).toMatchObject({ thinking: { budget_tokens: 3000 }, max_tokens: 8000 });
  });

  it("keeps thinking off for effort 'none' (whatever the budget) and for summary alone", () => {
    expect(body(req({ reasoning: { effort: 'none', budgetTokens: 5000 } }))).not.toHaveProperty('thinking');
    expect(body(req({ reasoning: { summary: true } }))).not.toHaveProperty('thinking');
    expect(thinkingBudget(req({ reasoning: { summary: false } }), env, 'anthropic')).toBeUndefined();
  });

  it('drops temperature when thinking is on (the API refuses it) and keeps it otherwise', () => {
    expect(body(req({ temperature: 0.2, reasoning: { effort: 'low' } }))).not.toHaveProperty('temperature');
    expect(body(req({ temperature: 0.2 })).temperature).toBe(0.2);
    expect(body(req({ temperature: 0.2, reasoning: { effort: 'none' } })).temperature).toBe(0.2);
  });

  it('refuses a budget under 1024, naming the model and the option', () => {
    const err = error(req({ reasoning: { budgetTokens: 1000 } }));
    expect(err).toMatchObject({ code: 'unsupported_option', provider: 'anthropic', model: 'claude-sonnet-4-5', retryable: false });
    expect(err.message).toContain('claude-sonnet-4-5');
    expect(err.message).toContain('reasoning.budgetTokens');
    expect(err.message).toContain(String(MIN_THINKING_BUDGET));
  });

  it('refuses a budget not below maxTokens, unless interleaved thinking is on', () => {
    const err = error(req({ maxTokens: 2048, reasoning: { effort: 'low' } }));
    expect(err.message).toMatch(/reasoning\.effort 'low'.*below maxTokens \(2048\)/);
    expect(error(req({ maxTokens: 3000, reasoning: { budgetTokens: 3000 } })).message).toContain('reasoning.budgetTokens');
    const beta = { ...env, headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } };
    expect(body(req({ maxTokens: 2048, reasoning: { budgetTokens: 4096 } }), beta).thinking).toEqual({ type: 'enabled', budget_tokens: 4096 });
    expect(body(req({ maxTokens: 2048, reasoning: { budgetTokens: 4096 }, headers: { 'Anthropic-Beta': 'x, interleaved-thinking-2025-05-14' } })).max_tokens).toBe(2048);
  });

  it('refuses thinking on models without it and with a forced tool choice', () => {
    for (const model of ['claude-3-5-haiku-latest', 'claude-3-5-sonnet-20241022', 'claude-3-opus-20240229', 'claude-3-haiku-20240307']) {
      const err = error(req({ model, reasoning: { effort: 'medium' } }));
      expect(err.message).toContain(model);
      expect(err.message).toContain('extended thinking');
    }
    for (const model of ['claude-3-7-sonnet-latest', 'claude-opus-4-1', 'claude-haiku-4-5', 'claude-sonnet-4-20250514']) {
      expect(body(req({ model, reasoning: { effort: 'medium' } })).thinking).toBeDefined();
    }
    const tools = [{ name: 'f' }];
    expect(error(req({ tools, toolChoice: 'required', reasoning: { effort: 'low' } })).message).toContain("toolChoice 'required'");
    expect(error(req({ tools, toolChoice: { name: 'f' }, reasoning: { effort: 'low' } })).message).toContain('named toolChoice');
    expect(body(req({ tools, toolChoice: 'auto', reasoning: { effort: 'low' } })).tool_choice).toEqual({ type: 'auto' });
  });

  it('rejects before any request: the emulator sees nothing', async () => {
    const emu = await startEmulator();
    const f = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { anthropic: 'sk-ant-test' }, retry: false });
    try {
      await expect(f.chat({ model: 'claude-3-5-haiku-latest', messages: 'hi', reasoning: { effort: 'high' } })).rejects.toBeInstanceOf(BadRequestError);
      expect(emu.requests).toHaveLength(0);
    } finally {
      await f.close();
      await emu.close();
    }
  });
});
