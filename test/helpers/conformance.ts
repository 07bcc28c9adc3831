/**
 * The conformance suite every adapter runs against its recorded fixtures (`fixtures.ts`). A provider's
 * `fixtures.test.ts` builds a kit with `conformance(...)` and registers the shared tests inside its own `describe`
 * blocks, next to the tests only it needs:
 *
 * - JSON and error fixtures: parse (or map the error of) each body and compare with its oracle;
 * - stream fixtures: decode each `.sse` body whole, split in two at every byte of its first 300, and in seeded
 *   random 1-7 byte pieces; every way must give the oracle's outcome and the same events; the events must agree
 *   with the final result;
 * - a stream cut before its end marker is a retryable `StreamError` with status 200.
 *
 * Below the kit: the checks every adapter factory and `prepare` share (`expectCommonOptionChecks`,
 * `expectSkipsPollutingProviderOptions`) and the small throw-catching helpers the provider tests use.
 */
import { expect, it } from 'vitest';
import { ConfigError, type FiberError } from '../../src/errors.js';
import type { NormalizedRequest, Provider, ResponseInfo, StreamEvent, StreamFinal, WireRequest } from '../../src/types.js';
import { comparable, decodeSse, type Fixture, normalizeForCompare, normalizeRun, randomPieces, type SseRun } from './fixtures.js';

/** Seeds of the random-piece runs. */
export const SEEDS: readonly number[] = [1, 2, 3, 42, 1337];

export interface ConformanceSpec {
  /** The adapter under test. */
  provider: Provider;
  fixtures: readonly Fixture[];
  /** The `ResponseInfo` a fixture was served with (`fixtureResponse(fx, name)`, plus what the provider adds). */
  response: (fx: Fixture) => ResponseInfo;
  /** The request a fixture answers. @default its recorded model, `stream` for `.sse` fixtures */
  request?: (fx: Fixture) => NormalizedRequest;
  /** The end marker, as the missing-marker error names it (e.g. ``'`data: [DONE]`'``). */
  endMarker: string;
  /** What a fixture is compared with, in test names. @default 'the oracle' */
  oracle?: string;
  /**
   * How `usage` events must agree with the final usage: the last one equals it (`'last'`), or there is exactly one
   * when there is usage at all, and it equals it (`'once'`: Gemini reports usage only at the end marker).
   * @default 'last'
   */
  usageEvents?: 'last' | 'once';
  /**
   * How `reasoning` events must agree with the final reasoning: there are some exactly when it is non-null
   * (`'present'`), or their deltas join to it (`'joined'`). Unchecked when absent.
   */
  reasoningEvents?: 'present' | 'joined';
}

export interface ConformanceKit {
  jsonCases: Fixture[];
  sseCases: Fixture[];
  byName: ReadonlyMap<string, Fixture>;
  /** A JSON or error fixture's outcome, normalized for comparison. */
  runJson(fx: Fixture): ReturnType<typeof normalizeForCompare>;
  /** A stream fixture's events and outcome, fed to the decoder in these pieces. */
  runSse(fx: Fixture, pieces: readonly Buffer[]): SseRun;
  /** Asserts that feeding `pieces` gives the oracle's outcome and the events of the whole body (`whole`). */
  expectSameRun(fx: Fixture, pieces: readonly Buffer[], whole: SseRun, note?: string): void;
  /** Registers "<case> matches the oracle" for every JSON and error fixture. */
  itMatchesJsonFixtures(): void;
  /** Registers the whole, split and random-piece runs and the events-vs-result check for every stream fixture. */
  itMatchesStreamFixtures(): void;
  /**
   * Registers the cut-stream test: the truncated fixture ends in a retryable `StreamError` (status 200,
   * `missing_end_marker`), after exactly `eventTypes` when given.
   */
  itReportsTruncation(title: string, eventTypes?: readonly string[]): void;
}

/** What the caller would see of the events: type and payload, without the timestamps. */
export function shape(events: readonly StreamEvent[]): unknown[] {
  return events.map((e) => {
    const { t: _t, ...rest } = e;
    return rest;
  });
}

function defaultRequest(fx: Fixture): NormalizedRequest {
  return { model: String(fx.meta.request.model), messages: [], stream: fx.meta.kind === 'sse' };
}

/**
 * The conformance kit of one adapter over its fixtures.
 *
 * @example
 * const kit = conformance({ provider: openai(), fixtures: loadFixtures('openai'), response: (fx) => fixtureResponse(fx, 'openai'), endMarker: '`data: [DONE]`' });
 * describe('openai stream fixtures', () => kit.itMatchesStreamFixtures());
 */
export function conformance(spec: ConformanceSpec): ConformanceKit {
  const { provider, fixtures, response, endMarker, oracle = 'the oracle', usageEvents = 'last', reasoningEvents } = spec;
  const request = spec.request ?? defaultRequest;
  const jsonCases = fixtures.filter((f) => f.meta.kind !== 'sse');
  const sseCases = fixtures.filter((f) => f.meta.kind === 'sse');
  const byName = new Map(fixtures.map((f) => [f.name, f]));

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
    return decodeSse(provider.stream(res, request(fx)), pieces, res, endMarker);
  }

  function expectSameRun(fx: Fixture, pieces: readonly Buffer[], whole: SseRun, note?: string): void {
    const run = runSse(fx, pieces);
    expect(comparable(normalizeRun(run)), note).toEqual(comparable(fx.expected));
    expect(shape(run.events), note).toEqual(shape(whole.events));
  }

  const streamCases = () => sseCases.map((f) => [f.name, f] as const);

  return {
    jsonCases,
    sseCases,
    byName,
    runJson,
    runSse,
    expectSameRun,

    itMatchesJsonFixtures() {
      it.each(jsonCases.map((f) => [f.name, f] as const))(`%s matches ${oracle}`, (_name, fx) => {
        expect(comparable(runJson(fx))).toEqual(comparable(fx.expected));
      });
    },

    itMatchesStreamFixtures() {
      it.each(streamCases())(`%s matches ${oracle} fed whole`, (_name, fx) => {
        const run = runSse(fx, [fx.body]);
        expect(comparable(normalizeRun(run))).toEqual(comparable(fx.expected));
      });

      it.each(streamCases())('%s emits events consistent with its result', (_name, fx) => {
        const { events, outcome } = runSse(fx, [fx.body]);
        if ('error' in fx.expected) return;
        const final = outcome as StreamFinal;
        const text = events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta);
        // The result's text is the delivered chunks (decoders keep no copy): they must spell the expected text.
        expect(text.join('')).toBe((fx.expected as { text: string }).text);
        expect(text.every((d) => d !== '')).toBe(true);
        if (reasoningEvents === 'joined') {
          const reasoning = events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta);
          expect(reasoning.length > 0 ? reasoning.join('') : null).toBe(final.reasoning);
        }
        expect(events.filter((e) => e.type === 'tool_call').map((e) => (e as { toolCall: unknown }).toolCall)).toEqual(final.toolCalls);
        const usage = events.filter((e) => e.type === 'usage');
        if (usageEvents === 'once') expect(usage).toHaveLength(final.usage === null ? 0 : 1);
        const reported = usageEvents === 'once' ? usage[0] : usage[usage.length - 1];
        expect(usage.length > 0 ? (reported as { usage: unknown }).usage : null).toEqual(final.usage);
        if (reasoningEvents === 'present') expect(events.some((e) => e.type === 'reasoning')).toBe(final.reasoning !== null);
      });

      it.each(streamCases())('%s gives the same result split in two at every byte of its first 300', (_name, fx) => {
        const whole = runSse(fx, [fx.body]);
        const end = Math.min(300, fx.body.length - 1);
        for (let i = 1; i <= end; i++) expectSameRun(fx, [fx.body.subarray(0, i), fx.body.subarray(i)], whole, `split at ${i}`);
      });

      it.each(streamCases())('%s gives the same result fed in random 1-7 byte pieces', (_name, fx) => {
        const whole = runSse(fx, [fx.body]);
        for (const seed of SEEDS) expectSameRun(fx, randomPieces(fx.body, seed), whole, `seed ${seed}`);
      });
    },

    itReportsTruncation(title, eventTypes) {
      it(title, () => {
        const fx = sseCases.find((f) => f.meta.truncated);
        expect(fx).toBeDefined();
        const { events, outcome } = runSse(fx!, [fx!.body]);
        expect(outcome).toMatchObject({ name: 'StreamError', status: 200, retryable: true, code: 'missing_end_marker' });
        // What arrived before the cut was delivered, in order.
        if (eventTypes !== undefined) expect(events.map((e) => e.type)).toEqual(eventTypes);
      });
    },
  };
}

/** Runs `fn`, expecting it to throw a `ConfigError`, and returns that error. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/**
 * Asserts the option checks every built-in adapter factory makes: a bad name, key, base URL or header, or options
 * that are not an object, throw `ConfigError`, and the key is never echoed.
 *
 * @param factory - the factory (`openai`), called with each bad option set
 * @param key - a canary key
 * @param baseUrlPath - a path for the credentials-in-URL case (`'/v1'`)
 */
export function expectCommonOptionChecks(factory: (options?: never) => Provider, key: string, baseUrlPath = ''): void {
  const make = (options: unknown) => () => factory(options as never);
  configError(make({ name: '' }));
  configError(make({ apiKey: 42 }));
  configError(make({ apiKey: '' }));
  configError(make({ baseUrl: 'ftp://example.com' }));
  configError(make({ baseUrl: 'not a url' }));
  expect(configError(make({ apiKey: key, baseUrl: `https://user:${key}@example.com${baseUrlPath}` })).message).not.toContain(key);
  configError(make({ headers: { 'x-bad': 'a\r\nb' } }));
  configError(make({ headers: { 'bad name': 'a' } }));
  configError(make(null));
}

/** Runs `fn`, expecting it to throw, and returns what it threw. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/**
 * Asserts that a `prepare` copies `providerOptions` into the body but none of their prototype-polluting keys
 * (`__proto__`, `constructor`, `prototype`), and that nothing reached `Object.prototype`.
 *
 * @param prepare - builds the wire request for a request carrying these `providerOptions`
 */
export function expectSkipsPollutingProviderOptions(prepare: (providerOptions: Record<string, unknown>) => WireRequest): void {
  const providerOptions = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"x": 1}, "prototype": 1, "ok": 1}');
  const wire = prepare(providerOptions);
  const b = JSON.parse(wire.body);
  expect(b.ok).toBe(1);
  expect(Object.keys(b)).not.toContain('constructor');
  expect(Object.keys(b)).not.toContain('prototype');
  expect(wire.body).not.toContain('polluted');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}
