/**
 * Every OpenAI fixture in `../shared/fixtures/openai/`, served byte for byte by the emulator's `raw` rule and
 * read through the whole `Fiber` (middleware, attempt loop, undici transport, SSE parser, adapter), compared with
 * its `.expected.json`. Streams are also served in pieces of 1 to 7 bytes, each flushed on its own, so events,
 * CRLF pairs and UTF-8 sequences arrive split at every kind of boundary.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FiberError } from '../../src/errors.js';
import type { Fiber } from '../../src/fiber.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { ChatResult, StreamEvent } from '../../src/types.js';
import { openai } from '../../providers/openai/index.js';
import {
  comparable, decodeSse, type Fixture, fixtureResponse, loadFixtures, type Normalized, normalizeForCompare,
} from '../helpers/fixtures.js';
import { collect, emuFiber, textOf, trackHandles, type HandleTracker } from '../helpers/core.js';

const fixtures = loadFixtures('openai');
const streams = fixtures.filter((f) => f.meta.request.stream === true);
const SPLITS = [1, 2, 3, 4, 5, 6, 7];

let emu: Emulator;
let fiber: Fiber;
let handles: HandleTracker;

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
  fiber = emuFiber(emu, { retry: false });
});

afterAll(async () => {
  await fiber.close();
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => emu.reset());

/** The fixture's own request, in ChatRequest terms: its model and its (plain role/content) messages. */
function requestOf(fx: Fixture) {
  return {
    model: String(fx.meta.request.model),
    messages: fx.meta.request.messages as Array<{ role: string; content: string }>,
  };
}

/**
 * `ChatResult.usage` is never null (CONTRACT): a response that reports no usage yields zeros. The fixtures write
 * that as `usage: null`, so compare it as zeros (the stream tests also check that no `usage` event came).
 */
function expectedOf(fx: Fixture): Normalized {
  const want = comparable(fx.expected);
  if ('error' in want || want.usage !== null) return want;
  return { ...want, usage: { prompt: 0, completion: 0, total: 0 } };
}

function outcomeOf(value: ChatResult | unknown): Normalized {
  if (value instanceof FiberError) return comparable(normalizeForCompare(value));
  if (value instanceof Error) throw value;
  return comparable(normalizeForCompare(value as ChatResult));
}

/** Events without their timestamps. */
function withoutTimes(events: readonly StreamEvent[]): Array<{ type: string }> {
  return events.map(({ t: _t, ...rest }) => rest);
}

/** Every event the adapter's decoder makes of the whole body (the sequence a caller may see a prefix of). */
function referenceEvents(fx: Fixture): Array<{ type: string }> {
  const res = fixtureResponse(fx, 'openai');
  const req = { model: String(fx.meta.request.model), messages: [], stream: true };
  return withoutTimes(decodeSse(openai().stream(res, req), [fx.body], res, '`data: [DONE]`').events);
}

interface StreamRun { events: StreamEvent[]; outcome: Normalized; result: ChatResult | null }

async function runStream(fx: Fixture, splitEvery?: number): Promise<StreamRun> {
  emu.script({ raw: { status: fx.meta.status, headers: fx.meta.headers, body: fx.body, splitEvery } });
  const stream = fiber.chatStream(requestOf(fx));
  const { events, error } = await collect(stream);
  if (error !== null) return { events, outcome: outcomeOf(error), result: null };
  const result = await stream.result();
  return { events, outcome: outcomeOf(result), result };
}

it('finds all 21 OpenAI fixtures, 9 of them streams', () => {
  expect(fixtures).toHaveLength(21);
  expect(streams).toHaveLength(9);
});

describe('non-streaming fixtures through Fiber.chat', () => {
  const cases = fixtures.filter((f) => f.meta.request.stream !== true);
  it.each(cases.map((f) => [f.name, f] as const))('%s matches its expected result', async (_name, fx) => {
    emu.script({ raw: { status: fx.meta.status, headers: fx.meta.headers, body: fx.body } });
    let outcome: Normalized;
    try {
      outcome = outcomeOf(await fiber.chat(requestOf(fx)));
    } catch (e) {
      outcome = outcomeOf(e);
    }
    expect(outcome).toEqual(expectedOf(fx));
    expect(emu.requests).toHaveLength(1);
    expect(emu.requests[0]!.body).toMatchObject({ model: fx.meta.request.model, messages: fx.meta.request.messages });
  });
});

describe('streaming fixtures through Fiber.chatStream', () => {
  it.each(streams.map((f) => [f.name, f] as const))('%s matches its expected result', async (_name, fx) => {
    const run = await runStream(fx);
    expect(run.outcome).toEqual(expectedOf(fx));
    expect(emu.requests).toHaveLength(1);
    expect(emu.requests[0]!.body).toMatchObject({ model: fx.meta.request.model, stream: true });
  });

  it.each(streams.map((f) => [f.name, f] as const))('%s delivers events consistent with its result', async (_name, fx) => {
    const { events, result } = await runStream(fx);
    if (result === null) {
      // A failed stream never ends with done.
      expect(events.some((e) => e.type === 'done')).toBe(false);
      return;
    }
    expect(events.at(-1)!.type).toBe('done');
    expect(withoutTimes(events.slice(0, -1))).toEqual(referenceEvents(fx));
    expect(textOf(events)).toBe(result.text);
    expect(events.filter((e) => e.type === 'tool_call').map((e) => (e as { toolCall: unknown }).toolCall)).toEqual(result.toolCalls);
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage.length > 0).toBe(fx.expected !== null && !('error' in fx.expected) && fx.expected.usage !== null);
  });

  describe.each(SPLITS)('served in %i-byte pieces', (splitEvery) => {
    it.each(streams.map((f) => [f.name, f] as const))('%s matches its expected result', async (_name, fx) => {
      const split = await runStream(fx, splitEvery);
      expect(split.outcome).toEqual(expectedOf(fx));
      const delivered = withoutTimes(split.events).filter((e) => e.type !== 'done');
      const all = referenceEvents(fx);
      if (split.result !== null) expect(delivered).toEqual(all);
      // A failure delivers a prefix: how much reached the caller before the error depends on how the bytes came.
      else expect(delivered).toEqual(all.slice(0, delivered.length));
    });
  });
});
