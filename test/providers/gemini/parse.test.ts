import { describe, expect, it } from 'vitest';
import { mapFinishReason, mapUsage, parseGenerateContent } from '../../../providers/gemini/parse.js';
import { AuthError, BadRequestError, OverloadedError, RateLimitError, ServerError } from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: undefined, provider: 'gemini', model: 'gemini-2.5-flash' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function response(parts: unknown[], extra: Record<string, unknown> = {}, finishReason = 'STOP') {
  return {
    candidates: [{ content: { parts, role: 'model' }, finishReason, index: 0 }],
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-1',
    ...extra,
  };
}

describe('parseGenerateContent', () => {
  it('returns text, model version, response id and the body as raw', () => {
    const body = response([{ text: 'Hello' }, { text: ' world' }]);
    expect(parseGenerateContent(body, res)).toEqual({
      text: 'Hello world',
      reasoning: null,
      toolCalls: [],
      finishReason: 'stop',
      usage: null,
      model: 'gemini-2.5-flash',
      id: 'resp-1',
      raw: body,
    });
  });

  it('keeps thought parts out of text and returns them as reasoning', () => {
    const r = parseGenerateContent(response([{ text: 'Let me think. ', thought: true }, { text: 'Counting r.', thought: true }, { text: 'Three.' }]), res);
    expect(r.text).toBe('Three.');
    expect(r.reasoning).toBe('Let me think. Counting r.');
  });

  it('numbers function calls call_<n> among the calls only, and keeps ids Gemini sent', () => {
    const r = parseGenerateContent(
      response([
        { text: 'Checking.' },
        { functionCall: { name: 'a', args: { x: 1 } } },
        { functionCall: { id: 'fc-9', name: 'b', args: { y: [1, { z: 2 }] } } },
        { functionCall: { name: 'c' } },
      ]),
      res,
    );
    expect(r.toolCalls).toEqual([
      { id: 'call_0', name: 'a', arguments: { x: 1 } },
      { id: 'fc-9', name: 'b', arguments: { y: [1, { z: 2 }] } },
      { id: 'call_2', name: 'c', arguments: {} },
    ]);
    expect(r.finishReason).toBe('tool_calls');
    expect(r.text).toBe('Checking.');
  });

  it('throws ServerError invalid_tool_arguments for args that are not an object, without quoting them', () => {
    for (const args of [[1, 2], 'secret-args', 42]) {
      let err: unknown;
      try {
        parseGenerateContent(response([{ functionCall: { name: 'calc', args } }]), res);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_tool_arguments', retryable: false });
      expect((err as Error).message).toContain("'calc'");
      expect((err as Error).message).not.toContain('secret-args');
    }
  });

  it('drops __proto__ keys from function-call args at any depth', () => {
    const body = JSON.parse('{"candidates":[{"content":{"parts":[{"functionCall":{"name":"x","args":{"__proto__":{"polluted":1},"ok":1,"deep":[{"__proto__":{"polluted":2},"v":2}]}}}]},"finishReason":"STOP"}]}');
    const args = parseGenerateContent(body, res).toolCalls[0]!.arguments;
    expect(Object.keys(args)).toEqual(['ok', 'deep']);
    expect(Object.keys((args.deep as Array<Record<string, unknown>>)[0]!)).toEqual(['v']);
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(Object.assign({}, args)).not.toHaveProperty('polluted');
    expect(Object.assign({}, (args.deep as object[])[0])).not.toHaveProperty('polluted');
  });

  it('returns clean args as they are, without copying', () => {
    const args = { a: { b: [1, 2] } };
    expect(parseGenerateContent(response([{ functionCall: { name: 'x', args } }]), res).toolCalls[0]!.arguments).toBe(args);
  });

  it('maps usage: completion includes thoughts, with cached and reasoning details when present', () => {
    const usageMetadata = { promptTokenCount: 9, candidatesTokenCount: 28, thoughtsTokenCount: 244, cachedContentTokenCount: 4, totalTokenCount: 281 };
    expect(parseGenerateContent(response([{ text: 'x' }], { usageMetadata }), res).usage).toEqual({
      prompt: 9,
      completion: 272,
      total: 281,
      costEstimate: null,
      cachedPrompt: 4,
      reasoning: 244,
    });
    expect(mapUsage({ promptTokenCount: 12, totalTokenCount: 12 })).toEqual({ prompt: 12, completion: 0, total: 12, costEstimate: null });
    expect(mapUsage({ promptTokenCount: 2, candidatesTokenCount: 3 })).toEqual({ prompt: 2, completion: 3, total: 5, costEstimate: null });
  });

  it('keeps the parts as providerData.gemini.parts when a part carries a thought signature', () => {
    const parts = [{ text: 'Sure.', thoughtSignature: 'EtoFCtcFAb4' }, { functionCall: { name: 'f', args: {} } }];
    const r = parseGenerateContent(response(parts), res);
    expect(r.providerData).toEqual({ gemini: { parts } });
    expect(parseGenerateContent(response([{ text: 'plain' }]), res)).not.toHaveProperty('providerData');
  });

  it('reports a safety stop as a normal content_filter result', () => {
    const body = { candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: [] }], usageMetadata: { promptTokenCount: 12, totalTokenCount: 12 } };
    expect(parseGenerateContent(body, res)).toMatchObject({ text: '', toolCalls: [], finishReason: 'content_filter', usage: { prompt: 12, completion: 0, total: 12 } });
  });

  it('reports a blocked prompt (no candidates, promptFeedback.blockReason) as content_filter', () => {
    expect(parseGenerateContent({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' } }, res).finishReason).toBe('content_filter');
    expect(parseGenerateContent({ candidates: [], promptFeedback: { blockReason: 'SAFETY' } }, res).finishReason).toBe('content_filter');
    // Neither a candidate nor a block reason: no answer at all (see below).
    expect(thrown(() => parseGenerateContent({ promptFeedback: {} }, res))).toMatchObject({ code: 'invalid_response', retryable: true });
  });

  it('maps every finish reason of the README table', () => {
    expect(mapFinishReason('STOP', false, false)).toBe('stop');
    expect(mapFinishReason('STOP', true, false)).toBe('tool_calls');
    expect(mapFinishReason('MAX_TOKENS', true, false)).toBe('length');
    for (const r of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) expect(mapFinishReason(r, false, false)).toBe('content_filter');
    for (const r of ['MALFORMED_FUNCTION_CALL', 'OTHER', 'LANGUAGE', 'FINISH_REASON_UNSPECIFIED']) expect(mapFinishReason(r, false, false)).toBe('other');
    expect(mapFinishReason(undefined, false, true)).toBe('content_filter');
    expect(mapFinishReason(null, false, false)).toBe('other');
  });

  it('reads only the first candidate', () => {
    const body = { candidates: [{ content: { parts: [{ text: 'one' }] }, finishReason: 'STOP' }, { content: { parts: [{ text: 'two' }] }, finishReason: 'MAX_TOKENS' }] };
    expect(parseGenerateContent(body, res)).toMatchObject({ text: 'one', finishReason: 'stop' });
  });

  it('throws ServerError invalid_response for a body that is not an object', () => {
    expect(() => parseGenerateContent('oops', res)).toThrow(ServerError);
    expect(() => parseGenerateContent(null, res)).toThrow(ServerError);
    expect(() => parseGenerateContent([{ candidates: [] }], res)).toThrow(ServerError);
  });

  it('tolerates a candidate without usable parts', () => {
    expect(parseGenerateContent({ candidates: [{ content: { parts: [null, 5] }, finishReason: 'STOP' }] }, res).text).toBe('');
    expect(parseGenerateContent({ candidates: [{ finishReason: 'STOP' }] }, res)).toMatchObject({ text: '', finishReason: 'stop' });
  });

  it('throws a retryable ServerError invalid_response for a 200 body without candidates or a block reason', () => {
    for (const body of [{}, { responseId: '', modelVersion: '' }, { candidates: [] }, { candidates: [null] }, { usageMetadata: { promptTokenCount: 3 } }]) {
      const err = thrown(() => parseGenerateContent(body, res));
      expect(err, JSON.stringify(body)).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_response', status: 200, retryable: true });
      expect(err.message).toBe('gemini gemini-2.5-flash: response has no candidates (200)');
    }
  });

  it('throws the typed error of a 200 body that holds a google.rpc.Status, by its code', () => {
    const status = (code: number, name: string, message = 'x') => ({ error: { code, message, status: name } });
    expect(thrown(() => parseGenerateContent(status(503, 'UNAVAILABLE', 'The model is overloaded.'), res))).toMatchObject({ name: 'OverloadedError', status: 503, code: 'UNAVAILABLE', retryable: true });
    expect(thrown(() => parseGenerateContent(status(429, 'RESOURCE_EXHAUSTED'), res))).toBeInstanceOf(RateLimitError);
    expect(thrown(() => parseGenerateContent(status(400, 'INVALID_ARGUMENT'), res))).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(thrown(() => parseGenerateContent(status(403, 'PERMISSION_DENIED'), res))).toMatchObject({ status: 403, retryable: false });
    expect(thrown(() => parseGenerateContent(status(403, 'PERMISSION_DENIED'), res))).toBeInstanceOf(AuthError);
    // No numeric code: the status name says it.
    expect(thrown(() => parseGenerateContent({ error: { message: 'x', status: 'INVALID_ARGUMENT' } }, res))).toBeInstanceOf(BadRequestError);
    expect(thrown(() => parseGenerateContent({ error: { message: 'x', status: 'UNAVAILABLE' } }, res))).toBeInstanceOf(OverloadedError);
  });
});
