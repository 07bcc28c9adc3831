import { describe, expect, it } from 'vitest';
import { parseChat } from '../../../providers/openai/parse.js';
import { AuthError, BadRequestError, ContentFilterError, RateLimitError, ServerError } from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_p', provider: 'openai', model: 'gpt-4o-mini' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function completion(message: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', choices: [{ index: 0, message, finish_reason: 'stop' }], ...extra };
}

describe('parseChat', () => {
  it('returns text, model, id and the body as raw', () => {
    const body = completion({ role: 'assistant', content: 'Hi!' });
    expect(parseChat(body, res)).toEqual({
      text: 'Hi!',
      reasoning: null,
      toolCalls: [],
      finishReason: 'stop',
      usage: null,
      model: 'gpt-4o-mini-2024-07-18',
      id: 'chatcmpl-1',
      raw: body,
    });
  });

  it('does not treat a refusal as text', () => {
    expect(parseChat(completion({ role: 'assistant', content: null, refusal: 'I cannot.' }), res).text).toBe('');
  });

  it('maps usage with cached and reasoning details when present', () => {
    const usage = { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150, prompt_tokens_details: { cached_tokens: 64 }, completion_tokens_details: { reasoning_tokens: 32 } };
    expect(parseChat(completion({ content: 'x' }, { usage }), res).usage).toEqual({
      prompt: 100,
      completion: 50,
      total: 150,
      costEstimate: null,
      cachedPrompt: 64,
      reasoning: 32,
    });
    expect(parseChat(completion({ content: 'x' }, { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }), res).usage).toEqual({
      prompt: 1,
      completion: 2,
      total: 3,
      costEstimate: null,
    });
  });

  it('parses tool-call arguments, empty as {}', () => {
    const body = completion({
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'a', arguments: '{"n":1}' } },
        { id: 'call_2', type: 'function', function: { name: 'b', arguments: '' } },
      ],
    });
    expect(parseChat(body, res).toolCalls).toEqual([
      { id: 'call_1', name: 'a', arguments: { n: 1 } },
      { id: 'call_2', name: 'b', arguments: {} },
    ]);
  });

  it('throws ServerError invalid_tool_arguments for arguments that are not a JSON object', () => {
    for (const args of ['{"a": nope}', '[1,2]', '42', 'null']) {
      const body = completion({ content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'calc', arguments: args } }] });
      let err: unknown;
      try {
        parseChat(body, res);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_tool_arguments', retryable: false });
      expect((err as Error).message).toContain("'calc'");
      expect((err as Error).message).not.toContain(args);
    }
  });

  it('drops __proto__ keys from tool arguments', () => {
    const body = completion({ content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'x', arguments: '{"__proto__":{"polluted":1},"ok":1}' } }] });
    const args = parseChat(body, res).toolCalls[0]!.arguments;
    expect(args).toEqual({ ok: 1 });
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(Object.assign({}, args)).not.toHaveProperty('polluted');
  });

  it('throws ServerError invalid_response for a body that is not an object', () => {
    expect(() => parseChat('oops', res)).toThrow(ServerError);
    expect(() => parseChat(null, res)).toThrow(ServerError);
  });

  it('throws a retryable ServerError invalid_response for a 200 body without any choice', () => {
    for (const body of [{}, { id: 'x', model: 'm' }, { choices: [] }, { choices: null }, { choices: [null] }]) {
      const err = thrown(() => parseChat(body, res));
      expect(err, JSON.stringify(body)).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_response', status: 200, retryable: true, requestId: 'req_p' });
      expect(err.message).toBe('openai gpt-4o-mini: response has no choices (200, request req_p)');
    }
  });

  it('throws the typed error of a 200 body that holds an error object, by the in-stream table', () => {
    const quota = thrown(() => parseChat({ error: { message: 'You exceeded your current quota.', type: 'insufficient_quota', code: 'insufficient_quota' } }, res));
    expect(quota).toBeInstanceOf(RateLimitError);
    expect(quota).toMatchObject({ status: 429, code: 'insufficient_quota', retryable: false, requestId: 'req_p' });
    expect(quota.message).toContain('You exceeded your current quota.');
    expect(thrown(() => parseChat({ error: { message: 'bad', type: 'invalid_request_error', code: null } }, res))).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(thrown(() => parseChat({ error: { message: 'no key', type: 'invalid_request_error', code: 'invalid_api_key' } }, res))).toBeInstanceOf(AuthError);
    expect(thrown(() => parseChat({ error: { message: 'filtered', type: null, code: 'content_filter' } }, res))).toBeInstanceOf(ContentFilterError);
    expect(thrown(() => parseChat({ error: { message: 'boom', type: 'server_error', code: null } }, res))).toMatchObject({ name: 'ServerError', status: 500, code: 'server_error', retryable: true });
    // OpenAI-compatible gateways (OpenRouter) put the HTTP status in a numeric code.
    expect(thrown(() => parseChat({ error: { message: 'upstream', code: 502 } }, res))).toMatchObject({ name: 'ServerError', status: 502, retryable: true });
    expect(thrown(() => parseChat({ error: { message: 'slow', code: 429 } }, res))).toMatchObject({ name: 'RateLimitError', status: 429, retryable: true });
    expect(thrown(() => parseChat({ error: 'plain text', choices: [] }, res))).toMatchObject({ name: 'ServerError', status: 500, retryable: true });
    // The error wins over anything else in the body.
    expect(thrown(() => parseChat(completion({ content: 'x' }, { error: { message: 'bad', type: 'invalid_request_error' } }), res))).toBeInstanceOf(BadRequestError);
  });

  it('keeps a legitimately empty answer a normal result (content filter, refusal, error: null)', () => {
    const filtered = { choices: [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter' }] };
    expect(parseChat(filtered, res)).toMatchObject({ text: '', toolCalls: [], finishReason: 'content_filter' });
    expect(parseChat(completion({ content: null, refusal: 'No.' }, { error: null }), res)).toMatchObject({ text: '', finishReason: 'stop' });
    expect(parseChat({ choices: [{ finish_reason: 'length' }] }, res)).toMatchObject({ text: '', finishReason: 'length' });
  });
});
