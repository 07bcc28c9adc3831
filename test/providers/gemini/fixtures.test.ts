import { describe, expect, it } from 'vitest';
import { gemini } from '../../../providers/gemini/index.js';
import type { NormalizedRequest, ResponseInfo } from '../../../src/types.js';
import { conformance } from '../../helpers/conformance.js';
import { type Fixture, fixtureResponse, loadFixtures, randomPieces } from '../../helpers/fixtures.js';

const provider = gemini();
const fixtures = loadFixtures('gemini');

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

const kit = conformance({ provider, fixtures, response, request, endMarker: 'a candidate finishReason', usageEvents: 'once' });
const { jsonCases, sseCases } = kit;

it('finds the gemini fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(19);
  expect(sseCases.length).toBeGreaterThan(0);
  // The recorded Gemini streams are framed with CRLF: the split tests below cut inside `\r\n\r\n` too.
  expect(sseCases.some((f) => f.body.includes('\r\n\r\n'))).toBe(true);
});

describe('gemini JSON and error fixtures', () => {
  kit.itMatchesJsonFixtures();

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
  // Usage is reported once, at the end marker (`usageEvents: 'once'`).
  kit.itMatchesStreamFixtures();

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result split in two around every event boundary', (_name, fx) => {
    const whole = kit.runSse(fx, [fx.body]);
    // Every position within 4 bytes of each `\r\n\r\n` / `\n\n` separator, past the first 300 bytes too.
    const positions = new Set<number>();
    const separator = /\r?\n\r?\n/g;
    const text = fx.body.toString('latin1');
    for (let m = separator.exec(text); m !== null; m = separator.exec(text)) {
      for (let d = -4; d <= 4; d++) if (m.index + d > 0 && m.index + d < fx.body.length) positions.add(m.index + d);
    }
    expect(positions.size).toBeGreaterThan(0);
    for (const i of positions) kit.expectSameRun(fx, [fx.body.subarray(0, i), fx.body.subarray(i)], whole, `split at ${i}`);
  });

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result reframed with LF instead of CRLF', (_name, fx) => {
    const whole = kit.runSse(fx, [fx.body]);
    const lf = Buffer.from(fx.body.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    for (const pieces of [[lf], randomPieces(lf, 7)]) kit.expectSameRun(fx, pieces, whole);
  });

  // The text that did arrive was delivered, but no usage event: usage is only reported at the end marker.
  kit.itReportsTruncation('reports a stream that ends without a finishReason as a retryable StreamError with status 200', ['chunk', 'chunk', 'chunk']);

  it('throws the in-band error with the status it names (stream-error-event)', () => {
    const fx = sseCases.find((f) => f.name === 'stream-error-event')!;
    const { events, outcome } = kit.runSse(fx, [fx.body]);
    expect(events.map((e) => e.type)).toEqual(['chunk', 'chunk']);
    expect(outcome).toMatchObject({ name: 'OverloadedError', status: 503, code: 'UNAVAILABLE', retryable: true });
  });
});
