import { describe, expect, it } from 'vitest';
import { parseToolArguments } from '../../../providers/shared/parse-tool-arguments.js';
import { invalidResponse, invalidStreamIndex, invalidStreamJson, invalidToolArguments, noAnswer } from '../../../providers/shared/response-errors.js';
import { ServerError, StreamError } from '../../../src/errors.js';
import type { ResponseInfo } from '../../../src/types.js';
import { thrown } from '../../helpers/conformance.js';

const res: ResponseInfo = { status: 200, header: () => undefined, requestId: 'req_1', provider: 'p', model: 'm' };

describe('response errors', () => {
  it('builds a 200 without an answer as a retryable ServerError invalid_response', () => {
    const err = noAnswer(res, 'response has no choices');
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ message: 'p m: response has no choices (200, request req_1)', status: 200, code: 'invalid_response', retryable: true, requestId: 'req_1' });
  });

  it('builds invalid_response as a non-retryable ServerError with the response status and request id', () => {
    const err = invalidResponse(res, 'response body is not a message object');
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ message: 'p m: response body is not a message object (200, request req_1)', provider: 'p', model: 'm', status: 200, code: 'invalid_response', retryable: false, requestId: 'req_1' });
  });

  it('builds invalid_json as a retryable StreamError', () => {
    const err = invalidStreamJson(res);
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ message: 'p m: stream event is not a JSON object (200, request req_1)', status: 200, code: 'invalid_json', retryable: true, requestId: 'req_1' });
  });

  it('builds an index error as a non-retryable StreamError with the given code', () => {
    const err = invalidStreamIndex(res, 'stream tool call has an invalid index', 'invalid_tool_call_index');
    expect(err).toBeInstanceOf(StreamError);
    expect(err).toMatchObject({ message: 'p m: stream tool call has an invalid index (200, request req_1)', code: 'invalid_tool_call_index', retryable: false });
  });

  it('names the tool in invalid_tool_arguments, cut at 100 characters', () => {
    expect(invalidToolArguments(res, 'lookup')).toMatchObject({ message: "p m: tool call 'lookup' has arguments that are not a JSON object (200, request req_1)", code: 'invalid_tool_arguments', retryable: false });
    expect(invalidToolArguments(res, 'x'.repeat(101)).message).toContain(`'${'x'.repeat(100)}…'`);
    expect(invalidToolArguments(res, 'x'.repeat(100)).message).toContain(`'${'x'.repeat(100)}'`);
  });
});

describe('parseToolArguments', () => {
  it('reads "", null and undefined as no arguments', () => {
    expect(parseToolArguments('', 't', res)).toEqual({});
    expect(parseToolArguments(null, 't', res)).toEqual({});
    expect(parseToolArguments(undefined, 't', res)).toEqual({});
  });

  it('drops __proto__ keys at every depth', () => {
    const args = parseToolArguments('{"__proto__":{"polluted":1},"ok":{"__proto__":{"p":2},"v":1}}', 't', res);
    expect(args).toEqual({ ok: { v: 1 } });
    expect(Object.assign({}, args)).not.toHaveProperty('polluted');
  });

  it('refuses anything but a JSON object without quoting the arguments', () => {
    for (const text of ['{"a":', '[1]', '"s"', '3', 'null']) {
      const err = thrown(() => parseToolArguments(text, 'lookup', res));
      expect(err).toBeInstanceOf(ServerError);
      expect(err).toMatchObject({ code: 'invalid_tool_arguments', retryable: false });
      expect(err.message).not.toContain(text);
      expect((err as { cause?: unknown }).cause).toBeUndefined();
    }
  });
});
