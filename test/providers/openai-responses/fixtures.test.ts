import { describe, expect, it } from 'vitest';
import { openai } from '../../../providers/openai/index.js';
import type { ParsedResult, StreamEvent, StreamFinal } from '../../../src/types.js';
import { conformance } from '../../helpers/conformance.js';
import { fixtureResponse, loadFixturesFrom, streamText } from '../../helpers/fixtures.js';

const provider = openai({ api: 'responses' });
const fixtures = loadFixturesFrom(new URL('../../fixtures/openai-responses/', import.meta.url));
const kit = conformance({
  provider,
  fixtures,
  response: (fx) => fixtureResponse(fx, 'openai'),
  endMarker: 'response.completed / response.failed / response.incomplete',
  oracle: 'its expectation',
  reasoningEvents: 'joined',
});
const { byName, runSse, sseCases } = kit;

function parsed(name: string): ParsedResult {
  const fx = byName.get(name)!;
  return provider.parse(JSON.parse(fx.body.toString('utf8')), fixtureResponse(fx, 'openai'));
}

/** A fixture stream decoded whole: its events, final facts, and text (the delivered `chunk` deltas, joined). */
function finalOf(name: string): { events: StreamEvent[]; final: StreamFinal; text: string } {
  const fx = byName.get(name)!;
  const run = runSse(fx, [fx.body]);
  return { events: run.events, final: run.outcome as StreamFinal, text: streamText(run.events) };
}

it('finds the Responses fixtures', () => {
  for (const name of ['text', 'text-stream', 'tool-call', 'tool-call-stream', 'reasoning-stream', 'incomplete-stream', 'failed-stream']) {
    expect(byName.has(name), name).toBe(true);
  }
  expect(sseCases.length).toBeGreaterThanOrEqual(7);
});

describe('Responses JSON and error fixtures', () => {
  kit.itMatchesJsonFixtures();

  it('reports usage details and keeps nothing for a turn without reasoning', () => {
    const result = parsed('text');
    expect(result.usage).toEqual({ prompt: 9, completion: 10, total: 19, costEstimate: null, cachedPrompt: 0, reasoning: 0 });
    expect(result.reasoning).toBeNull();
    expect(result.providerData).toBeUndefined();
  });
});

describe('Responses stream fixtures', () => {
  kit.itMatchesStreamFixtures();

  it.each(sseCases.map((f) => [f.name, f] as const))('%s gives the same result split in two every 7 bytes of the whole body', (_name, fx) => {
    const whole = runSse(fx, [fx.body]);
    for (let i = 301; i < fx.body.length; i += 7) kit.expectSameRun(fx, [fx.body.subarray(0, i), fx.body.subarray(i)], whole, `split at ${i}`);
  });

  it('keeps multi-byte text intact across every split', () => {
    const { text } = finalOf('text-stream');
    expect(text).toContain('👋');
    expect(text).toContain('—');
  });

  it('separates reasoning summaries from text, one blank line between summary parts', () => {
    const { events, final, text } = finalOf('reasoning-stream');
    expect(text).toBe('The answer is 42.');
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
    const { final, text } = finalOf('incomplete-stream');
    expect(final.finishReason).toBe('length');
    expect(text).toBe('Once upon a time, in a land far');
  });

  it('throws the typed error of response.failed and of an error event', () => {
    const failed = runSse(byName.get('failed-stream')!, [byName.get('failed-stream')!.body]).outcome;
    expect(failed).toMatchObject({ name: 'ServerError', status: 500, code: 'server_error', retryable: true });
    const quota = runSse(byName.get('error-event-stream')!, [byName.get('error-event-stream')!.body]).outcome;
    expect(quota).toMatchObject({ name: 'RateLimitError', status: 429, code: 'insufficient_quota' });
  });

  kit.itReportsTruncation('reports a stream cut before its end event as a retryable StreamError with status 200');
});
