import { describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import type { FiberError } from '../../../src/errors.js';
import type { NormalizedRequest, ParsedResult, StreamEvent, StreamFinal } from '../../../src/types.js';
import {
  comparable,
  decodeSse,
  type Fixture,
  fixtureResponse,
  loadFixturesFrom,
  normalizeForCompare,
  randomPieces,
  type SseRun,
} from '../../helpers/fixtures.js';

const provider = openai({ api: 'responses' });
const fixtures = loadFixturesFrom(new URL('../../fixtures/openai-responses/', import.meta.url));
const byName = new Map(fixtures.map((f) => [f.name, f]));
const jsonCases = fixtures.filter((f) => f.meta.kind !== 'sse');
const sseCases = fixtures.filter((f) => f.meta.kind === 'sse');
const SEEDS = [1, 2, 3, 42, 1337];
const END = 'response.completed / response.failed / response.incomplete';

function request(fx: Fixture): NormalizedRequest {
  return { model: String(fx.meta.request.model), messages: [], stream: fx.meta.kind === 'sse' };
}

function runJson(fx: Fixture) {
  const res = fixtureResponse(fx, 'openai');
  if (fx.meta.kind === 'error') return normalizeForCompare(provider.error(res, fx.body.toString('utf8')));
  try {
    return normalizeForCompare(provider.parse(JSON.parse(fx.body.toString('utf8')), res));
  } catch (err) {
    return normalizeForCompare(err as FiberError);
  }
}

function parsed(name: string): ParsedResult {
  const fx = byName.get(name)!;
  return provider.parse(JSON.parse(fx.body.toString('utf8')), fixtureResponse(fx, 'openai'));
}

function runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun {
  const res = fixtureResponse(fx, 'openai');
  return decodeSse(provider.stream(res, request(fx)), pieces, res, END);
}

function finalOf(name: string): { events: StreamEvent[]; final: StreamFinal } {
  const fx = byName.get(name)!;
  const run = runSse(fx, [fx.body]);
  return { events: run.events, final: run.outcome as StreamFinal };
}

/** What the caller would see of the events: type and payload, without the timestamps. */
function shape(events: readonly StreamEvent[]): unknown[] {
  return events.map((e) => {
    const { t: _t, ...rest } = e;
    return rest;
  });
}

it('finds the Responses fixtures', () => {
  for (const name of ['text', 'text-stream', 'tool-call', 'tool-call-stream', 'reasoning-stream', 'incomplete-stream', 'failed-stream']) {
    expect(byName.has(name), name).toBe(true);
  }
  expect(sseCases.length).toBeGreaterThanOrEqual(7);
});

describe('Responses JSON and error fixtures', () => {
  it.each(jsonCases.map((f) => [f.name, f] as const))('%s matches its expectation', (_name, fx) => {
    expect(comparable(runJson(fx))).toEqual(comparable(fx.expected));
  });

  it('reports usage details and keeps nothing for a turn without reasoning', () => {
    const result = parsed('text');
    expect(result.usage).toEqual({ prompt: 9, completion: 10, total: 19, costEstimate: null, cachedPrompt: 0, reasoning: 0 });
    expect(result.reasoning).toBeNull();
    expect(result.providerData).toBeUndefined();
  });
});

describe('Responses stream fixtures', () => {
  it.each(sseCases.map((f) => [f.name, f] as const))('%s matches its expectation fed whole', (_name, fx) => {
    const run = runSse(fx, [fx.body]);
    expect(comparable(normalizeForCompare(run.outcome))).toEqual(comparable(fx.expected));
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s emits events consistent with its result', (_name, fx) => {
    const { events, outcome } = runSse(fx, [fx.body]);
    if ('error' in fx.expected) return;
    const final = outcome as StreamFinal;
    const text = events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta);
    expect(text.join('')).toBe(final.text);
    expect(text.every((d) => d !== '')).toBe(true);
    const reasoning = events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta);
    expect(reasoning.length > 0 ? reasoning.join('') : null).toBe(final.reasoning);
    expect(events.filter((e) => e.type === 'tool_call').map((e) => (e as { toolCall: unknown }).toolCall)).toEqual(final.toolCalls);
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage.length > 0 ? (usage[usage.length - 1] as { usage: unknown }).usage : null).toEqual(final.usage);
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result split in two at every byte of its first 300', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const want = comparable(fx.expected);
    const end = Math.min(300, fx.body.length - 1);
    for (let i = 1; i <= end; i++) {
      const run = runSse(fx, [fx.body.subarray(0, i), fx.body.subarray(i)]);
      expect(comparable(normalizeForCompare(run.outcome)), `split at ${i}`).toEqual(want);
      expect(shape(run.events), `split at ${i}`).toEqual(shape(whole.events));
    }
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result split in two every 7 bytes of the whole body', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const want = comparable(fx.expected);
    for (let i = 301; i < fx.body.length; i += 7) {
      const run = runSse(fx, [fx.body.subarray(0, i), fx.body.subarray(i)]);
      expect(comparable(normalizeForCompare(run.outcome)), `split at ${i}`).toEqual(want);
      expect(shape(run.events), `split at ${i}`).toEqual(shape(whole.events));
    }
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result fed in random 1-7 byte pieces', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const want = comparable(fx.expected);
    for (const seed of SEEDS) {
      const run = runSse(fx, randomPieces(fx.body, seed));
      expect(comparable(normalizeForCompare(run.outcome)), `seed ${seed}`).toEqual(want);
      expect(shape(run.events), `seed ${seed}`).toEqual(shape(whole.events));
    }
  });

  it('keeps multi-byte text intact across every split', () => {
    const { final } = finalOf('text-stream');
    expect(final.text).toContain('👋');
    expect(final.text).toContain('—');
  });

  it('separates reasoning summaries from text, one blank line between summary parts', () => {
    const { events, final } = finalOf('reasoning-stream');
    expect(final.text).toBe('The answer is 42.');
    expect(final.reasoning).toBe('**Recalling the reference**\n\nThe user wants the answer to everything.\n\n**Answering briefly**\n\nI will state 42.');
    const chunks = events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta).join('');
    expect(chunks).not.toContain('Recalling');
    // Reasoning comes first, as on the wire.
    expect(events.findIndex((e) => e.type === 'reasoning')).toBeLessThan(events.findIndex((e) => e.type === 'chunk'));
  });

  it('reports cached and reasoning tokens', () => {
    const { final } = finalOf('reasoning-stream');
    expect(final.usage).toEqual({ prompt: 1187, completion: 214, total: 1401, costEstimate: null, cachedPrompt: 1024, reasoning: 192 });
  });

  it('keeps the encrypted reasoning item (without ids: the response was not stored) for the next turn', () => {
    const { final } = finalOf('reasoning-stream');
    const items = (final.providerData as { openaiResponses: { items: Array<Record<string, unknown>> } }).openaiResponses.items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ type: 'reasoning', summary: [{ type: 'summary_text' }, { type: 'summary_text' }] });
    expect(items[0]!.encrypted_content).toMatch(/^gAAAAAB/);
    expect(items[0]!.id).toBeUndefined();
  });

  it('emits each tool call once, when its arguments are done, before the end marker', () => {
    const fx = byName.get('tool-call-stream')!;
    const { events } = runSse(fx, [fx.body]);
    const kinds = events.map((e) => e.type);
    expect(kinds).toEqual(['tool_call', 'tool_call', 'usage']);
  });

  it('maps response.incomplete with max_output_tokens to length, with its partial text', () => {
    const { final } = finalOf('incomplete-stream');
    expect(final.finishReason).toBe('length');
    expect(final.text).toBe('Once upon a time, in a land far');
  });

  it('throws the typed error of response.failed and of an error event', () => {
    const failed = runSse(byName.get('failed-stream')!, [byName.get('failed-stream')!.body]).outcome;
    expect(failed).toMatchObject({ name: 'ServerError', status: 500, code: 'server_error', retryable: true });
    const quota = runSse(byName.get('error-event-stream')!, [byName.get('error-event-stream')!.body]).outcome;
    expect(quota).toMatchObject({ name: 'RateLimitError', status: 429, code: 'insufficient_quota' });
  });

  it('reports a stream cut before its end event as a retryable StreamError with status 200', () => {
    const fx = sseCases.find((f) => f.meta.truncated);
    expect(fx).toBeDefined();
    const { outcome } = runSse(fx!, [fx!.body]);
    expect(outcome).toMatchObject({ name: 'StreamError', status: 200, retryable: true, code: 'missing_end_marker' });
  });
});
