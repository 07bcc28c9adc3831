import { describe, expect, it } from 'vitest';
import { parseChat } from '../../../providers/openai/parse.js';
import { ServerError } from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_p', provider: 'openai', model: 'gpt-4o-mini' };

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

  it('tolerates a body without choices', () => {
    expect(parseChat({ id: 'x', model: 'm' }, res)).toMatchObject({ text: '', toolCalls: [], finishReason: 'other' });
  });
});
