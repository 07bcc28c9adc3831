import { describe, expect, it } from 'vitest';
import { mapUsage, parseMessage } from '../../../providers/anthropic/parse.js';
import { AuthError, BadRequestError, OverloadedError, ServerError } from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';
import { loadFixtures } from '../../helpers/fixtures.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_p', provider: 'anthropic', model: 'claude-sonnet-4-5' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

function message(content: unknown[], extra: Record<string, unknown> = {}) {
  return { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content, stop_reason: 'end_turn', stop_sequence: null, ...extra };
}

describe('parseMessage', () => {
  it('returns text, model, id and the body as raw', () => {
    const body = message([{ type: 'text', text: 'Hi' }, { type: 'text', text: ' there' }]);
    expect(parseMessage(body, res)).toEqual({
      text: 'Hi there',
      reasoning: null,
      toolCalls: [],
      finishReason: 'stop',
      usage: null,
      model: 'claude-sonnet-4-5-20250929',
      id: 'msg_1',
      raw: body,
    });
  });

  it('reports cache reads and writes of anthropic/text, counted in prompt', () => {
    const fx = loadFixtures('anthropic').find((f) => f.name === 'text')!;
    const parsed = parseMessage(JSON.parse(fx.body.toString('utf8')), res);
    expect(parsed.usage).toEqual({ prompt: 12, completion: 29, total: 41, costEstimate: null, cachedPrompt: 0, cacheWrite: 0 });
  });

  it('adds cache tokens to the prompt (README: 21 + 188 + 2048 = 2257)', () => {
    expect(mapUsage({ input_tokens: 21, cache_creation_input_tokens: 188, cache_read_input_tokens: 2048, output_tokens: 50 })).toEqual({
      prompt: 2257,
      completion: 50,
      total: 2307,
      costEstimate: null,
      cachedPrompt: 2048,
      cacheWrite: 188,
    });
    expect(mapUsage({ input_tokens: 3, output_tokens: 4 })).toEqual({ prompt: 3, completion: 4, total: 7, costEstimate: null });
    expect(mapUsage({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: null })).not.toHaveProperty('cachedPrompt');
  });

  it('takes tool calls from tool_use blocks, arguments = input', () => {
    const body = message(
      [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_2', name: 'noop', input: {} },
      ],
      { stop_reason: 'tool_use' },
    );
    expect(parseMessage(body, res)).toMatchObject({
      text: 'Checking.',
      finishReason: 'tool_calls',
      toolCalls: [
        { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } },
        { id: 'toolu_2', name: 'noop', arguments: {} },
      ],
    });
  });

  it('drops __proto__ keys from tool input at every depth', () => {
    const body = JSON.parse('{"content":[{"type":"tool_use","id":"t","name":"x","input":{"__proto__":{"polluted":1},"ok":[{"__proto__":{"p":1},"v":1}]}}]}');
    const args = parseMessage(body, res).toolCalls[0]!.arguments;
    expect(args).toEqual({ ok: [{ v: 1 }] });
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(Object.assign({}, args)).not.toHaveProperty('polluted');
  });

  it('makes non-object tool input {}', () => {
    expect(parseMessage(message([{ type: 'tool_use', id: 't', name: 'x', input: null }]), res).toolCalls[0]!.arguments).toEqual({});
    expect(parseMessage(message([{ type: 'tool_use', id: 't', name: 'x', input: [1] }]), res).toolCalls[0]!.arguments).toEqual({});
  });

  it('keeps thinking out of text: reasoning gets the thinking text, providerData the blocks verbatim', () => {
    const thinking = { type: 'thinking', thinking: 'Hmm, ', signature: 'sig_1' };
    const more = { type: 'thinking', thinking: 'yes.', signature: 'sig_2' };
    const redacted = { type: 'redacted_thinking', data: 'EmwKAhgB' };
    const parsed = parseMessage(message([thinking, redacted, more, { type: 'text', text: 'Answer.' }]), res);
    expect(parsed.text).toBe('Answer.');
    expect(parsed.reasoning).toBe('Hmm, yes.');
    expect(parsed.providerData).toEqual({ anthropic: { blocks: [thinking, redacted, more] } });
  });

  it('has null reasoning and providerData for redacted thinking alone, and no providerData without thinking', () => {
    const parsed = parseMessage(message([{ type: 'redacted_thinking', data: 'x' }, { type: 'text', text: 'ok' }]), res);
    expect(parsed.reasoning).toBeNull();
    expect(parsed.providerData).toEqual({ anthropic: { blocks: [{ type: 'redacted_thinking', data: 'x' }] } });
    expect(parseMessage(message([{ type: 'text', text: 'ok' }]), res)).not.toHaveProperty('providerData');
  });

  it('maps stop reasons per the README', () => {
    const reason = (r: string | null) => parseMessage(message([], { stop_reason: r }), res).finishReason;
    expect(reason('end_turn')).toBe('stop');
    expect(reason('stop_sequence')).toBe('stop');
    expect(reason('max_tokens')).toBe('length');
    expect(reason('tool_use')).toBe('tool_calls');
    expect(reason('refusal')).toBe('content_filter');
    expect(reason('pause_turn')).toBe('other');
    expect(reason(null)).toBe('other');
  });

  it('ignores server tool blocks and malformed blocks', () => {
    const body = message([null, 'x', { type: 'server_tool_use', id: 's', name: 'web_search', input: {} }, { type: 'text', text: 'ok' }]);
    expect(parseMessage(body, res)).toMatchObject({ text: 'ok', toolCalls: [] });
  });

  it('throws ServerError invalid_response for a body that is not an object', () => {
    expect(() => parseMessage('oops', res)).toThrow(ServerError);
    expect(() => parseMessage(null, res)).toThrow(ServerError);
    expect(() => parseMessage([], res)).toThrow(ServerError);
  });

  it('throws a retryable ServerError invalid_response for a 200 body without content', () => {
    for (const body of [{}, { id: 'x', model: 'm' }, { type: 'message', content: null }]) {
      const err = thrown(() => parseMessage(body, res));
      expect(err, JSON.stringify(body)).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_response', status: 200, retryable: true });
      expect(err.message).toBe('anthropic claude-sonnet-4-5: response has no content (200, request req_p)');
    }
  });

  it('throws the typed error of a 200 error body, by the in-stream type table', () => {
    const overloaded = thrown(() => parseMessage({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_b' }, { ...res, requestId: undefined }));
    expect(overloaded).toBeInstanceOf(OverloadedError);
    expect(overloaded).toMatchObject({ status: 529, code: 'overloaded_error', retryable: true, requestId: 'req_b' });
    expect(thrown(() => parseMessage({ type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }, res))).toMatchObject({ name: 'BadRequestError', status: 400, retryable: false });
    expect(thrown(() => parseMessage({ type: 'error', error: { type: 'authentication_error', message: 'key' } }, res))).toBeInstanceOf(AuthError);
    expect(thrown(() => parseMessage({ error: { type: 'permission_error', message: 'no' } }, res))).toMatchObject({ status: 403, retryable: false });
    expect(thrown(() => parseMessage({ type: 'error', error: { type: 'api_error', message: 'oops' } }, res))).toMatchObject({ name: 'ServerError', status: 500, retryable: true });
    expect(thrown(() => parseMessage({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 300000 tokens > 200000 maximum' } }, res))).toBeInstanceOf(BadRequestError);
  });

  it('keeps a message with empty content a normal result (refusal, end_turn)', () => {
    expect(parseMessage(message([], { stop_reason: 'refusal' }), res)).toMatchObject({ text: '', toolCalls: [], finishReason: 'content_filter' });
    expect(parseMessage(message([]), res)).toMatchObject({ text: '', finishReason: 'stop' });
  });
});
