/**
 * The errors an adapter raises about a response it cannot use, as opposed to the provider's own error bodies
 * (each adapter's `errors.ts` maps those): a body that is not the expected object or holds no answer at all, a
 * stream event that is not JSON, a hostile index, tool arguments that are not a JSON object. The codes are ours (STYLE §5) and every message
 * names what failed without quoting model output. These run on the error path only, never per event.
 */
import { errorMessage, ServerError, StreamError } from '../../src/errors.js';
import type { ResponseInfo } from '../../src/types.js';

/** How much of a tool name goes into a message (the name is model output). */
const MAX_TOOL_NAME_CHARS = 100;

/**
 * `ServerError` `invalid_response`: a 200 body that is not the object the wire promises. Not retryable.
 *
 * @param what - what happened, e.g. `'response body is not a message object'`
 * @example
 * if (body === null || typeof body !== 'object') throw invalidResponse(res, 'response body is not a message object');
 */
export function invalidResponse(res: ResponseInfo, what: string): ServerError {
  return new ServerError(errorMessage(res.provider, res.model, what, res.status, res.requestId), {
    provider: res.provider,
    model: res.model,
    status: res.status,
    code: 'invalid_response',
    retryable: false,
    requestId: res.requestId,
  });
}

/**
 * `ServerError` `invalid_response`, retryable: a 200 body of the right shape that carries no answer at all (`{}`,
 * no choices / candidates / content / output), and no error object saying why. Nothing names a failure of the
 * request itself, so a new attempt may well get a real answer. A legitimately empty answer (a content filter, a
 * refusal, a blocked prompt) is not this: it names its reason and is a normal result.
 *
 * @param what - what is missing, e.g. `'response has no choices'`
 * @example
 * if (choice === undefined) throw noAnswer(res, 'response has no choices');
 */
export function noAnswer(res: ResponseInfo, what: string): ServerError {
  return new ServerError(errorMessage(res.provider, res.model, what, res.status, res.requestId), {
    provider: res.provider,
    model: res.model,
    status: res.status,
    code: 'invalid_response',
    retryable: true,
    requestId: res.requestId,
  });
}

/**
 * `StreamError` `invalid_json`: an SSE event whose data is not a JSON object. Retryable: a garbled stream is a
 * transport-level accident, and a new attempt gets a new one.
 *
 * @example
 * try { ev = JSON.parse(data); } catch { throw invalidStreamJson(this.res); }
 */
export function invalidStreamJson(res: ResponseInfo): StreamError {
  return new StreamError(errorMessage(res.provider, res.model, 'stream event is not a JSON object', res.status, res.requestId), {
    provider: res.provider,
    model: res.model,
    status: res.status,
    code: 'invalid_json',
    retryable: true,
    requestId: res.requestId,
  });
}

/**
 * `StreamError` for an index a decoder refuses (negative, fractional, or past its slot limit, so a hostile index
 * cannot make it walk a huge sparse array). Not retryable: the server would send the same again.
 *
 * @param what - what happened, e.g. `'stream tool call has an invalid index'`
 * @param code - our code for it, e.g. `'invalid_tool_call_index'`
 */
export function invalidStreamIndex(res: ResponseInfo, what: string, code: string): StreamError {
  return new StreamError(errorMessage(res.provider, res.model, what, res.status, res.requestId), {
    provider: res.provider,
    model: res.model,
    status: res.status,
    code,
    retryable: false,
    requestId: res.requestId,
  });
}

/**
 * `ServerError` `invalid_tool_arguments`: a tool call whose arguments are not a JSON object. The message names
 * the tool (bounded) and never quotes the arguments.
 *
 * @param name - the tool's name, as the model sent it
 */
export function invalidToolArguments(res: ResponseInfo, name: string): ServerError {
  const shown = name.length > MAX_TOOL_NAME_CHARS ? name.slice(0, MAX_TOOL_NAME_CHARS) + '…' : name;
  return new ServerError(errorMessage(res.provider, res.model, `tool call '${shown}' has arguments that are not a JSON object`, res.status, res.requestId), {
    provider: res.provider,
    model: res.model,
    status: res.status,
    code: 'invalid_tool_arguments',
    retryable: false,
    requestId: res.requestId,
  });
}
