import { describe, expect, it } from 'vitest';
import { OpenAIStreamDecoder } from '../../../providers/openai/stream.js';
import { RateLimitError, ServerError, StreamError } from '../../../src/errors.js';
import type { ResponseInfo, StreamEvent } from '../../../src/types.js';
import { streamText } from '../../helpers/fixtures.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_s', provider: 'openai', model: 'gpt-4o-mini' };

function chunk(o: Record<string, unknown>): string {
  return JSON.stringify({ id: 'chatcmpl-1', model: 'gpt-4o-mini', ...o });
}
function delta(d: Record<string, unknown>, finish: string | null = null): string {
  return chunk({ choices: [{ index: 0, delta: d, finish_reason: finish }] });
}

function run(events: string[]): { decoder: OpenAIStreamDecoder; out: StreamEvent[] } {
  const decoder = new OpenAIStreamDecoder(res);
  const out: StreamEvent[] = [];
  events.forEach((data, i) => decoder.event(data, undefined, i, out));
  return { decoder, out };
}

describe('OpenAIStreamDecoder', () => {
  it('emits one chunk event per non-empty content delta and finishes at [DONE]', () => {
    const { decoder, out } = run([delta({ role: 'assistant', content: '' }), delta({ content: 'Hel' }), delta({ content: 'lo' }), delta({}, 'stop'), '[DONE]']);
    expect(out).toEqual([
      { type: 'chunk', delta: 'Hel', t: 1 },
      { type: 'chunk', delta: 'lo', t: 2 },
    ]);
    expect(decoder.finished).toBe(true);
    expect(streamText(out)).toBe('Hello');
    expect(decoder.final()).toMatchObject({ finishReason: 'stop', usage: null, id: 'chatcmpl-1', model: 'gpt-4o-mini', reasoning: null });
    // The text is the delivered chunks: the decoder keeps no copy of it.
    expect(decoder.final()).not.toHaveProperty('text');
  });

  it('is not finished without [DONE], even after finish_reason and usage', () => {
    const { decoder } = run([delta({ content: 'x' }, 'stop'), chunk({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })]);
    expect(decoder.finished).toBe(false);
  });

  it('ignores everything after [DONE]', () => {
    const { out } = run([delta({ content: 'a' }, 'stop'), '[DONE]', delta({ content: 'b' }), 'not json']);
    expect(out).toHaveLength(1);
    expect(streamText(out)).toBe('a');
  });

  it('emits usage from the usage chunk, with details', () => {
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } };
    const { decoder, out } = run([delta({ content: 'a' }, 'stop'), chunk({ choices: [], usage }), '[DONE]']);
    const want = { prompt: 10, completion: 5, total: 15, costEstimate: null, cachedPrompt: 4, reasoning: 2 };
    expect(out[1]).toEqual({ type: 'usage', usage: want, t: 1 });
    expect(decoder.final().usage).toEqual(want);
    expect(decoder.final().raw).toEqual(JSON.parse(chunk({ choices: [], usage })));
  });

  it('takes id and model from the first chunk where they are non-empty (Azure)', () => {
    const decoder = new OpenAIStreamDecoder(res);
    const out: StreamEvent[] = [];
    decoder.event(JSON.stringify({ id: '', model: '', choices: [], prompt_filter_results: [] }), undefined, 0, out);
    decoder.event(JSON.stringify({ id: 'chatcmpl-az', model: 'gpt-4o', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] }), undefined, 1, out);
    decoder.event(JSON.stringify({ id: 'other', model: 'other', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }), undefined, 2, out);
    expect(decoder.final()).toMatchObject({ id: 'chatcmpl-az', model: 'gpt-4o' });
  });

  it('merges tool-call fragments by index and emits them in index order at finish_reason', () => {
    const { decoder, out } = run([
      delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'second', arguments: '' } }] }),
      delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'first', arguments: '{"x"' } }] }),
      delta({ tool_calls: [{ index: 1, function: { arguments: '{"y":2}' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }),
      delta({}, 'tool_calls'),
      '[DONE]',
    ]);
    expect(out).toEqual([
      { type: 'tool_call', toolCall: { id: 'call_a', name: 'first', arguments: { x: 1 } }, t: 4 },
      { type: 'tool_call', toolCall: { id: 'call_b', name: 'second', arguments: { y: 2 } }, t: 4 },
    ]);
    expect(decoder.final()).toMatchObject({ finishReason: 'tool_calls', toolCalls: [{ id: 'call_a' }, { id: 'call_b' }] });
  });

  it('treats empty tool arguments as {}', () => {
    const { decoder } = run([delta({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'noop', arguments: '' } }] }, 'tool_calls'), '[DONE]']);
    expect(decoder.final().toolCalls).toEqual([{ id: 'call_a', name: 'noop', arguments: {} }]);
  });

  it('emits tool calls at [DONE] when no finish_reason came', () => {
    const { out } = run([delta({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'noop', arguments: '{}' } }] }), '[DONE]']);
    expect(out.map((e) => e.type)).toEqual(['tool_call']);
  });

  it('throws ServerError invalid_tool_arguments naming the tool, without the arguments', () => {
    const decoder = new OpenAIStreamDecoder(res);
    const out: StreamEvent[] = [];
    decoder.event(delta({ tool_calls: [{ index: 0, id: 'call_a', function: { name: 'lookup', arguments: '{"secret-ish": tru' } }] }), undefined, 0, out);
    let err: unknown;
    try {
      decoder.event(delta({}, 'tool_calls'), undefined, 1, out);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'invalid_tool_arguments', retryable: false });
    expect((err as Error).message).toContain("'lookup'");
    expect((err as Error).message).not.toContain('secret-ish');
    expect((err as Error).cause).toBeUndefined();
  });

  it('throws StreamError invalid_json for a malformed event', () => {
    const decoder = new OpenAIStreamDecoder(res);
    expect(() => decoder.event('{"id": ', undefined, 0, [])).toThrow(StreamError);
    try {
      decoder.event('null', undefined, 0, []);
    } catch (e) {
      expect(e).toMatchObject({ code: 'invalid_json', retryable: true, status: 200 });
    }
  });

  it('throws the typed error for an in-band error event', () => {
    const decoder = new OpenAIStreamDecoder(res);
    expect(() => decoder.event('{"error":{"message":"slow down","type":"tokens","code":"rate_limit_exceeded"}}', undefined, 0, [])).toThrow(RateLimitError);
  });

  it('skips choices other than index 0 (n > 1)', () => {
    const { decoder, out } = run([
      chunk({ choices: [{ index: 1, delta: { content: 'other' }, finish_reason: null }] }),
      delta({ content: 'mine' }),
      chunk({ choices: [{ index: 1, delta: {}, finish_reason: 'length' }] }),
      delta({}, 'stop'),
      '[DONE]',
    ]);
    expect(out).toHaveLength(1);
    expect(streamText(out)).toBe('mine');
    expect(decoder.final()).toMatchObject({ finishReason: 'stop' });
  });

  it('keeps the last non-null finish_reason and maps unknown ones to other', () => {
    expect(run([delta({}, 'stop'), delta({}, 'weird'), '[DONE]']).decoder.final().finishReason).toBe('other');
    expect(run([delta({}, 'function_call'), '[DONE]']).decoder.final().finishReason).toBe('tool_calls');
    expect(run(['[DONE]']).decoder.final().finishReason).toBe('other');
  });

  it('ignores refusal deltas and empty data events', () => {
    const { decoder, out } = run(['', delta({ refusal: 'I cannot help with that.' }), delta({}, 'stop'), '[DONE]']);
    expect(out).toEqual([]);
    expect(decoder.final()).toMatchObject({ finishReason: 'stop', toolCalls: [] });
  });

  it('refuses an absurd tool-call index instead of walking a huge sparse array', () => {
    const decoder = new OpenAIStreamDecoder(res);
    expect(() => decoder.event(delta({ tool_calls: [{ index: 1e9, id: 'x', function: { name: 'n', arguments: '' } }] }), undefined, 0, [])).toThrow(StreamError);
  });
});
