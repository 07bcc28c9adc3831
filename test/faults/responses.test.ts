/**
 * Fault matrix: bad HTTP responses. Bodies that are not what they claim, gateway pages, every retry-after form,
 * overload statuses, size caps, malformed framing and headers, and a key echoed back by the server.
 */
import { expect } from 'vitest';
import {
  AuthError, BadRequestError, ConnectionError, OverloadedError, RateLimitError, ServerError,
} from '../../src/errors.js';
import { fallback } from '../../middleware/fallback.js';
import { recordingLogger, type LogCall } from '../helpers/core.js';
import { chunk, expectWithin, faultSuite, head, TEST_KEY, TOTAL_MS, useEmulator } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('responses.test.ts');

const emu = useEmulator();

const T = { timeouts: { totalMs: TOTAL_MS } };
const JSON_HEADERS = { 'content-type': 'application/json' };
const retries = (calls: readonly LogCall[]) => calls.filter((c) => c.fields.kind === 'retry');

fault('truncated-json-body', async (kit) => {
  emu.script({ malformedJson: true, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'invalid_json', status: 200, retryable: true, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('empty-200-body', async (kit) => {
  emu.script({ raw: { status: 200, headers: JSON_HEADERS, body: '' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'invalid_json', status: 200, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('html-200-body', async (kit) => {
  emu.script({ raw: { status: 200, headers: { 'content-type': 'text/html' }, body: '<!doctype html><html><body>Sign in</body></html>' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'invalid_json', status: 200, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('json-not-object', async (kit) => {
  emu.script({ raw: { status: 200, headers: JSON_HEADERS, body: '[]' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'invalid_response', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('json-200-error-openai', async (kit) => {
  const body = JSON.stringify({ error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } });
  emu.script({ raw: { status: 200, headers: { ...JSON_HEADERS, 'x-request-id': 'req_q' }, body }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(RateLimitError);
  expect(error).toMatchObject({ status: 429, code: 'insufficient_quota', retryable: false, attempts: 1, requestId: 'req_q' });
  expect(error.message).toContain('You exceeded your current quota');
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('json-200-error-anthropic', async (kit) => {
  const body = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_a' });
  emu.script({ provider: 'anthropic', raw: { status: 200, headers: JSON_HEADERS, body }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ model: 'claude-3-5-haiku-latest', messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 529, code: 'overloaded_error', provider: 'anthropic', retryable: true, attempts: 3, requestId: 'req_a' });
  expect(emu.requests.map((r) => r.provider)).toEqual(['anthropic', 'anthropic', 'anthropic']);
  expectWithin(ms, TOTAL_MS);
});

fault('json-200-error-gemini', async (kit) => {
  const body = JSON.stringify({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
  emu.script({ provider: 'gemini', raw: { status: 200, headers: JSON_HEADERS, body }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ model: 'gemini-2.0-flash', messages: 'hi' }));
  expect(error).toBeInstanceOf(BadRequestError);
  expect(error).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT', provider: 'gemini', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('json-200-no-answer', async (kit) => {
  const f = kit.emuFiber(emu, T);
  const calls = [
    { provider: 'openai', req: { messages: 'hi' } },
    { provider: 'openai', req: { messages: 'hi', providerOptions: { api: 'responses' } } },
    { provider: 'anthropic', req: { model: 'claude-3-5-haiku-latest', messages: 'hi' } },
    { provider: 'gemini', req: { model: 'gemini-2.0-flash', messages: 'hi' } },
  ] as const;
  for (const { provider, req } of calls) {
    emu.reset();
    emu.script({ provider, raw: { status: 200, headers: JSON_HEADERS, body: '{}' }, times: Infinity });
    const { error, ms } = await kit.failure(f.chat(req));
    expect(error, provider).toBeInstanceOf(ServerError);
    expect(error).toMatchObject({ code: 'invalid_response', status: 200, provider, retryable: true, attempts: 3 });
    expect(error.message).toMatch(/response has no (choices|content|candidates)/);
    expect(emu.requests).toHaveLength(3);
    expectWithin(ms, TOTAL_MS);
  }
});

fault('html-502-proxy', async (kit) => {
  const page = `<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>${'<!-- padding -->'.repeat(200)}<hr><center>nginx</center></body></html>`;
  emu.script({ raw: { status: 502, headers: { 'content-type': 'text/html' }, body: page }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ status: 502, retryable: true, attempts: 3 });
  expect(error.message).toContain('502 Bad Gateway');
  expect(error.message.length).toBeLessThan(400);
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('drop-mid-json-body', async (kit) => {
  emu.script({ dropAfterEvents: 1, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'connection_dropped', retryable: true, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('truncated-chunked-json', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { ...JSON_HEADERS, 'transfer-encoding': 'chunked' }));
      c.write(chunk('{"id":"chatcmpl-x",'));
      c.write('40\r\n"ob');
      c.later(10, () => c.socket.destroy());
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'connection_dropped', attempts: 3 });
  expect(srv.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('429-retry-after-seconds', async (kit) => {
  emu.script({ status: 429, retryAfter: '1' });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, timeouts: { totalMs: 5_000 } });
  const { value, ms } = await kit.success(f.chat({ messages: 'hello' }));
  expect(value).toMatchObject({ text: 'You said: hello', attempts: 2 });
  expect(retries(logger.calls).map((c) => c.fields)).toEqual([
    expect.objectContaining({ attempt: 1, delayMs: 1_000, serverRequested: true, reason: '429 rate_limit_exceeded', error: 'RateLimitError' }),
  ]);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, 5_000);
});

fault('429-retry-after-http-date', async (kit) => {
  // HTTP-dates have whole seconds: 1.5 s ahead, truncated, is 0.5–1.5 s ahead.
  emu.script({ status: 429, retryAfter: new Date(Date.now() + 1_500).toUTCString() });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, timeouts: { totalMs: 5_000 } });
  const { value, ms } = await kit.success(f.chat({ messages: 'hello' }));
  expect(value.attempts).toBe(2);
  const logs = retries(logger.calls);
  expect(logs).toHaveLength(1);
  expect(logs[0]!.fields).toMatchObject({ serverRequested: true, error: 'RateLimitError' });
  expect(logs[0]!.fields.delayMs).toBeGreaterThan(0);
  expect(logs[0]!.fields.delayMs).toBeLessThanOrEqual(1_500);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, 5_000);
});

fault('429-retry-after-ms', async (kit) => {
  emu.script({ status: 429, retryAfterMs: '30' });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, ...T });
  const { value, ms } = await kit.success(f.chat({ messages: 'hello' }));
  expect(value.attempts).toBe(2);
  expect(retries(logger.calls).map((c) => [c.fields.delayMs, c.fields.serverRequested])).toEqual([[30, true]]);
  expect(emu.requests).toHaveLength(2);
  expectWithin(ms, TOTAL_MS);
});

fault('429-gemini-retry-info', async (kit) => {
  emu.script({ provider: 'gemini', status: 429, geminiRetryDelay: '0.05s', times: Infinity });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 }, ...T });
  const { error, ms } = await kit.failure(f.chat({ model: 'gemini-2.0-flash', messages: 'hi' }));
  expect(error).toBeInstanceOf(RateLimitError);
  expect(error).toMatchObject({ status: 429, code: 'RESOURCE_EXHAUSTED', retryAfterMs: 50, provider: 'gemini', attempts: 2 });
  expect(retries(logger.calls).map((c) => [c.fields.delayMs, c.fields.serverRequested])).toEqual([[50, true]]);
  expect(emu.requests.map((r) => r.provider)).toEqual(['gemini', 'gemini']);
  expect(emu.requests[0]!.headers['retry-after']).toBeUndefined();
  expectWithin(ms, TOTAL_MS);
});

fault('429-retry-after-past-deadline', async (kit) => {
  emu.script({ status: 429, retryAfter: '5', times: Infinity });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, timeouts: { totalMs: 1_000 } });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(RateLimitError);
  expect(error).toMatchObject({ status: 429, retryAfterMs: 5_000, attempts: 1 });
  expect(retries(logger.calls)).toEqual([]);
  expect(logger.calls.filter((c) => c.fields.kind === 'retry_skipped').map((c) => c.fields.delayMs)).toEqual([5_000]);
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, 1_000);
});

fault('429-insufficient-quota', async (kit) => {
  emu.script({ status: 429, errorCode: 'insufficient_quota', times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(RateLimitError);
  expect(error).toMatchObject({ status: 429, code: 'insufficient_quota', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('529-openai-gateway', async (kit) => {
  emu.script({ provider: 'openai', status: 529, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 529, provider: 'openai', retryable: true, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('503-persistent', async (kit) => {
  emu.script({ status: 503, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 503, retryable: true, attempts: 3, requestId: 'req_emu_3' });
  expect(emu.requests).toHaveLength(3);
  expect(new Set(emu.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  expectWithin(ms, TOTAL_MS);
});

fault('529-anthropic', async (kit) => {
  emu.script({ provider: 'anthropic', status: 529, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ model: 'claude-3-5-haiku-latest', messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 529, code: 'overloaded_error', provider: 'anthropic', attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('x-should-retry-false', async (kit) => {
  emu.script({ status: 503, headers: { 'x-should-retry': 'false' }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 503, retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('fallback-after-503', async (kit) => {
  emu.script({ provider: 'openai', status: 503, times: Infinity });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, ...T });
  const { value, ms } = await kit.success(f.chat({ messages: 'hello', fallback: ['claude-3-5-haiku-latest'] }));
  expect(value).toMatchObject({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', text: 'You said: hello', attempts: 4 });
  expect(emu.requests.map((r) => r.provider)).toEqual(['openai', 'openai', 'openai', 'anthropic']);
  expect(logger.calls.filter((c) => c.fields.kind === 'fallback').map((c) => c.fields.from)).toEqual(['openai:gpt-4o-mini']);
  expectWithin(ms, TOTAL_MS);
});

fault('oversized-json', async (kit) => {
  emu.script({ text: Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ') });
  const f = kit.emuFiber(emu, { ...T, maxResponseBytes: 1_000 });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'response_too_large', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('oversized-error-body', async (kit) => {
  emu.script({ status: 500, errorMessage: 'x'.repeat(50_000), times: Infinity });
  const f = kit.emuFiber(emu, { ...T, maxResponseBytes: 1_000 });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'response_too_large', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('huge-header', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      c.write(head('200 OK', { ...JSON_HEADERS, 'x-huge': 'a'.repeat(100_000), 'content-length': '2' }) + '{}');
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'UND_ERR_HEADERS_OVERFLOW', retryable: true, attempts: 3 });
  expect(srv.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('garbage-status-line', async (kit) => {
  const srv = await kit.raw({ onRequest: (c) => c.write('GARBAGE NONSENSE\r\n\r\n') });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'connection_failed', attempts: 3 });
  expect(error.message).toMatch(/HTTP/);
  expect(srv.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('key-echoed-in-error', async (kit) => {
  const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${TEST_KEY}.`, type: 'invalid_request_error', code: 'invalid_api_key' } });
  emu.script({ raw: { status: 401, headers: JSON_HEADERS, body }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(AuthError);
  expect(error).toMatchObject({ status: 401, code: 'invalid_api_key', retryable: false, attempts: 1 });
  expect(error.message).toContain('Incorrect API key provided');
  for (const where of [error.message, error.stack ?? '', JSON.stringify(error.raw), JSON.stringify(Object.entries(error))]) {
    expect(where).not.toContain(TEST_KEY);
  }
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('conflicting-content-length', async (kit) => {
  const body = '{"id":"chatcmpl-x","object":"chat.completion","choices":[]}';
  const srv = await kit.raw({
    onRequest: (c) => c.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ncontent-length: 5\r\n\r\n${body}`),
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', attempts: 3 });
  expect(srv.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

/** A 200 Chat Completions body with one tool call whose arguments are `args` (raw JSON text). */
function toolCallBody(args: string): string {
  return JSON.stringify({
    id: 'chatcmpl-tool', object: 'chat.completion', model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: args } }] }, finish_reason: 'tool_calls' }],
  });
}

fault('invalid-tool-arguments', async (kit) => {
  emu.script({ raw: { status: 200, headers: JSON_HEADERS, body: toolCallBody('{"city":') }, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'invalid_tool_arguments', retryable: false, attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('proto-keys-in-response', async (kit) => {
  const args = '{"__proto__":{"polluted":"args"},"a":1}';
  const body = toolCallBody(args)
    .replace('{"id":"chatcmpl-tool"', '{"__proto__":{"polluted":"body"},"id":"chatcmpl-tool"')
    .replace('"role":"assistant"', '"__proto__":{"polluted":"message"},"role":"assistant"');
  emu.script({ raw: { status: 200, headers: JSON_HEADERS, body } });
  const f = kit.emuFiber(emu, T);
  const { value, ms } = await kit.success(f.chat({ messages: 'hi' }));
  const toolArgs = value.toolCalls[0]!.arguments;
  expect(toolArgs).toEqual({ a: 1 });
  expect(Object.getPrototypeOf(toolArgs)).toBe(Object.prototype);
  expect(Object.prototype.hasOwnProperty.call(toolArgs, '__proto__')).toBe(false);
  for (const o of [{}, toolArgs, value, value.message]) {
    expect((o as { polluted?: unknown }).polluted).toBeUndefined();
  }
  expect('polluted' in Object.prototype).toBe(false);
  expect(value.attempts).toBe(1);
  expectWithin(ms, TOTAL_MS);
});

fault('retry-budget-spent', async (kit) => {
  emu.script({ status: 503, times: Infinity });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, retry: { minDelayMs: 1, maxDelayMs: 2, budget: { ratio: 0, minPerSecond: 0 } }, ...T });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(OverloadedError);
  expect(error).toMatchObject({ status: 503, attempts: 1 });
  expect(retries(logger.calls)).toEqual([]);
  expect(logger.calls.filter((c) => c.fields.kind === 'retry_skipped').map((c) => c.fields.budget)).toEqual([true]);
  expect(emu.requests).toHaveLength(1);
  expectWithin(ms, TOTAL_MS);
});

fault('breaker-open-skip', async (kit) => {
  const fb = fallback({ breaker: { failureThreshold: 1, cooldownMs: 60_000 } });
  const logger = recordingLogger();
  const f = kit.emuFiber(emu, { logger, retry: false, ...T }).use(fb);
  const req = { messages: 'hello', fallback: ['gemini-2.0-flash'] };
  emu.script({ provider: 'openai', status: 503 });
  expect((await f.chat(req)).provider).toBe('gemini');
  expect(fb.breaker!.state('openai:gpt-4o-mini')).toBe('open');
  emu.reset();
  const { value, ms } = await kit.success(f.chat(req));
  expect(value).toMatchObject({ provider: 'gemini', text: 'You said: hello', attempts: 1 });
  expect(emu.requests.map((r) => r.provider)).toEqual(['gemini']);
  expect(logger.calls.filter((c) => c.fields.kind === 'breaker_skip').map((c) => [c.fields.provider, c.fields.model])).toEqual([['openai', 'gpt-4o-mini']]);
  expectWithin(ms, TOTAL_MS);
});

coversTheMatrix();
