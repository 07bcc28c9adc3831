/**
 * One request (with a tool) against the emulator on all three providers yields equal normalized results, streamed
 * and not: the point of a provider-agnostic client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatMessage, Fiber, type ChatResult, type StreamEvent } from '../../src/index.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';

const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
const MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest', gemini: 'gemini-2.0-flash' } as const;
const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let emu: Emulator;
let fiber: Fiber;

beforeAll(async () => {
  emu = await startEmulator();
  fiber = new Fiber({
    apiKeys: { openai: 'sk-test-fake-openai-key', anthropic: 'sk-ant-test-fake-key', gemini: 'gemini-test-fake-key' },
    baseUrls: emu.baseUrls,
    retry: false,
  });
});
afterAll(async () => {
  await fiber.close();
  await emu.close();
});

function normalized(r: ChatResult) {
  return {
    text: r.text,
    finishReason: r.finishReason,
    toolCalls: r.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })),
    usageShape: { prompt: typeof r.usage.prompt, completion: typeof r.usage.completion, total: r.usage.total === r.usage.prompt + r.usage.completion },
    messageRole: r.message.role,
    messageToolCalls: (r.message.toolCalls ?? []).map((c) => c.name),
  };
}

describe('the same request on every provider', () => {
  it('yields equal normalized results for a tool call, non-streaming', async () => {
    const results: Record<string, unknown> = {};
    for (const p of PROVIDERS) {
      emu.script({ provider: p, toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], text: 'Checking.' });
      const r = await fiber.chat({ model: `${p}:${MODELS[p]}`, messages: 'Weather in Paris?', tools: [weatherTool] });
      expect(r.provider).toBe(p);
      results[p] = normalized(r);
    }
    expect(results.anthropic).toEqual(results.openai);
    expect(results.gemini).toEqual(results.openai);
    expect((results.openai as any).finishReason).toBe('tool_calls');
    expect((results.openai as any).toolCalls).toEqual([{ name: 'get_weather', arguments: { city: 'Paris' } }]);
  });

  it('yields equal event sequences and results for a tool call, streaming', async () => {
    const seqs: Record<string, string[]> = {};
    const results: Record<string, unknown> = {};
    for (const p of PROVIDERS) {
      emu.script({ provider: p, toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }], text: 'Looking it up.' });
      const stream = fiber.chatStream({ model: `${p}:${MODELS[p]}`, messages: 'Weather in Oslo?', tools: [weatherTool] });
      const events: StreamEvent[] = [];
      for await (const ev of stream) events.push(ev);
      // Consecutive chunks collapse: providers split text differently, the order of kinds must agree.
      seqs[p] = events.map((e) => e.type).filter((t, i, a) => t !== 'chunk' || a[i - 1] !== 'chunk');
      results[p] = normalized((events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result);
    }
    expect(seqs.openai).toEqual(['chunk', 'tool_call', 'usage', 'done']);
    expect(seqs.anthropic).toEqual(seqs.openai);
    expect(seqs.gemini).toEqual(seqs.openai);
    expect(results.anthropic).toEqual(results.openai);
    expect(results.gemini).toEqual(results.openai);
  });

  it('carries a tool round trip on every provider', async () => {
    for (const p of PROVIDERS) {
      emu.script({ provider: p, toolCalls: [{ name: 'get_weather', arguments: { city: 'Rome' } }] });
      const first = await fiber.chat({ model: `${p}:${MODELS[p]}`, messages: 'Weather in Rome?', tools: [weatherTool] });
      const call = first.toolCalls[0]!;
      const second = await fiber.chat({
        model: `${p}:${MODELS[p]}`,
        tools: [weatherTool],
        messages: [ChatMessage.user('Weather in Rome?'), first.message, ChatMessage.tool(call.id, '{"tempC":21}'), ChatMessage.user('thanks')],
      });
      expect(second.text).toBe('You said: thanks');
      expect(second.finishReason).toBe('stop');
    }
  });
});
