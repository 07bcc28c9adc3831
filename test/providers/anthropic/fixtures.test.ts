import { describe, expect, it } from 'vitest';
import { anthropic } from '../../../providers/anthropic/index.js';
import type { FiberError } from '../../../src/errors.js';
import type { NormalizedRequest, StreamEvent } from '../../../src/types.js';
import {
  comparable,
  decodeSse,
  type Fixture,
  fixtureResponse,
  loadFixtures,
  normalizeForCompare,
  randomPieces,
  type SseRun,
} from '../../helpers/fixtures.js';

const provider = anthropic();
const fixtures = loadFixtures('anthropic');
const jsonCases = fixtures.filter((f) => f.meta.kind !== 'sse');
const sseCases = fixtures.filter((f) => f.meta.kind === 'sse');
const SEEDS = [1, 2, 3, 42, 1337];

function request(fx: Fixture): NormalizedRequest {
  return { model: String(fx.meta.request.model), messages: [], stream: fx.meta.kind === 'sse' };
}

function runJson(fx: Fixture) {
  const res = fixtureResponse(fx, 'anthropic');
  if (fx.meta.kind === 'error') return normalizeForCompare(provider.error(res, fx.body.toString('utf8')));
  try {
    return normalizeForCompare(provider.parse(JSON.parse(fx.body.toString('utf8')), res));
  } catch (err) {
    return normalizeForCompare(err as FiberError);
  }
}

function runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun {
  const res = fixtureResponse(fx, 'anthropic');
  return decodeSse(provider.stream(res, request(fx)), pieces, res, '`message_stop`');
}

/** What the caller would see of the events: type and payload, without the timestamps. */
function shape(events: readonly StreamEvent[]): unknown[] {
  return events.map((e) => {
    const { t: _t, ...rest } = e;
    return rest;
  });
}

it('finds the anthropic fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(19);
  expect(sseCases.length).toBeGreaterThan(0);
});

describe('anthropic JSON and error fixtures', () => {
  it.each(jsonCases.map((f) => [f.name, f] as const))('%s matches the oracle', (_name, fx) => {
    expect(comparable(runJson(fx))).toEqual(comparable(fx.expected));
  });
});

describe('anthropic stream fixtures', () => {
  it.each(sseCases.map((f) => [f.name, f] as const))('%s matches the oracle fed whole', (_name, fx) => {
    const run = runSse(fx, [fx.body]);
    expect(comparable(normalizeForCompare(run.outcome))).toEqual(comparable(fx.expected));
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s emits events consistent with its result', (_name, fx) => {
    const { events, outcome } = runSse(fx, [fx.body]);
    if ('error' in fx.expected) return;
    const final = outcome as Exclude<SseRun['outcome'], FiberError>;
    const text = events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta);
    expect(text.join('')).toBe(final.text);
    expect(text.every((d) => d !== '')).toBe(true);
    expect(events.filter((e) => e.type === 'tool_call').map((e) => (e as { toolCall: unknown }).toolCall)).toEqual(final.toolCalls);
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage.length > 0 ? (usage[usage.length - 1] as { usage: unknown }).usage : null).toEqual(final.usage);
    expect(events.some((e) => e.type === 'reasoning')).toBe(final.reasoning !== null);
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

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result fed in random 1-7 byte pieces', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const want = comparable(fx.expected);
    for (const seed of SEEDS) {
      const run = runSse(fx, randomPieces(fx.body, seed));
      expect(comparable(normalizeForCompare(run.outcome)), `seed ${seed}`).toEqual(want);
      expect(shape(run.events), `seed ${seed}`).toEqual(shape(whole.events));
    }
  });

  it('reports a stream cut before message_stop as a retryable StreamError with status 200', () => {
    const fx = sseCases.find((f) => f.meta.truncated);
    expect(fx).toBeDefined();
    const { events, outcome } = runSse(fx!, [fx!.body]);
    expect(outcome).toMatchObject({ name: 'StreamError', status: 200, retryable: true, code: 'missing_end_marker' });
    // What arrived before the cut was delivered, in order.
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk']);
  });

  it('throws OverloadedError (529, retryable) for the in-stream overloaded_error, after the text that preceded it', () => {
    const fx = sseCases.find((f) => f.name === 'stream-ping-overloaded-error')!;
    const { events, outcome } = runSse(fx, [fx.body]);
    expect(outcome).toMatchObject({ name: 'OverloadedError', status: 529, retryable: true, code: 'overloaded_error' });
    expect(shape(events)).toEqual([
      { type: 'chunk', delta: 'Here is the first part of' },
      { type: 'chunk', delta: ' a longer answer' },
    ]);
  });
});
