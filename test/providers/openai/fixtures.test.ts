import { describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import { conformance } from '../../helpers/conformance.js';
import { fixtureResponse, loadFixtures } from '../../helpers/fixtures.js';

const fixtures = loadFixtures('openai');
const kit = conformance({
  provider: openai(),
  fixtures,
  response: (fx) => fixtureResponse(fx, 'openai'),
  endMarker: '`data: [DONE]`',
});

it('finds the openai fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(21);
  expect(kit.sseCases.length).toBeGreaterThan(0);
});

describe('openai JSON and error fixtures', () => {
  kit.itMatchesJsonFixtures();
});

describe('openai stream fixtures', () => {
  kit.itMatchesStreamFixtures();
  kit.itReportsTruncation('reports a stream cut before [DONE] as a retryable StreamError with status 200');
});
