import { describe, expect, it } from 'vitest';
import { AnthropicStreamDecoder } from '../../../providers/anthropic/stream.js';
import { BadRequestError, OverloadedError, RateLimitError, ServerError, StreamError } from '../../../src/errors.js';
import type { ResponseInfo, StreamEvent } from '../../../src/types.js';
import { thrown } from '../../helpers/conformance.js';
import { streamText } from '../../helpers/fixtures.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_s', provider: 'anthropic', model: 'claude-sonnet-4-5' };

type Ev = [name: string | undefined, data: Record<string, unknown> | string];

function named(type: string, o: Record<string, unknown> = {}): Ev {
  return [type, { type, ...o }];
}
const messageStart = (usage: Record<string, unknown> = { input_tokens: 10, output_tokens: 1 }): Ev =>
  named('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, usage } });
const blockStart = (index: number, block: Record<string, unknown>): Ev => named('content_block_start', { index, content_block: block });
const blockDelta = (index: number, delta: Record<string, unknown>): Ev => named('content_block_delta', { index, delta });
const blockStop = (index: number): Ev => named('content_block_stop', { index });
const messageDelta = (stop: string | null, usage: Record<string, unknown> | null = { output_tokens: 5 }): Ev =>
  named('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage });
const messageStop: Ev = named('message_stop');
const ping: Ev = ['ping', '{"type": "ping"}'];

function run(events: Ev[]): { decoder: AnthropicStreamDecoder; out: StreamEvent[] } {
  const decoder = new AnthropicStreamDecoder(res);
  const out: StreamEvent[] = [];
  events.forEach(([name, data], i) => decoder.event(typeof data === 'string' ? data : JSON.stringify(data), name, i, out));
  return { decoder, out };
}

describe('AnthropicStreamDecoder', () => {
  it('emits one chunk per non-empty text_delta, usage at message_delta, and finishes at message_stop', () => {
    const { decoder, out } = run([
      messageStart(),
      blockStart(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'text_delta', text: 'Hel' }),
      blockDelta(0, { type: 'text_delta', text: '' }),
      blockDelta(0, { type: 'text_delta', text: 'lo' }),
      blockStop(0),
      messageDelta('end_turn'),
      messageStop,
    ]);
    const usage = { prompt: 10, completion: 5, total: 15, costEstimate: null };
    expect(out).toEqual([
      { type: 'chunk', delta: 'Hel', t: 2 },
      { type: 'chunk', delta: 'lo', t: 4 },
      { type: 'usage', usage, t: 6 },
    ]);
    expect(decoder.finished).toBe(true);
    expect(streamText(out)).toBe('Hello');
    // The text is the delivered chunks: the decoder keeps no copy of it.
    expect(decoder.final()).not.toHaveProperty('text');
    expect(decoder.final()).toMatchObject({
      reasoning: null,
      toolCalls: [],
      finishReason: 'stop',
      usage,
      id: 'msg_1',
      model: 'claude-sonnet-4-5-20250929',
    });
    expect(decoder.final().providerData).toBeUndefined();
  });

  it('produces no event at all for pings, named or not, anywhere in the stream', () => {
    const { out } = run([ping, messageStart(), ping, blockStart(0, { type: 'text', text: '' }), ping, [undefined, '{"type":"ping"}'], blockStop(0), ping]);
    expect(out).toEqual([]);
  });

  it('pushes nothing for message_start: usage alone must not count as content', () => {
    const { decoder, out } = run([messageStart({ input_tokens: 7, output_tokens: 1 })]);
    expect(out).toEqual([]);
    expect(decoder.finished).toBe(false);
  });

  it('is not finished without message_stop, even after message_delta', () => {
    const { decoder } = run([messageStart(), blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'x' }), blockStop(0), messageDelta('end_turn')]);
    expect(decoder.finished).toBe(false);
  });

  it('ignores everything after message_stop', () => {
    const { out } = run([messageStart(), blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'a' }), messageStop, blockDelta(0, { type: 'text_delta', text: 'b' }), [undefined, 'not json']]);
    expect(out).toHaveLength(1);
    expect(streamText(out)).toBe('a');
  });

  it('emits a tool_call at content_block_stop with the input_json_delta fragments joined', () => {
    const { decoder, out } = run([
      messageStart(),
      blockStart(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'text_delta', text: 'Checking.' }),
      blockStop(0),
      blockStart(1, { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} }),
      blockDelta(1, { type: 'input_json_delta', partial_json: '' }),
      blockDelta(1, { type: 'input_json_delta', partial_json: '{"ci' }),
      blockDelta(1, { type: 'input_json_delta', partial_json: 'ty": "Pa' }),
      blockDelta(1, { type: 'input_json_delta', partial_json: 'ris"}' }),
      blockStop(1),
      messageDelta('tool_use'),
      messageStop,
    ]);
    expect(out.map((e) => e.type)).toEqual(['chunk', 'tool_call', 'usage']);
    expect(out[1]).toEqual({ type: 'tool_call', toolCall: { id: 'toolu_a', name: 'get_weather', arguments: { city: 'Paris' } }, t: 9 });
    expect(decoder.final()).toMatchObject({ finishReason: 'tool_calls', toolCalls: [{ id: 'toolu_a', name: 'get_weather', arguments: { city: 'Paris' } }] });
  });

  it('merges fragments per content-block index when tool blocks interleave', () => {
    const { out } = run([
      blockStart(1, { type: 'tool_use', id: 'toolu_1', name: 'a', input: {} }),
      blockStart(2, { type: 'tool_use', id: 'toolu_2', name: 'b', input: {} }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '{"y":' }),
      blockDelta(1, { type: 'input_json_delta', partial_json: '{"x":' }),
      blockDelta(1, { type: 'input_json_delta', partial_json: '1}' }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '2}' }),
      blockStop(2),
      blockStop(1),
    ]);
    expect(out.map((e) => (e as { toolCall: unknown }).toolCall)).toEqual([
      { id: 'toolu_2', name: 'b', arguments: { y: 2 } },
      { id: 'toolu_1', name: 'a', arguments: { x: 1 } },
    ]);
  });

  it('treats a tool call without arguments ("" fragments only) as {}', () => {
    const { out } = run([blockStart(0, { type: 'tool_use', id: 'toolu_n', name: 'noop', input: {} }), blockDelta(0, { type: 'input_json_delta', partial_json: '' }), blockStop(0)]);
    expect(out).toEqual([{ type: 'tool_call', toolCall: { id: 'toolu_n', name: 'noop', arguments: {} }, t: 2 }]);
  });

  it('keeps the start input of a tool_use block that gets no fragments', () => {
    const { out } = run([blockStart(0, { type: 'tool_use', id: 'toolu_s', name: 'lookup', input: { q: 'x' } }), blockStop(0)]);
    expect((out[0] as { toolCall: unknown }).toolCall).toEqual({ id: 'toolu_s', name: 'lookup', arguments: { q: 'x' } });
  });

  it('throws ServerError invalid_tool_arguments naming the tool, without the arguments', () => {
    const decoder = new AnthropicStreamDecoder(res);
    const out: StreamEvent[] = [];
    for (const [name, data] of [blockStart(0, { type: 'tool_use', id: 'toolu_x', name: 'lookup', input: {} }), blockDelta(0, { type: 'input_json_delta', partial_json: '{"secret-ish": tru' })]) {
      decoder.event(JSON.stringify(data), name, 0, out);
    }
    const err = thrown(() => decoder.event(JSON.stringify(blockStop(0)[1]), 'content_block_stop', 1, out));
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'invalid_tool_arguments', retryable: false });
    expect((err as Error).message).toContain("'lookup'");
    expect((err as Error).message).not.toContain('secret-ish');
    expect((err as Error).cause).toBeUndefined();
  });

  it('rejects tool arguments that are not a JSON object', () => {
    for (const json of ['[1,2]', '42', 'null']) {
      const decoder = new AnthropicStreamDecoder(res);
      decoder.event(JSON.stringify(blockStart(0, { type: 'tool_use', id: 't', name: 'n', input: {} })[1]), 'content_block_start', 0, []);
      decoder.event(JSON.stringify(blockDelta(0, { type: 'input_json_delta', partial_json: json })[1]), 'content_block_delta', 1, []);
      expect(() => decoder.event(JSON.stringify(blockStop(0)[1]), 'content_block_stop', 2, [])).toThrow(ServerError);
    }
  });

  it('drops __proto__ keys from streamed tool arguments', () => {
    const { out } = run([
      blockStart(0, { type: 'tool_use', id: 't', name: 'n', input: {} }),
      blockDelta(0, { type: 'input_json_delta', partial_json: '{"__proto__":{"polluted":1},"ok":{"__proto__":{"p":2},"v":1}}' }),
      blockStop(0),
    ]);
    const args = (out[0] as { toolCall: { arguments: Record<string, unknown> } }).toolCall.arguments;
    expect(args).toEqual({ ok: { v: 1 } });
    expect(Object.assign({}, args)).not.toHaveProperty('polluted');
  });

  it('turns thinking deltas into reasoning events and keeps the block with its signature in providerData', () => {
    const { decoder, out } = run([
      messageStart(),
      blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'Let me ' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'think.' }),
      blockDelta(0, { type: 'signature_delta', signature: 'EqQBCgIYAhIM' }),
      blockStop(0),
      blockStart(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3' }),
      blockStop(1),
      blockStart(2, { type: 'text', text: '' }),
      blockDelta(2, { type: 'text_delta', text: 'Answer.' }),
      blockStop(2),
      messageDelta('end_turn'),
      messageStop,
    ]);
    expect(out.filter((e) => e.type !== 'usage')).toEqual([
      { type: 'reasoning', delta: 'Let me ', t: 2 },
      { type: 'reasoning', delta: 'think.', t: 3 },
      { type: 'chunk', delta: 'Answer.', t: 9 },
    ]);
    const final = decoder.final();
    expect(streamText(out)).toBe('Answer.');
    expect(final.reasoning).toBe('Let me think.');
    expect(final.providerData).toEqual({
      anthropic: {
        blocks: [
          { type: 'thinking', thinking: 'Let me think.', signature: 'EqQBCgIYAhIM' },
          { type: 'redacted_thinking', data: 'EmwKAhgBEgy3' },
        ],
      },
    });
  });

  it('overwrites usage field by field from message_delta and counts cache tokens in prompt', () => {
    const { decoder, out } = run([
      messageStart({ input_tokens: 21, cache_creation_input_tokens: 188, cache_read_input_tokens: 2048, output_tokens: 1 }),
      messageDelta('end_turn', { input_tokens: null, output_tokens: 30 }),
      messageStop,
    ]);
    const want = { prompt: 2257, completion: 30, total: 2287, costEstimate: null, cachedPrompt: 2048, cacheWrite: 188 };
    expect(out).toEqual([{ type: 'usage', usage: want, t: 1 }]);
    expect(decoder.final().usage).toEqual(want);
  });

  it('takes the later message_delta values (they are cumulative, not increments)', () => {
    const { decoder } = run([messageStart({ input_tokens: 5, output_tokens: 1 }), messageDelta(null, { output_tokens: 10 }), messageDelta('max_tokens', { output_tokens: 20 }), messageStop]);
    expect(decoder.final()).toMatchObject({ finishReason: 'length', usage: { prompt: 5, completion: 20, total: 25 } });
  });

  it('has usage from message_start when no message_delta came, and null usage when nothing reported any', () => {
    expect(run([messageStart({ input_tokens: 3, output_tokens: 1 }), messageStop]).decoder.final().usage).toMatchObject({ prompt: 3, completion: 1 });
    expect(run([messageStop]).decoder.final()).toMatchObject({ usage: null, finishReason: 'other', id: null, model: null });
  });

  it('maps every stop reason', () => {
    const reason = (r: string) => run([messageDelta(r), messageStop]).decoder.final().finishReason;
    expect(reason('end_turn')).toBe('stop');
    expect(reason('stop_sequence')).toBe('stop');
    expect(reason('max_tokens')).toBe('length');
    expect(reason('tool_use')).toBe('tool_calls');
    expect(reason('refusal')).toBe('content_filter');
    expect(reason('pause_turn')).toBe('other');
  });

  it('throws the typed error for event: error', () => {
    const overloaded = thrown(() => run([messageStart(), ['error', '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}']]));
    expect(overloaded).toBeInstanceOf(OverloadedError);
    expect(overloaded).toMatchObject({ status: 529, retryable: true, code: 'overloaded_error', requestId: 'req_s' });
    expect((overloaded as Error).message).toBe('anthropic claude-sonnet-4-5: Overloaded (529, request req_s)');
    expect(thrown(() => run([['error', '{"type":"error","error":{"type":"api_error","message":"Internal"}}']]))).toMatchObject({ name: 'ServerError', status: 500 });
    expect(thrown(() => run([['error', '{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}']]))).toBeInstanceOf(RateLimitError);
    expect(thrown(() => run([['error', '{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}']]))).toBeInstanceOf(BadRequestError);
  });

  it('dispatches on the JSON type when the event has no name', () => {
    const { decoder, out } = run([
      [undefined, messageStart()[1]],
      [undefined, blockStart(0, { type: 'text', text: '' })[1]],
      [undefined, blockDelta(0, { type: 'text_delta', text: 'hi' })[1]],
      [undefined, messageStop[1]],
    ]);
    expect(out).toEqual([{ type: 'chunk', delta: 'hi', t: 2 }]);
    expect(decoder.finished).toBe(true);
    expect(() => run([[undefined, { type: 'error', error: { type: 'overloaded_error', message: 'x' } }]])).toThrow(OverloadedError);
  });

  it('ignores unknown event and delta types and server-tool blocks', () => {
    const { decoder, out } = run([
      named('future_event', { foo: 1 }),
      blockStart(0, { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'x' } }),
      blockDelta(0, { type: 'input_json_delta', partial_json: '{"query":"x"}' }),
      blockStop(0),
      blockStart(1, { type: 'text', text: '' }),
      blockDelta(1, { type: 'citations_delta', citation: {} }),
      blockStop(1),
      messageStop,
    ]);
    expect(out).toEqual([]);
    expect(decoder.final().toolCalls).toEqual([]);
  });

  it('throws StreamError invalid_json for a malformed event', () => {
    expect(() => run([['content_block_delta', '{"type": ']])).toThrow(StreamError);
    expect(thrown(() => run([['content_block_delta', 'null']]))).toMatchObject({ code: 'invalid_json', retryable: true, status: 200 });
  });

  it('refuses an absurd content-block index instead of walking a huge sparse array', () => {
    expect(thrown(() => run([blockStart(1e9, { type: 'tool_use', id: 't', name: 'n', input: {} })]))).toMatchObject({ name: 'StreamError', code: 'invalid_content_block_index' });
    expect(() => run([blockStart(-1, { type: 'text', text: '' })])).toThrow(StreamError);
  });
});
