/**
 * Acceptance (issue 7, reasoning and caching): the same tool-using, reasoning conversation (two turns) yields
 * equal normalized results on every wire against the emulator, with reasoning apart from text; Anthropic thinking
 * blocks survive the tool round trip byte for byte; usage details (cached, cache write, reasoning) are reported
 * for every provider fixture that has them.
 *
 * Adding a wire is one entry in `WIRES` (the emulator format to script, the `provider:model` to call, and the
 * adapters to register), plus, for fixtures, one entry in `FIXTURE_SETS`.
 *
 * The emulator's Chat Completions replies carry reasoning as `reasoning_content` deltas, the OpenAI-compatible
 * convention (DeepSeek, vLLM); OpenAI's own Chat wire sends no reasoning text, which is what its Responses wire is for.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anthropic } from '../../providers/anthropic/index.js';
import { gemini } from '../../providers/gemini/index.js';
import { openai } from '../../providers/openai/index.js';
import { Fiber } from '../../src/fiber.js';
import { ChatMessage } from '../../src/index.js';
import { startEmulator, type Emulator, type EmulatorProvider, type EmulatorRule } from '../../src/testing/index.js';
import type { ChatRequest, ChatResult, NormalizedRequest, Provider, ProviderEnv, StreamEvent, StreamFinal, Usage } from '../../src/types.js';
import { collect } from '../helpers/core.js';
import { decodeSse, type Fixture, fixtureResponse, loadFixtures, loadFixturesFrom } from '../helpers/fixtures.js';

interface Wire {
  /** Label in test names. */
  name: string;
  /** The emulator's wire format that answers this wire (`EmulatorRule.provider`). */
  emulator: EmulatorProvider;
  /** `provider:model` to call. */
  model: string;
  /** The adapter under test (registered under its name, replacing a built-in of that name). */
  adapter: () => Provider;
  /** The wire reports cache writes (only Anthropic charges for them). */
  cacheWrite?: boolean;
}

const WIRES: Wire[] = [
  { name: 'openai chat completions', emulator: 'openai', model: 'openai:gpt-5-mini', adapter: () => openai() },
  { name: 'anthropic messages', emulator: 'anthropic', model: 'anthropic:claude-sonnet-4-5', adapter: () => anthropic(), cacheWrite: true },
  { name: 'gemini generateContent', emulator: 'gemini', model: 'gemini:gemini-2.5-flash', adapter: () => gemini() },
  { name: 'openai responses', emulator: 'openai', model: 'openai:gpt-5-mini', adapter: () => openai({ api: 'responses' }) },
];

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
/** The one setting, the same on every wire: effort where the provider takes a level, budget where it counts tokens. */
const COMMON: Omit<ChatRequest, 'messages' | 'model'> = {
  tools: [weatherTool],
  reasoning: { effort: 'low', summary: true },
  promptCache: 'auto',
};
const SYSTEM = 'You are a weather assistant. Use the tool.';
const QUESTION = 'Weather in Paris?';

const TURN1 = {
  reasoning: 'The user wants the weather in Paris, so I call get_weather.',
  text: 'Let me check.',
  toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
  usage: { prompt: 120, completion: 40 },
  cachedPrompt: 0,
  cacheWrite: 90,
  reasoningTokens: 14,
} satisfies EmulatorRule;
const TURN2 = {
  reasoning: 'The tool says 21°C; answer briefly.',
  text: 'It is 21°C and sunny in Paris.',
  usage: { prompt: 180, completion: 24 },
  cachedPrompt: 90,
  cacheWrite: 60,
  reasoningTokens: 8,
} satisfies EmulatorRule;

/** The provider-independent view of a result: everything but ids, timings and raw bodies. */
function normalized(r: ChatResult) {
  const u = r.usage;
  return {
    text: r.text,
    reasoning: r.reasoning,
    finishReason: r.finishReason,
    toolCalls: r.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })),
    usage: { prompt: u.prompt, completion: u.completion, total: u.total, cachedPrompt: u.cachedPrompt, reasoning: u.reasoning },
    message: { role: r.message.role, content: r.message.content, toolCalls: (r.message.toolCalls ?? []).map((c) => c.name) },
  };
}

/** Event kinds in order, consecutive repeats collapsed (providers split text and thoughts differently). */
function kinds(events: readonly StreamEvent[]): string[] {
  return events.map((e) => e.type).filter((t, i, a) => t !== a[i - 1]);
}

function deltas(events: readonly StreamEvent[], type: 'chunk' | 'reasoning'): string {
  return events.filter((e) => e.type === type).map((e) => (e as { delta: string }).delta).join('');
}

describe('one reasoning, tool-using conversation on every wire', () => {
  let emu: Emulator;
  /** Per wire: its Fiber and the exact request bodies its adapter handed to the transport. */
  const clients = new Map<string, { fiber: Fiber; sent: string[] }>();

  beforeAll(async () => {
    emu = await startEmulator();
    for (const wire of WIRES) {
      const sent: string[] = [];
      const base = wire.adapter();
      const tapped: Provider = { ...base, prepare: (req: NormalizedRequest, env: ProviderEnv) => { const w = base.prepare(req, env); sent.push(w.body); return w; } };
      const fiber = new Fiber({
        providers: [tapped],
        baseUrls: emu.baseUrls,
        apiKeys: { openai: 'sk-test', anthropic: 'sk-ant-test', gemini: 'gemini-test' },
        retry: false,
      });
      clients.set(wire.name, { fiber, sent });
    }
  });
  afterAll(async () => {
    for (const { fiber } of clients.values()) await fiber.close();
    await emu.close();
  });
  beforeEach(() => {
    emu.reset();
    for (const c of clients.values()) c.sent.length = 0;
  });

  interface Conversation {
    first: ChatResult;
    second: ChatResult;
    events: [StreamEvent[], StreamEvent[]];
  }

  /** Both turns on one wire, streamed or not; the second sends the first's assistant turn and a tool result back. */
  async function converse(wire: Wire, stream: boolean): Promise<Conversation> {
    const { fiber } = clients.get(wire.name)!;
    const call = async (messages: ChatRequest['messages']): Promise<[ChatResult, StreamEvent[]]> => {
      const req: ChatRequest = { ...COMMON, model: wire.model, messages };
      if (!stream) return [await fiber.chat(req), []];
      const { events, error } = await collect(fiber.chatStream(req));
      expect(error).toBeNull();
      return [(events.at(-1) as Extract<StreamEvent, { type: 'done' }>).result, events];
    };
    emu.script({ provider: wire.emulator, ...TURN1 });
    const [first, events1] = await call([ChatMessage.system(SYSTEM), ChatMessage.user(QUESTION)]);
    expect(first.toolCalls).toHaveLength(1);
    emu.script({ provider: wire.emulator, ...TURN2 });
    const [second, events2] = await call([
      ChatMessage.system(SYSTEM),
      ChatMessage.user(QUESTION),
      first.message,
      ChatMessage.tool(first.toolCalls[0]!.id, '{"tempC":21,"sky":"sunny"}'),
    ]);
    return { first, second, events: [events1, events2] };
  }

  for (const stream of [false, true]) {
    const mode = stream ? 'streaming' : 'non-streaming';

    it(`yields equal normalized results on every wire, ${mode}`, async () => {
      const results: Record<string, unknown> = {};
      for (const wire of WIRES) {
        const { first, second } = await converse(wire, stream);
        results[wire.name] = [normalized(first), normalized(second)];
        // Cache writes where the wire reports them (Anthropic); the others charge nothing to write.
        expect([first.usage.cacheWrite, second.usage.cacheWrite], wire.name).toEqual(wire.cacheWrite ? [90, 60] : [undefined, undefined]);
      }
      const [reference, ...others] = WIRES.map((w) => results[w.name]);
      for (let i = 0; i < others.length; i++) expect(others[i], WIRES[i + 1]!.name).toEqual(reference);
      expect(reference).toEqual([
        {
          text: 'Let me check.',
          reasoning: TURN1.reasoning,
          finishReason: 'tool_calls',
          toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
          usage: { prompt: 120, completion: 40, total: 160, cachedPrompt: 0, reasoning: 14 },
          message: { role: 'assistant', content: 'Let me check.', toolCalls: ['get_weather'] },
        },
        {
          text: TURN2.text,
          reasoning: TURN2.reasoning,
          finishReason: 'stop',
          toolCalls: [],
          usage: { prompt: 180, completion: 24, total: 204, cachedPrompt: 90, reasoning: 8 },
          message: { role: 'assistant', content: TURN2.text, toolCalls: [] },
        },
      ]);
    });
  }

  it('streams the same event kinds on every wire, reasoning only in reasoning events', async () => {
    const sequences: Record<string, unknown> = {};
    for (const wire of WIRES) {
      const { first, second, events } = await converse(wire, true);
      sequences[wire.name] = events.map(kinds);
      for (const [i, result] of [first, second].entries()) {
        expect(deltas(events[i]!, 'reasoning'), wire.name).toBe(result.reasoning);
        expect(deltas(events[i]!, 'chunk'), wire.name).toBe(result.text);
        expect(result.text, wire.name).not.toContain(result.reasoning!);
      }
    }
    for (const wire of WIRES) {
      expect(sequences[wire.name], wire.name).toEqual([
        ['reasoning', 'chunk', 'tool_call', 'usage', 'done'],
        ['reasoning', 'chunk', 'usage', 'done'],
      ]);
    }
  });

  const anthropicWire = WIRES.find((w) => w.emulator === 'anthropic')!;

  it('sends the Anthropic thinking block back byte for byte (signature intact), streamed or not', async () => {
    for (const stream of [false, true]) {
      emu.reset();
      const { sent } = clients.get(anthropicWire.name)!;
      sent.length = 0;
      const { first } = await converse(anthropicWire, stream);
      const blocks = (first.message.providerData as { anthropic: { blocks: Array<Record<string, unknown>> } }).anthropic.blocks;
      expect(blocks).toEqual([{ type: 'thinking', thinking: TURN1.reasoning, signature: expect.stringMatching(/^emu_sig_\d+$/) }]);
      if (!stream) {
        // The served block (the emulator writes compact JSON: these are its bytes) is the kept one.
        const served = (first.raw as { content: unknown[] }).content[0];
        expect(JSON.stringify(blocks[0])).toBe(JSON.stringify(served));
      }
      const second = sent[1]!;
      expect(second).toContain(`{"role":"assistant","content":[${JSON.stringify(blocks[0])},{"type":"text","text":"Let me check."},{"type":"tool_use"`);
      expect(second).toContain(`"signature":"${blocks[0]!.signature as string}"`);
    }
  });

  it("places Anthropic cache breakpoints for promptCache: 'auto' and leaves the other wires' requests alone", async () => {
    for (const wire of WIRES) {
      await converse(wire, false);
      const second = JSON.parse(clients.get(wire.name)!.sent[1]!);
      if (wire.emulator !== 'anthropic') {
        expect(JSON.stringify(second), wire.name).not.toContain('cache_control');
        continue;
      }
      const mark = { type: 'ephemeral' };
      expect(second.tools.at(-1).cache_control).toEqual(mark);
      expect(second.system).toEqual([{ type: 'text', text: SYSTEM, cache_control: mark }]);
      // The question is the second-to-last user turn now; the tool result (the newest turn) is not marked.
      expect(second.messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: QUESTION, cache_control: mark }] });
      expect(JSON.stringify(second.messages.at(-1))).not.toContain('cache_control');
      expect(second.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Usage details of every fixture that has them

type Details = Pick<Usage, 'cachedPrompt' | 'cacheWrite' | 'reasoning'>;

interface FixtureSet {
  label: string;
  fixtures: Fixture[];
  adapter: Provider;
  endMarker: string;
  /** The details the wire body reports, read straight from its JSON (independently of the adapter). */
  details(payloads: unknown[]): Details;
}

/** Every JSON payload of a body: the whole body for JSON, each `data:` line for SSE (`[DONE]` and junk skipped). */
function payloads(fx: Fixture): unknown[] {
  const text = fx.body.toString('utf8');
  if (fx.meta.kind !== 'sse') return [JSON.parse(text)];
  const out: unknown[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (!line.startsWith('data:')) continue;
    try {
      out.push(JSON.parse(line.slice(5)));
    } catch {
      // [DONE], or a deliberately cut event
    }
  }
  return out;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function put(d: Details, key: keyof Details, v: unknown): void {
  const n = num(v);
  if (n !== undefined) d[key] = n;
}

const FIXTURE_SETS: FixtureSet[] = [
  {
    label: 'openai',
    fixtures: loadFixtures('openai'),
    adapter: openai(),
    endMarker: '[DONE]',
    details(all) {
      const d: Details = {};
      // The usage of the completion, or of the last stream chunk that has one.
      const usage = all.map((p) => (p as { usage?: any }).usage).filter((u) => u != null).at(-1);
      put(d, 'cachedPrompt', usage?.prompt_tokens_details?.cached_tokens);
      put(d, 'reasoning', usage?.completion_tokens_details?.reasoning_tokens);
      return d;
    },
  },
  ...['shared', 'local'].map((where): FixtureSet => ({
    label: `anthropic (${where})`,
    fixtures: where === 'shared' ? loadFixtures('anthropic') : loadFixturesFrom(new URL('../fixtures/anthropic/', import.meta.url)),
    adapter: anthropic(),
    endMarker: 'message_stop',
    details(all) {
      // message_start's usage, overwritten field by field by message_delta's (or the message's own usage).
      const merged: Record<string, unknown> = {};
      for (const p of all as any[]) {
        const u = p?.type === 'message_start' ? p.message?.usage : p?.type === 'message_delta' || p?.type === 'message' ? p.usage : undefined;
        if (u != null) for (const [k, v] of Object.entries(u)) if (v !== null) merged[k] = v;
      }
      const d: Details = {};
      put(d, 'cachedPrompt', merged.cache_read_input_tokens);
      put(d, 'cacheWrite', merged.cache_creation_input_tokens);
      put(d, 'reasoning', (merged.output_tokens_details as any)?.thinking_tokens);
      return d;
    },
  })),
  ...['shared', 'local'].map((where): FixtureSet => ({
    label: `gemini (${where})`,
    fixtures: where === 'shared' ? loadFixtures('gemini') : loadFixturesFrom(new URL('../fixtures/gemini/', import.meta.url)),
    adapter: gemini(),
    endMarker: 'a finishReason',
    details(all) {
      const usage = all.map((p) => (p as { usageMetadata?: any }).usageMetadata).filter((u) => u != null).at(-1);
      const d: Details = {};
      put(d, 'cachedPrompt', usage?.cachedContentTokenCount);
      put(d, 'reasoning', usage?.thoughtsTokenCount);
      return d;
    },
  })),
];

function ourDetails(set: FixtureSet, fx: Fixture): Details | null {
  const res = fixtureResponse(fx, set.adapter.name);
  let usage: Usage | null;
  if (fx.meta.kind === 'sse') {
    const run = decodeSse(set.adapter.stream(res, { model: res.model, messages: [], stream: true }), [fx.body], res, set.endMarker);
    usage = (run.outcome as StreamFinal).usage;
  } else {
    usage = set.adapter.parse(JSON.parse(fx.body.toString('utf8')), res).usage;
  }
  if (usage === null) return null;
  const d: Details = {};
  if (usage.cachedPrompt !== undefined) d.cachedPrompt = usage.cachedPrompt;
  if (usage.cacheWrite !== undefined) d.cacheWrite = usage.cacheWrite;
  if (usage.reasoning !== undefined) d.reasoning = usage.reasoning;
  return d;
}

describe('usage details of every provider fixture', () => {
  for (const set of FIXTURE_SETS) {
    const successes = set.fixtures.filter((fx) => fx.meta.kind !== 'error' && !fx.meta.truncated && !('error' in fx.expected));

    it(`${set.label}: every detail the wire reports is in usage, and nothing else`, () => {
      expect(successes.length).toBeGreaterThan(0);
      for (const fx of successes) {
        const ours = ourDetails(set, fx);
        const wire = set.details(payloads(fx));
        if (ours === null) expect(wire, fx.name).toEqual({});
        else expect(ours, fx.name).toEqual(wire);
      }
    });
  }

  it('the fixtures cover every detail on every provider that reports it', () => {
    const seen = new Set<string>();
    for (const set of FIXTURE_SETS) {
      for (const fx of set.fixtures.filter((f) => f.meta.kind !== 'error' && !f.meta.truncated && !('error' in f.expected))) {
        for (const key of Object.keys(set.details(payloads(fx)))) seen.add(`${set.label.split(' ')[0]}.${key}`);
      }
    }
    expect([...seen].sort()).toEqual(
      expect.arrayContaining(['anthropic.cacheWrite', 'anthropic.cachedPrompt', 'anthropic.reasoning', 'gemini.reasoning', 'openai.cachedPrompt', 'openai.reasoning']),
    );
  });
});
