import { describe, expect, it } from 'vitest';
import { GeminiStreamDecoder } from '../../../providers/gemini/stream.js';
import { BadRequestError, OverloadedError, RateLimitError, ServerError, StreamError } from '../../../src/errors.js';
import type { ResponseInfo, StreamEvent } from '../../../src/types.js';
import { thrown } from '../../helpers/conformance.js';
import { streamText } from '../../helpers/fixtures.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: undefined, provider: 'gemini', model: 'gemini-2.5-flash' };

function chunk(parts: unknown[] | null, extra: Record<string, unknown> = {}, finishReason?: string): string {
  const candidate: Record<string, unknown> = { index: 0 };
  if (parts !== null) candidate.content = { parts, role: 'model' };
  if (finishReason !== undefined) candidate.finishReason = finishReason;
  return JSON.stringify({ candidates: [candidate], modelVersion: 'gemini-2.5-flash', responseId: 'r-1', ...extra });
}

function run(events: string[]): { decoder: GeminiStreamDecoder; out: StreamEvent[] } {
  const decoder = new GeminiStreamDecoder(res);
  const out: StreamEvent[] = [];
  events.forEach((data, i) => decoder.event(data, undefined, i, out));
  return { decoder, out };
}

describe('GeminiStreamDecoder', () => {
  it('emits one chunk per non-empty text part and finishes at the candidate finishReason', () => {
    const { decoder, out } = run([chunk([{ text: 'Hel' }]), chunk([{ text: '' }]), chunk([{ text: 'lo' }], {}, 'STOP')]);
    expect(out).toEqual([
      { type: 'chunk', delta: 'Hel', t: 0 },
      { type: 'chunk', delta: 'lo', t: 2 },
    ]);
    expect(decoder.finished).toBe(true);
    expect(streamText(out)).toBe('Hello');
    expect(decoder.final()).toMatchObject({ reasoning: null, finishReason: 'stop', usage: null, id: 'r-1', model: 'gemini-2.5-flash' });
    // The text is the delivered chunks: the decoder keeps no copy of it.
    expect(decoder.final()).not.toHaveProperty('text');
  });

  it('is not finished while no candidate carries a finishReason', () => {
    const usageMetadata = { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 };
    const { decoder, out } = run([chunk([{ text: 'a' }], { usageMetadata }), chunk([{ text: 'b' }], { usageMetadata })]);
    expect(decoder.finished).toBe(false);
    expect(out.map((e) => e.type)).toEqual(['chunk', 'chunk']);
  });

  it('emits thought parts as reasoning, never as chunk', () => {
    const { decoder, out } = run([chunk([{ text: 'Hmm, ', thought: true }]), chunk([{ text: 'ok.', thought: true }, { text: 'Three.' }], {}, 'STOP')]);
    expect(out.map((e) => [e.type, (e as { delta: string }).delta])).toEqual([
      ['reasoning', 'Hmm, '],
      ['reasoning', 'ok.'],
      ['chunk', 'Three.'],
    ]);
    expect(streamText(out)).toBe('Three.');
    expect(decoder.final()).toMatchObject({ reasoning: 'Hmm, ok.' });
  });

  it('emits each functionCall as a tool_call when it arrives, numbered call_<n> over the whole stream', () => {
    const { decoder, out } = run([
      chunk([{ text: 'Looking up.' }]),
      chunk([{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }]),
      chunk([{ functionCall: { id: 'own-id', name: 'get_weather', args: { city: 'Rome' } } }, { functionCall: { name: 'get_time' } }], {}, 'STOP'),
    ]);
    expect(out.filter((e) => e.type === 'tool_call')).toEqual([
      { type: 'tool_call', toolCall: { id: 'call_0', name: 'get_weather', arguments: { city: 'Paris' } }, t: 1 },
      { type: 'tool_call', toolCall: { id: 'own-id', name: 'get_weather', arguments: { city: 'Rome' } }, t: 2 },
      { type: 'tool_call', toolCall: { id: 'call_2', name: 'get_time', arguments: {} }, t: 2 },
    ]);
    expect(decoder.final().finishReason).toBe('tool_calls');
  });

  it('keeps the last usageMetadata and emits one usage event, at the end', () => {
    const { decoder, out } = run([
      chunk([{ text: 'a' }], { usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 } }),
      chunk([{ text: 'b' }], { usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 } }),
      chunk([{ text: 'c' }], { usageMetadata: { promptTokenCount: 6, candidatesTokenCount: 20, thoughtsTokenCount: 3, totalTokenCount: 29 } }, 'MAX_TOKENS'),
    ]);
    const want = { prompt: 6, completion: 23, total: 29, costEstimate: null, reasoning: 3 };
    expect(out.filter((e) => e.type === 'usage')).toEqual([{ type: 'usage', usage: want, t: 2 }]);
    expect(out[out.length - 1]!.type).toBe('usage');
    expect(decoder.final()).toMatchObject({ usage: want, finishReason: 'length' });
  });

  it('reports usage of an earlier chunk when the finishing chunk has none', () => {
    const { decoder, out } = run([chunk([{ text: 'a' }], { usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 1, totalTokenCount: 3 } }), chunk([], {}, 'STOP')]);
    expect(out.filter((e) => e.type === 'usage')).toHaveLength(1);
    expect(decoder.final().usage).toMatchObject({ prompt: 2, completion: 1, total: 3 });
  });

  it('takes id and model from the first chunk where they are non-empty', () => {
    const decoder = new GeminiStreamDecoder(res);
    const out: StreamEvent[] = [];
    decoder.event(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'a' }] } }], responseId: '', modelVersion: '' }), undefined, 0, out);
    decoder.event(chunk([{ text: 'b' }], { responseId: 'first', modelVersion: 'gemini-x' }), undefined, 1, out);
    decoder.event(chunk([], { responseId: 'second', modelVersion: 'gemini-y' }, 'STOP'), undefined, 2, out);
    expect(decoder.final()).toMatchObject({ id: 'first', model: 'gemini-x' });
  });

  it('ends a blocked prompt (promptFeedback.blockReason) with content_filter', () => {
    const blocked = JSON.stringify({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, responseId: 'b', modelVersion: 'm' });
    const { decoder, out } = run([blocked]);
    expect(decoder.finished).toBe(true);
    expect(out).toEqual([{ type: 'usage', usage: { prompt: 9, completion: 0, total: 9, costEstimate: null }, t: 0 }]);
    expect(streamText(out)).toBe('');
    expect(decoder.final()).toMatchObject({ finishReason: 'content_filter' });
  });

  it('maps the safety family to content_filter and unknown reasons to other', () => {
    expect(run([chunk([{ text: 'x' }], {}, 'RECITATION')]).decoder.final().finishReason).toBe('content_filter');
    expect(run([chunk(null, {}, 'SAFETY')]).decoder.final().finishReason).toBe('content_filter');
    expect(run([chunk([], {}, 'MALFORMED_FUNCTION_CALL')]).decoder.final().finishReason).toBe('other');
  });

  it('ignores everything after the end marker', () => {
    const { out } = run([chunk([{ text: 'a' }], {}, 'STOP'), chunk([{ text: 'b' }]), 'not json']);
    expect(out).toHaveLength(1);
    expect(streamText(out)).toBe('a');
  });

  it('reads only candidate 0 and skips empty data events', () => {
    const other = JSON.stringify({ candidates: [{ index: 1, content: { parts: [{ text: 'other' }] }, finishReason: 'STOP' }] });
    const { decoder, out } = run(['', other, chunk([{ text: 'mine' }], {}, 'STOP')]);
    expect(out).toEqual([{ type: 'chunk', delta: 'mine', t: 2 }]);
    expect(streamText(out)).toBe('mine');
    expect(decoder.final()).toMatchObject({ finishReason: 'stop', id: 'r-1' });
  });

  it('throws the typed error for an in-band error chunk, with the status it names, retryable', () => {
    const err = thrown(() => run([chunk([{ text: 'a' }]), '{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}']));
    expect(err).toBeInstanceOf(OverloadedError);
    expect(err).toMatchObject({ status: 503, code: 'UNAVAILABLE', retryable: true });
    expect(err.message).toBe('gemini gemini-2.5-flash: The model is overloaded. (503)');
    expect(thrown(() => run(['{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}']))).toMatchObject({
      name: 'RateLimitError',
      retryAfterMs: 2000,
    });
    expect(thrown(() => run(['{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}']))).toBeInstanceOf(BadRequestError);
    const unknown = thrown(() => run(['{"error":{"message":"?"}}']));
    expect(unknown).toBeInstanceOf(ServerError);
    expect(unknown).toMatchObject({ status: 500, retryable: true });
    expect(thrown(() => run(['{"error":{"code":429,"message":"q"}}']))).toBeInstanceOf(RateLimitError);
  });

  it('throws StreamError invalid_json for a malformed event', () => {
    for (const data of ['{"candidates": ', 'null', '[1]', '"text"']) {
      const err = thrown(() => new GeminiStreamDecoder(res).event(data, undefined, 0, []));
      expect(err).toBeInstanceOf(StreamError);
      expect(err).toMatchObject({ code: 'invalid_json', retryable: true, status: 200 });
    }
  });

  it('keeps streamed parts as providerData when one is signed, joining unsigned text runs', () => {
    const { decoder } = run([
      chunk([{ text: 'Let me ', thought: true }]),
      chunk([{ text: 'think.', thought: true }]),
      chunk([{ text: 'The ' }]),
      chunk([{ text: 'answer' }]),
      chunk([{ text: '', thoughtSignature: 'sig-1' }]),
      chunk([{ functionCall: { name: 'f', args: {} }, thoughtSignature: 'sig-2' }], {}, 'STOP'),
    ]);
    expect(decoder.final().providerData).toEqual({
      gemini: {
        parts: [
          { text: 'Let me think.', thought: true },
          { text: 'The answer' },
          { text: '', thoughtSignature: 'sig-1' },
          { functionCall: { name: 'f', args: {} }, thoughtSignature: 'sig-2' },
        ],
      },
    });
  });

  it('has no providerData when nothing is signed', () => {
    expect(run([chunk([{ text: 'a' }], {}, 'STOP')]).decoder.final()).not.toHaveProperty('providerData');
  });
});
