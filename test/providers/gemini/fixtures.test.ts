import { describe, expect, it } from 'vitest';
import { gemini } from '../../../providers/gemini/index.js';
import type { FiberError } from '../../../src/errors.js';
import type { NormalizedRequest, ResponseInfo, StreamEvent } from '../../../src/types.js';
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

const provider = gemini();
const fixtures = loadFixtures('gemini');
const jsonCases = fixtures.filter((f) => f.meta.kind !== 'sse');
const sseCases = fixtures.filter((f) => f.meta.kind === 'sse');
const SEEDS = [1, 2, 3, 42, 1337];

/** Gemini names the model in the path (`/v1beta/models/<model>:<method>`), not in the body. */
function modelOf(fx: Fixture): string {
  const m = /\/models\/([^/:]+):/.exec(fx.meta.path);
  return m === null ? 'unknown-model' : decodeURIComponent(m[1]!);
}

function response(fx: Fixture): ResponseInfo {
  return { ...fixtureResponse(fx, 'gemini'), model: modelOf(fx) };
}

function request(fx: Fixture): NormalizedRequest {
  return { model: modelOf(fx), messages: [], stream: fx.meta.kind === 'sse' || fx.meta.path.includes(':streamGenerateContent') };
}

function runJson(fx: Fixture) {
  const res = response(fx);
  if (fx.meta.kind === 'error') return normalizeForCompare(provider.error(res, fx.body.toString('utf8')));
  try {
    return normalizeForCompare(provider.parse(JSON.parse(fx.body.toString('utf8')), res));
  } catch (err) {
    return normalizeForCompare(err as FiberError);
  }
}

function runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun {
  const res = response(fx);
  return decodeSse(provider.stream(res, request(fx)), pieces, res, 'a candidate finishReason');
}

/** What the caller would see of the events: type and payload, without the timestamps. */
function shape(events: readonly StreamEvent[]): unknown[] {
  return events.map((e) => {
    const { t: _t, ...rest } = e;
    return rest;
  });
}

it('finds the gemini fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(19);
  expect(sseCases.length).toBeGreaterThan(0);
  // The recorded Gemini streams are framed with CRLF: the split tests below cut inside `\r\n\r\n` too.
  expect(sseCases.some((f) => f.body.includes('\r\n\r\n'))).toBe(true);
});

describe('gemini JSON and error fixtures', () => {
  it.each(jsonCases.map((f) => [f.name, f] as const))('%s matches the oracle', (_name, fx) => {
    expect(comparable(runJson(fx))).toEqual(comparable(fx.expected));
  });

  it('parses a JSON google.rpc.Status served as text/event-stream (error-404-model-not-found)', () => {
    const fx = jsonCases.find((f) => f.name === 'error-404-model-not-found')!;
    expect(fx.meta.headers['content-type']).toBe('text/event-stream');
    const err = provider.error(response(fx), fx.body.toString('utf8'));
    expect(err).toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND', status: 404 });
    expect(err.message.startsWith('gemini custom-gemini-2.0-flash: models/custom-gemini-2.0-flash is not found')).toBe(true);
  });

  it('reads RetryInfo.retryDelay from the body when no header says how long (error-429-resource-exhausted)', () => {
    const fx = jsonCases.find((f) => f.name === 'error-429-resource-exhausted')!;
    expect(provider.error(response(fx), fx.body.toString('utf8'))).toMatchObject({ name: 'RateLimitError', retryAfterMs: 7000, retryable: true });
  });
});

describe('gemini stream fixtures', () => {
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
    expect(usage).toHaveLength(final.usage === null ? 0 : 1);
    expect(usage.length > 0 ? (usage[0] as { usage: unknown }).usage : null).toEqual(final.usage);
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

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result split in two around every event boundary', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const want = comparable(fx.expected);
    // Every position within 4 bytes of each `\r\n\r\n` / `\n\n` separator, past the first 300 bytes too.
    const positions = new Set<number>();
    const separator = /\r?\n\r?\n/g;
    const text = fx.body.toString('latin1');
    for (let m = separator.exec(text); m !== null; m = separator.exec(text)) {
      for (let d = -4; d <= 4; d++) if (m.index + d > 0 && m.index + d < fx.body.length) positions.add(m.index + d);
    }
    expect(positions.size).toBeGreaterThan(0);
    for (const i of positions) {
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

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result reframed with LF instead of CRLF', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    const lf = Buffer.from(fx.body.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    for (const pieces of [[lf], randomPieces(lf, 7)]) {
      const run = runSse(fx, pieces);
      expect(comparable(normalizeForCompare(run.outcome))).toEqual(comparable(fx.expected));
      expect(shape(run.events)).toEqual(shape(whole.events));
    }
  });

  it('reports a stream that ends without a finishReason as a retryable StreamError with status 200', () => {
    const fx = sseCases.find((f) => f.meta.truncated);
    expect(fx).toBeDefined();
    const { events, outcome } = runSse(fx!, [fx!.body]);
    expect(outcome).toMatchObject({ name: 'StreamError', status: 200, retryable: true, code: 'missing_end_marker' });
    // The text that did arrive was delivered, but no usage event: usage is only reported at the end marker.
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk']);
  });

  it('throws the in-band error with the status it names (stream-error-event)', () => {
    const fx = sseCases.find((f) => f.name === 'stream-error-event')!;
    const { events, outcome } = runSse(fx, [fx.body]);
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk']);
    expect(outcome).toMatchObject({ name: 'OverloadedError', status: 503, code: 'UNAVAILABLE', retryable: true });
  });
});
