/**
 * Edge cases of the Responses parser and stream decoder that the fixtures do not cover: servers that frame events
 * differently or skip events, hostile input, and what is kept for the next turn.
 */
import { describe, expect, it } from 'vitest';
import { keptItems, parseResponses } from '../../../providers/openai/responses/parse.js';
import { ResponsesStreamDecoder } from '../../../providers/openai/responses/stream.js';
import { FiberError } from '../../../src/errors.js';
import type { ResponseInfo, StreamEvent, StreamFinal } from '../../../src/types.js';
import { decodeSse, streamText } from '../../helpers/fixtures.js';

const RES: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_1', provider: 'openai', model: 'o4-mini' };

/** SSE bytes of events, with `event:` lines (as OpenAI) or data-only (as some proxies and SDK test mocks). */
function sse(events: object[], named = true): Buffer {
  return Buffer.from(events.map((e) => `${named ? `event: ${(e as { type: string }).type}\n` : ''}data: ${JSON.stringify(e)}\n\n`).join(''));
}

function run(bytes: Buffer): { events: StreamEvent[]; outcome: StreamFinal | FiberError } {
  return decodeSse(new ResponsesStreamDecoder(RES), [bytes], RES, 'response.completed');
}

const created = { type: 'response.created', response: { id: 'resp_1', object: 'response', model: 'o4-mini', status: 'in_progress', output: [], store: true } };
const completed = (output: object[], extra: object = {}) => ({ type: 'response.completed', response: { id: 'resp_1', object: 'response', model: 'o4-mini', status: 'completed', output, usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 }, ...extra } });
const shape = (events: StreamEvent[]) => events.map(({ t: _t, ...rest }) => rest);

describe('ResponsesStreamDecoder', () => {
  it('reads data-only framing and ignores a trailing [DONE]', () => {
    const bytes = Buffer.concat([
      sse([created, { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: 'Hi' }, completed([])], false),
      Buffer.from('data: [DONE]\n\n'),
    ]);
    const { events, outcome } = run(bytes);
    expect(shape(events)).toEqual([
      { type: 'chunk', delta: 'Hi' },
      { type: 'usage', usage: { prompt: 3, completion: 2, total: 5, costEstimate: null } },
    ]);
    expect(outcome).toMatchObject({ finishReason: 'stop', id: 'resp_1', model: 'o4-mini' });
    // The text is the delivered chunks: the decoder keeps no copy of it.
    expect(outcome).not.toHaveProperty('text');
  });

  it('a [DONE] alone is not an end marker', () => {
    const { outcome } = run(Buffer.concat([sse([created]), Buffer.from('data: [DONE]\n\n')]));
    expect(outcome).toMatchObject({ name: 'StreamError', code: 'missing_end_marker' });
  });

  it('takes text, reasoning and calls from the final output when nothing was streamed', () => {
    const output = [
      { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Plan.' }] },
      { type: 'message', id: 'msg_1', content: [{ type: 'output_text', text: 'Done.' }] },
      { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{"a":1}' },
    ];
    const { events, outcome } = run(sse([created, completed(output)]));
    expect(shape(events).map((e) => e.type)).toEqual(['chunk', 'reasoning', 'tool_call', 'usage']);
    expect(streamText(events)).toBe('Done.');
    expect(outcome).toMatchObject({ reasoning: 'Plan.', toolCalls: [{ id: 'call_1', name: 'f', arguments: { a: 1 } }], finishReason: 'tool_calls' });
    expect((outcome as StreamFinal).providerData).toEqual({
      openaiResponses: { items: [{ type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Plan.' }] }, { type: 'message', id: 'msg_1' }, { type: 'function_call', id: 'fc_1', call_id: 'call_1' }] },
    });
  });

  it('does not emit the final output text again when it was streamed as deltas', () => {
    const message = { type: 'message', id: 'msg_1', content: [{ type: 'output_text', text: 'Hello' }] };
    const { events, outcome } = run(sse([
      created,
      { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: '' },
      { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: 'Hel' },
      { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: 'lo' },
      completed([message]),
    ]));
    expect(shape(events).filter((e) => e.type === 'chunk')).toEqual([{ type: 'chunk', delta: 'Hel' }, { type: 'chunk', delta: 'lo' }]);
    expect(outcome).toMatchObject({ finishReason: 'stop' });
    // Empty deltas alone do not count as streamed text: the final output's text still goes out, once.
    const empty = run(sse([created, { type: 'response.output_text.delta', output_index: 0, content_index: 0, delta: '' }, completed([message])]));
    expect(shape(empty.events).filter((e) => e.type === 'chunk')).toEqual([{ type: 'chunk', delta: 'Hello' }]);
  });

  it('completes a call whose arguments never said done, at the end marker, from its deltas', () => {
    const { events, outcome } = run(sse([
      created,
      { type: 'response.output_item.added', output_index: 0, item: { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '' } },
      { type: 'response.function_call_arguments.delta', output_index: 0, item_id: 'fc_1', delta: '{"a"' },
      { type: 'response.function_call_arguments.delta', item_id: 'fc_1', delta: ':2}' },
      { type: 'response.completed', response: { id: 'resp_1', status: 'completed', output: [] } },
    ]));
    expect(shape(events)).toEqual([{ type: 'tool_call', toolCall: { id: 'call_1', name: 'f', arguments: { a: 2 } } }]);
    expect(outcome).toMatchObject({ finishReason: 'tool_calls', usage: null });
  });

  it('emits a call once even when both arguments.done and output_item.done arrive', () => {
    const item = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}' };
    const { events } = run(sse([
      created,
      { type: 'response.output_item.added', output_index: 0, item: { ...item, arguments: '' } },
      { type: 'response.function_call_arguments.done', output_index: 0, item_id: 'fc_1', arguments: '{}' },
      { type: 'response.output_item.done', output_index: 0, item },
      completed([item]),
    ]));
    expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(1);
  });

  it('separates reasoning parts and items with a blank line; reasoning_text deltas count as reasoning', () => {
    const { events, outcome } = run(sse([
      created,
      { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', summary_index: 0, delta: 'A' },
      { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', summary_index: 0, delta: 'B' },
      { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', summary_index: 0, delta: '' },
      { type: 'response.reasoning_summary_text.delta', item_id: 'rs_1', summary_index: 1, delta: 'C' },
      { type: 'response.reasoning_text.delta', item_id: 'rs_2', content_index: 0, delta: 'D' },
      completed([]),
    ]));
    expect(events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta)).toEqual(['A', 'B', '\n\nC', '\n\nD']);
    expect((outcome as StreamFinal).reasoning).toBe('AB\n\nC\n\nD');
  });

  it('maps response.incomplete with content_filter', () => {
    const { outcome } = run(sse([created, { type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'content_filter' }, output: [] } }]));
    expect(outcome).toMatchObject({ finishReason: 'content_filter', id: 'resp_1' });
  });

  it('throws the typed error of an error event whose fields are on the event itself', () => {
    const { outcome } = run(sse([created, { type: 'error', code: 'rate_limit_exceeded', message: 'Slow down.', param: null }]));
    expect(outcome).toMatchObject({ name: 'RateLimitError', status: 429, code: 'rate_limit_exceeded', retryable: true });
    expect((outcome as FiberError).message).toContain('Slow down.');
  });

  it('makes response.failed and error events retryable only when their code is transient', () => {
    const failed = (code: string) => run(sse([created, { type: 'response.failed', response: { id: 'resp_1', status: 'failed', error: { code, message: 'x' }, output: [] } }])).outcome;
    expect(failed('server_error')).toMatchObject({ name: 'ServerError', status: 500, retryable: true });
    expect(failed('rate_limit_exceeded')).toMatchObject({ name: 'RateLimitError', status: 429, retryable: true });
    expect(failed('insufficient_quota')).toMatchObject({ name: 'RateLimitError', status: 429, code: 'insufficient_quota', retryable: false });
    expect(failed('invalid_prompt')).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(failed('image_content_policy_violation')).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    const error = (err: object) => run(sse([created, { type: 'error', error: err }])).outcome;
    expect(error({ type: 'insufficient_quota', code: 'insufficient_quota', message: 'Quota.' })).toMatchObject({ name: 'RateLimitError', retryable: false });
    expect(error({ type: 'invalid_request_error', code: 'invalid_api_key', message: 'Key.' })).toMatchObject({ name: 'AuthError', status: 401, retryable: false });
    expect(error({ type: 'invalid_request_error', code: null, message: 'Bad.' })).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(error({ type: 'server_error', code: null, message: 'Oops.' })).toMatchObject({ name: 'ServerError', status: 500, retryable: true });
  });

  it('ignores everything after the end marker', () => {
    const { events, outcome } = run(sse([created, completed([]), { type: 'response.output_text.delta', delta: 'late' }, { type: 'error', message: 'late' }]));
    expect(events.map((e) => e.type)).toEqual(['usage']);
    expect(streamText(events)).toBe('');
    expect(outcome).toMatchObject({ finishReason: 'stop', usage: { prompt: 3, completion: 2, total: 5 } });
  });

  it('refuses invalid JSON and hostile output indexes', () => {
    expect(run(Buffer.from('data: {"type":\n\n')).outcome).toMatchObject({ name: 'StreamError', code: 'invalid_json' });
    expect(run(Buffer.from('data: 7\n\n')).outcome).toMatchObject({ name: 'StreamError', code: 'invalid_json' });
    const hostile = run(sse([created, { type: 'response.function_call_arguments.delta', output_index: 1e9, delta: 'x' }]));
    expect(hostile.outcome).toMatchObject({ name: 'StreamError', code: 'invalid_output_index' });
  });

  it('skips events named as repeats before parsing them', () => {
    // Not JSON at all: only skipping by name lets this through.
    const { outcome } = run(Buffer.concat([sse([created]), Buffer.from('event: response.output_text.done\ndata: {oops\n\n'), sse([completed([])])]));
    expect(outcome).toMatchObject({ finishReason: 'stop' });
  });
});

describe('parseResponses', () => {
  it('throws the typed error of a failed response', () => {
    expect(() => parseResponses({ object: 'response', status: 'failed', error: { code: 'rate_limit_exceeded', message: 'Too many.' }, output: [] }, RES)).toThrow(
      expect.objectContaining({ name: 'RateLimitError', status: 429 }),
    );
    expect(() => parseResponses({ object: 'response', status: 'failed', error: null }, RES)).toThrow(expect.objectContaining({ name: 'ServerError', status: 500 }));
    expect(() => parseResponses('nope', RES)).toThrow(expect.objectContaining({ code: 'invalid_response' }));
  });

  it('throws the typed error of a body with an error object, and a retryable invalid_response for one with no output', () => {
    expect(() => parseResponses({ object: 'response', status: 'completed', error: { code: 'insufficient_quota', message: 'Quota.' }, output: [] }, RES)).toThrow(
      expect.objectContaining({ name: 'RateLimitError', code: 'insufficient_quota', retryable: false }),
    );
    for (const body of [{ object: 'response' }, { object: 'response', status: 'completed', output: null }, { object: 'response', status: 'completed', error: null }]) {
      expect(() => parseResponses(body, RES), JSON.stringify(body)).toThrow(expect.objectContaining({ name: 'ServerError', code: 'invalid_response', retryable: true }));
    }
    // A content-filtered response has an empty output and says why: a normal result.
    expect(parseResponses({ object: 'response', status: 'incomplete', incomplete_details: { reason: 'content_filter' }, error: null, output: [] }, RES)).toMatchObject({ text: '', finishReason: 'content_filter' });
  });

  it('skips refusals and unknown items, and maps other statuses to other', () => {
    const r = parseResponses({
      object: 'response',
      status: 'in_progress',
      output: [
        { type: 'web_search_call', id: 'ws_1' },
        { type: 'message', content: [{ type: 'refusal', refusal: 'No.' }, { type: 'output_text', text: 'a' }, { type: 'output_text', text: 'b' }] },
        { type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text: 'raw thought' }] },
      ],
    }, RES);
    expect(r).toMatchObject({ text: 'ab', reasoning: 'raw thought', finishReason: 'other', usage: null, model: null, id: null });
    expect(r.providerData).toBeUndefined();
  });

  it('rejects tool arguments that are not a JSON object, without quoting them', () => {
    expect(() => parseResponses({ status: 'completed', output: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '[1,2]' }] }, RES)).toThrow(
      expect.objectContaining({ code: 'invalid_tool_arguments' }),
    );
  });
});

describe('keptItems', () => {
  const output = [
    { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'S' }], encrypted_content: 'enc', status: 'completed' },
    { type: 'message', id: 'msg_1', content: [] },
    { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'f', arguments: '{}' },
  ];

  it('stored: reasoning items with ids, then the ids of what followed them', () => {
    expect(keptItems(output, true)).toEqual([
      { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'S' }], encrypted_content: 'enc' },
      { type: 'message', id: 'msg_1' },
      { type: 'function_call', id: 'fc_1', call_id: 'call_1' },
    ]);
  });

  it('not stored: only encrypted reasoning, without ids', () => {
    expect(keptItems(output, false)).toEqual([{ type: 'reasoning', summary: [{ type: 'summary_text', text: 'S' }], encrypted_content: 'enc' }]);
    const plain = [{ ...output[0], encrypted_content: undefined }, output[1]!, output[2]!];
    expect(keptItems(plain, false)).toEqual([]);
  });

  it('nothing without reasoning', () => {
    expect(keptItems(output.slice(1), true)).toEqual([]);
  });
});
