import { describe, expect, it } from 'vitest';
import { anthropic } from '../../../providers/anthropic/index.js';
import { conformance, shape } from '../../helpers/conformance.js';
import { fixtureResponse, loadFixtures } from '../../helpers/fixtures.js';

const fixtures = loadFixtures('anthropic');
const kit = conformance({
  provider: anthropic(),
  fixtures,
  response: (fx) => fixtureResponse(fx, 'anthropic'),
  endMarker: '`message_stop`',
  reasoningEvents: 'present',
});

it('finds the anthropic fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(19);
  expect(kit.sseCases.length).toBeGreaterThan(0);
});

describe('anthropic JSON and error fixtures', () => {
  kit.itMatchesJsonFixtures();
});

describe('anthropic stream fixtures', () => {
  kit.itMatchesStreamFixtures();
  kit.itReportsTruncation('reports a stream cut before message_stop as a retryable StreamError with status 200', ['chunk', 'chunk', 'chunk']);

  it('throws OverloadedError (529, retryable) for the in-stream overloaded_error, after the text that preceded it', () => {
    const fx = kit.sseCases.find((f) => f.name === 'stream-ping-overloaded-error')!;
    const { events, outcome } = kit.runSse(fx, [fx.body]);
    expect(outcome).toMatchObject({ name: 'OverloadedError', status: 529, retryable: true, code: 'overloaded_error' });
    expect(shape(events)).toEqual([
      { type: 'chunk', delta: 'Here is the first part of' },
      { type: 'chunk', delta: ' a longer answer' },
    ]);
  });
});
