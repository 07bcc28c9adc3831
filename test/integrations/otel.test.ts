import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, BadRequestError, ConfigError, StreamError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import { otel, type OtelOptions } from '../../src/integrations/otel.js';
import { redaction } from '../../middleware/redaction.js';
import { defineMiddleware } from '../../src/compose.js';
import { startEmulator, type Emulator } from '../../src/testing/index.js';
import type { FiberContext, Middleware } from '../../src/types.js';
import { collect, recordingLogger, rejectionOf, retryLogs, trackHandles, type HandleTracker } from '../helpers/core.js';
import { otelHarness, serializeSpan, type MetricOut, type OtelHarness } from '../helpers/otel.js';

const CANARY = 'sk-test-canary-key-123456';
const MODEL = 'gpt-4o-mini';

let emu: Emulator;
let handles: HandleTracker;
let h: OtelHarness;
let fibers: Fiber[] = [];

beforeAll(async () => {
  handles = trackHandles();
  emu = await startEmulator();
});

afterAll(async () => {
  await emu.close();
  await handles.expectAllClosed();
});

beforeEach(() => {
  emu.reset();
  h = otelHarness();
});

afterEach(async () => {
  await Promise.all(fibers.map((f) => f.close()));
  fibers = [];
  await h.shutdown();
});

/** A Fiber on the emulator with fast retries, traced by `otel()` into this test's SDK pipeline. */
function tracedFiber(options: OtelOptions = {}, fiberOptions: FiberOptions = {}): Fiber {
  const fiber = new Fiber({
    apiKeys: { openai: CANARY },
    baseUrls: { openai: emu.baseUrls.openai },
    defaultModel: MODEL,
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    ...fiberOptions,
  }).use(otel({ tracerProvider: h.tracerProvider, meterProvider: h.meterProvider, ...options }));
  fibers.push(fiber);
  return fiber;
}

const isCall = (s: ReadableSpan) => s.name === `chat ${MODEL}`;
const callSpans = () => h.spans().filter(isCall);
const attemptSpans = () => h.spans().filter((s) => / attempt \d+$/.test(s.name)).sort((a, b) => Number(a.attributes['llm_fiber.attempt']) - Number(b.attributes['llm_fiber.attempt']));
function theCallSpan(): ReadableSpan {
  const calls = callSpans();
  expect(calls).toHaveLength(1);
  return calls[0]!;
}

/** Let hooks that a stream runs without awaiting (onError after `break`) finish. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function points(metrics: Map<string, MetricOut>, name: string): MetricOut['points'] {
  const m = metrics.get(name);
  expect(m, `metric ${name}`).toBeDefined();
  return m!.points;
}
const countOf = (v: MetricOut['points'][number]['value']) => (typeof v === 'number' ? v : v.count);
const sumOf = (v: MetricOut['points'][number]['value']) => (typeof v === 'number' ? v : v.sum ?? 0);

describe('otel(): spans', () => {
  it('records one call span and a child span per attempt after a 503, a retry and a success', async () => {
    emu.script({ status: 503, retryAfterMs: '5' });
    emu.script({ text: 'Hello there', usage: { prompt: 9, completion: 2 } });
    const logger = recordingLogger();
    const fiber = tracedFiber({}, { logger });
    const result = await fiber.chat({
      messages: 'hi', temperature: 0.2, maxTokens: 50, idempotencyKey: 'idem-123', metadata: { tenant: 'acme', feature: 'greeting' },
    });

    expect(h.spans()).toHaveLength(3);
    const call = theCallSpan();
    const [a1, a2] = attemptSpans();
    expect(attemptSpans()).toHaveLength(2);
    expect(call.kind).toBe(SpanKind.CLIENT);
    expect(call.parentSpanContext).toBeUndefined();
    for (const a of [a1!, a2!]) {
      expect(a.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
      expect(a.spanContext().traceId).toBe(call.spanContext().traceId);
    }
    expect(a1!.name).toBe(`chat ${MODEL} attempt 1`);
    expect(a2!.name).toBe(`chat ${MODEL} attempt 2`);

    expect(call.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': MODEL,
      'gen_ai.request.stream': false,
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.max_tokens': 50,
      'gen_ai.response.model': result.model,
      'gen_ai.response.id': result.id,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 9,
      'gen_ai.usage.output_tokens': 2,
      'llm_fiber.attempts': 2,
      'llm_fiber.idempotency_key': 'idem-123',
      'llm_fiber.cached': false,
      'llm_fiber.metadata.tenant': 'acme',
      'llm_fiber.metadata.feature': 'greeting',
    });
    expect(result.id).toBeTruthy();
    expect(call.status.code).toBe(SpanStatusCode.UNSET);

    expect(a1!.attributes).toMatchObject({
      'llm_fiber.attempt': 1, 'error.type': 'OverloadedError', 'http.response.status_code': 503,
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL,
    });
    expect(a1!.status.code).toBe(SpanStatusCode.ERROR);
    expect(a2!.attributes['llm_fiber.attempt']).toBe(2);
    expect(a2!.attributes['error.type']).toBeUndefined();
    expect(a2!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records each retry as an event on the call span with the wait the attempt loop computed', async () => {
    emu.script({ status: 503, retryAfterMs: '5' });
    const logger = recordingLogger();
    await tracedFiber({}, { logger }).chat({ messages: 'hi' });

    const logged = retryLogs(logger.calls);
    expect(logged).toHaveLength(1);
    const retries = theCallSpan().events.filter((e) => e.name === 'llm_fiber.retry');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.attributes).toEqual({
      'llm_fiber.attempt': 1,
      'llm_fiber.retry.delay_ms': logged[0]!.fields.delayMs,
      'llm_fiber.retry.reason': logged[0]!.fields.reason,
      'llm_fiber.retry.server_requested': true,
      'error.type': 'OverloadedError',
      'http.response.status_code': 503,
      'llm_fiber.error.code': logged[0]!.fields.code,
    });
    expect(retries[0]!.attributes!['llm_fiber.retry.delay_ms']).toBe(5);
  });

  it('records a retry that the deadline ruled out as llm_fiber.retry_skipped', async () => {
    emu.script({ status: 503, retryAfterMs: '60000' });
    const err = await rejectionOf(tracedFiber().chat({ messages: 'hi', timeout: 5_000 }));
    expect(err.status).toBe(503);

    const call = theCallSpan();
    expect(call.events.filter((e) => e.name === 'llm_fiber.retry')).toHaveLength(0);
    const skipped = call.events.filter((e) => e.name === 'llm_fiber.retry_skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.attributes).toMatchObject({ 'llm_fiber.attempt': 1, 'llm_fiber.retry.delay_ms': 60_000 });
    expect(call.attributes).toMatchObject({ 'error.type': 'OverloadedError', 'llm_fiber.attempts': 1 });
  });

  it('keeps a stream call span open until done and records the time to the first chunk', async () => {
    emu.script({ chunks: ['Hel', 'lo', ' world'], usage: { prompt: 4, completion: 3 } });
    const stream = tracedFiber().chatStream({ messages: 'hi', metadata: { tenant: 'acme' } });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value).toMatchObject({ type: 'chunk', delta: 'Hel' });
    expect(callSpans()).toHaveLength(0);
    expect(attemptSpans()).toHaveLength(0);
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) { /* drain */ }
    const result = await stream.result();

    const call = theCallSpan();
    expect(result.ttfbMs).not.toBeNull();
    expect(call.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 4,
      'gen_ai.usage.output_tokens': 3,
      'llm_fiber.ttfb_ms': result.ttfbMs,
      'gen_ai.response.time_to_first_chunk': result.ttfbMs! / 1000,
      'llm_fiber.attempts': 1,
      'llm_fiber.metadata.tenant': 'acme',
    });
    const marks = call.events.filter((e) => e.name === 'llm_fiber.first_chunk');
    expect(marks).toHaveLength(1);
    expect(marks[0]!.attributes).toEqual({ 'llm_fiber.ttfb_ms': result.ttfbMs });
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    // The attempt span ends with the stream, under the call span.
    const [attempt] = attemptSpans();
    expect(attemptSpans()).toHaveLength(1);
    expect(attempt!.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
  });

  it('marks a failed call with error.type and status ERROR', async () => {
    emu.script({ status: 400, errorMessage: 'messages must not be empty', errorCode: 'invalid_value' });
    const err = await rejectionOf(tracedFiber().chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(BadRequestError);

    const call = theCallSpan();
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    expect(call.attributes).toMatchObject({
      'error.type': 'BadRequestError', 'http.response.status_code': 400, 'llm_fiber.error.code': 'invalid_value', 'llm_fiber.attempts': 1,
    });
    expect(call.attributes['gen_ai.response.model']).toBeUndefined();
    const attempts = attemptSpans();
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempts[0]!.attributes).toMatchObject({ 'error.type': 'BadRequestError', 'http.response.status_code': 400 });
  });

  it('ends a stream call span at a failure after commit (onError) with error.type', async () => {
    emu.script({ chunks: ['a', 'b', 'c', 'd'], dropAfterEvents: 2 });
    const { events, error } = await collect(tracedFiber({}, { retry: false }).chatStream({ messages: 'hi' }));
    expect(error).toBeInstanceOf(StreamError);
    expect(events.some((e) => e.type === 'chunk')).toBe(true);

    const call = theCallSpan();
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    expect(call.attributes['error.type']).toBe('StreamError');
    expect(typeof call.attributes['llm_fiber.ttfb_ms']).toBe('number');
    const attempts = attemptSpans();
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attributes['error.type']).toBe('StreamError');
  });

  it('ends the call span without an error when the consumer leaves the loop early', async () => {
    emu.script({ chunks: ['one', 'two', 'three', 'four'], chunkDelayMs: 5 });
    const stream = tracedFiber().chatStream({ messages: 'hi' });
    for await (const ev of stream) {
      if (ev.type === 'chunk') break;
    }
    await settle();

    const call = theCallSpan();
    expect(call.attributes['llm_fiber.consumer_closed']).toBe(true);
    expect(call.attributes['error.type']).toBeUndefined();
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    expect(attemptSpans()).toHaveLength(1);
  });

  it('marks an aborted stream as an AbortError', async () => {
    emu.script({ chunks: ['one', 'two', 'three', 'four'], chunkDelayMs: 5 });
    const stream = tracedFiber().chatStream({ messages: 'hi' });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    stream.abort();
    await expect(stream.result()).rejects.toBeInstanceOf(AbortError);
    await settle();

    const call = theCallSpan();
    expect(call.status.code).toBe(SpanStatusCode.ERROR);
    expect(call.attributes['error.type']).toBe('AbortError');
  });

  it('uses an injected tracer and meter', async () => {
    const fiber = new Fiber({ apiKeys: { openai: CANARY }, baseUrls: { openai: emu.baseUrls.openai }, defaultModel: MODEL })
      .use(otel({ tracer: h.tracerProvider.getTracer('my-app'), meter: h.meterProvider.getMeter('my-app') }));
    fibers.push(fiber);
    await fiber.chat({ messages: 'hi' });
    expect(theCallSpan().instrumentationScope.name).toBe('my-app');
    const rm = await h.collect();
    expect(rm.scopeMetrics.map((s) => s.scope.name)).toEqual(['my-app']);
  });

  it('never fails a call because telemetry threw', async () => {
    const real = h.meterProvider.getMeter('llm-fiber');
    const throwing = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'createHistogram') return () => ({ record() { throw new Error('exporter down'); } });
        return Reflect.get(target, prop, receiver);
      },
    });
    const logger = recordingLogger();
    const fiber = tracedFiber({ meter: throwing }, { logger });
    const result = await fiber.chat({ messages: 'hi' });
    expect(result.text).toContain('hi');
    expect(logger.calls.some((c) => c.level === 'warn' && c.message?.startsWith('otel:'))).toBe(true);
  });
});

describe('otel(): with a context manager (as NodeSDK registers one)', () => {
  let manager: AsyncLocalStorageContextManager;
  beforeEach(() => {
    manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
  });
  afterEach(() => {
    context.disable();
  });

  it('parents the call span to the caller\'s active span and makes each attempt span active inside', async () => {
    const tracer = h.tracerProvider.getTracer('my-app');
    // A middleware of the user's, inside otel(): its spans nest under the attempt span through the active context.
    const inner = defineMiddleware({
      name: 'user-span',
      scope: 'attempt',
      async handle(_ctx, next) {
        const span = tracer.startSpan('user work');
        try { await next(); } finally { span.end(); }
      },
    });
    emu.script({ status: 503, retryAfterMs: '1' });
    emu.script({ text: 'ok' });
    const fiber = tracedFiber();
    fiber.use(inner);
    await tracer.startActiveSpan('handle request', async (parent) => {
      await fiber.chat({ messages: 'hi' });
      parent.end();
    });
    emu.script({ chunks: ['a', 'b'] });
    await tracer.startActiveSpan('handle stream', async (parent) => {
      const stream = fiber.chatStream({ messages: 'hi' });
      await collect(stream);
      parent.end();
    });

    const byName = (n: string) => h.spans().filter((s) => s.name === n);
    const [chatParent] = byName('handle request');
    const [streamParent] = byName('handle stream');
    const calls = callSpans();
    expect(calls).toHaveLength(2);
    const chatCall = calls.find((c) => c.attributes['gen_ai.request.stream'] === false)!;
    const streamCall = calls.find((c) => c.attributes['gen_ai.request.stream'] === true)!;
    expect(chatCall.parentSpanContext?.spanId).toBe(chatParent!.spanContext().spanId);
    expect(streamCall.parentSpanContext?.spanId).toBe(streamParent!.spanContext().spanId);
    expect(chatCall.spanContext().traceId).toBe(chatParent!.spanContext().traceId);

    const attempts = h.spans().filter((s) => / attempt \d+$/.test(s.name));
    expect(attempts).toHaveLength(3);
    const userSpans = byName('user work');
    expect(userSpans).toHaveLength(3);
    // each user span sits under its own attempt span
    expect(new Set(userSpans.map((u) => u.parentSpanContext?.spanId))).toEqual(new Set(attempts.map((a) => a.spanContext().spanId)));
    // and each attempt span under its call span: two attempts for the chat (503, then 200), one for the stream
    const parentOf = (a: ReadableSpan) => a.parentSpanContext?.spanId;
    expect(attempts.filter((a) => parentOf(a) === chatCall.spanContext().spanId)).toHaveLength(2);
    expect(attempts.filter((a) => parentOf(a) === streamCall.spanContext().spanId)).toHaveLength(1);
  });

  it('keeps the attempts in the caller\'s trace when the call span cannot start', async () => {
    // A processor that refuses CLIENT spans (the call span's kind): the attempt spans still join the caller's trace.
    const exporter = new InMemorySpanExporter();
    const refuseClient = {
      onStart(span: ReadableSpan) { if (span.kind === SpanKind.CLIENT) throw new Error('no client spans'); },
      onEnd(span: ReadableSpan) { exporter.export([span], () => {}); },
      forceFlush: async () => {}, shutdown: async () => {},
    };
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [refuseClient as never] });
    const tracer = tracerProvider.getTracer('my-app');
    emu.script({ text: 'ok' });
    const fiber = tracedFiber({ tracerProvider, propagateTraceContext: true });
    let traceId = '';
    await tracer.startActiveSpan('handle request', async (parent) => {
      traceId = parent.spanContext().traceId;
      await fiber.chat({ messages: 'hi' });
      parent.end();
    });
    const attempts = exporter.getFinishedSpans().filter((s) => / attempt \d+$/.test(s.name));
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.spanContext().traceId).toBe(traceId);
    expect(String(emu.requests[0]!.headers.traceparent)).toContain(traceId);
    await tracerProvider.shutdown();
  });

  it('leaves the caller\'s context as it was after the call', async () => {
    const tracer = h.tracerProvider.getTracer('my-app');
    emu.script({ text: 'ok' });
    const fiber = tracedFiber();
    await tracer.startActiveSpan('outer', async (outer) => {
      await fiber.chat({ messages: 'hi' });
      expect(trace.getActiveSpan()?.spanContext().spanId).toBe(outer.spanContext().spanId);
      outer.end();
    });
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});

describe('otel(): a span processor that throws', () => {
  it.each(['onStart', 'onEnd'] as const)('never fails a call when the processor throws in %s, and still records metrics', async (where) => {
    const boom = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} } as Record<string, unknown>;
    boom[where] = () => { throw new Error(`${where} boom`); };
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [boom as never] });
    const logger = recordingLogger();
    const fiber = tracedFiber({ tracerProvider }, { logger });
    emu.script({ text: 'still fine' });
    expect((await fiber.chat({ messages: 'hi' })).text).toBe('still fine');
    emu.script({ chunks: ['a', 'b'] });
    const s = fiber.chatStream({ messages: 'hi' });
    const { error } = await collect(s);
    expect(error).toBeNull();
    expect((await s.result()).text).toBe('ab');
    emu.script({ status: 400 });
    expect(await rejectionOf(fiber.chat({ messages: 'hi' }))).toBeInstanceOf(BadRequestError);
    expect(logger.calls.some((c) => c.level === 'warn' && /otel: could not/.test(c.message ?? ''))).toBe(true);
    const m = await h.metrics();
    expect(points(m, 'llm_fiber.request_count').reduce((n, p) => n + sumOf(p.value), 0)).toBe(3);
    await tracerProvider.shutdown();
  });
});

describe('otel(): a propagator that throws', () => {
  afterEach(() => propagation.disable());

  it('sends the attempt without trace headers and still ends its span', async () => {
    propagation.setGlobalPropagator({ inject() { throw new Error('inject boom'); }, extract: (c) => c, fields: () => [] });
    emu.script({ text: 'ok' });
    const logger = recordingLogger();
    const r = await tracedFiber({ propagateTraceContext: true }, { logger }).chat({ messages: 'hi' });
    expect(r.text).toBe('ok');
    expect(emu.requests[0]!.headers.traceparent).toBeUndefined();
    expect(attemptSpans()).toHaveLength(1);
    expect(logger.calls.some((c) => c.level === 'warn' && /could not inject the trace context/.test(c.message ?? ''))).toBe(true);
  });
});

describe('otel(): trace context', () => {
  it('sends no traceparent unless propagateTraceContext is on', async () => {
    await tracedFiber().chat({ messages: 'hi' });
    expect(emu.requests).toHaveLength(1);
    expect(emu.requests[0]!.headers.traceparent).toBeUndefined();
  });

  it('sends a W3C traceparent naming each attempt span, without touching the caller\'s headers', async () => {
    emu.script({ status: 503, retryAfterMs: '1' });
    const headers = { 'x-app': 'demo' };
    await tracedFiber({ propagateTraceContext: true }).chat({ messages: 'hi', headers });
    expect(headers).toEqual({ 'x-app': 'demo' });

    const call = theCallSpan();
    const attempts = attemptSpans();
    expect(emu.requests).toHaveLength(2);
    expect(attempts).toHaveLength(2);
    emu.requests.forEach((req, i) => {
      expect(req.headers.traceparent).toBe(`00-${call.spanContext().traceId}-${attempts[i]!.spanContext().spanId}-01`);
      expect(req.headers['x-app']).toBe('demo');
    });
  });

  it('uses the global propagator when one is registered', async () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      await tracedFiber({ propagateTraceContext: true }).chat({ messages: 'hi' });
    } finally {
      propagation.disable();
    }
    const [attempt] = attemptSpans();
    expect(emu.requests[0]!.headers.traceparent).toBe(`00-${attempt!.spanContext().traceId}-${attempt!.spanContext().spanId}-01`);
  });
});

describe('otel(): content capture', () => {
  it('records no prompt or completion by default', async () => {
    await tracedFiber().chat({ messages: 'secret plans' });
    const call = theCallSpan();
    expect(call.attributes['gen_ai.input.messages']).toBeUndefined();
    expect(call.attributes['gen_ai.output.messages']).toBeUndefined();
    expect(serializeSpan(call)).not.toContain('secret plans');
  });

  it('records the input and output messages when captureContent is on', async () => {
    emu.script({ text: 'Short answer' });
    await tracedFiber({ captureContent: true }).chat({ messages: [['system', 'Be brief'], 'hello there'] });
    const call = theCallSpan();
    expect(JSON.parse(String(call.attributes['gen_ai.input.messages']))).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'Be brief' }] },
      { role: 'user', parts: [{ type: 'text', content: 'hello there' }] },
    ]);
    expect(JSON.parse(String(call.attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'Short answer' }], finish_reason: 'stop' },
    ]);
  });

  it('records the streamed text as the completion', async () => {
    emu.script({ chunks: ['Hel', 'lo'] });
    const { error } = await collect(tracedFiber({ captureContent: true }).chatStream({ messages: 'hi' }));
    expect(error).toBeNull();
    const out = JSON.parse(String(theCallSpan().attributes['gen_ai.output.messages']));
    expect(out).toEqual([{ role: 'assistant', parts: [{ type: 'text', content: 'Hello' }], finish_reason: 'stop' }]);
  });

  it('redacts captured content and metadata: a canary email and key never reach a span', async () => {
    const email = 'canary.person@example.com';
    const key = 'sk-canarycanarycanary0123456789abcdef';
    emu.script({ text: `mail ${email} key ${key}` });
    await tracedFiber({ captureContent: true }).chat({ messages: `my mail is ${email} and key ${key}`, metadata: { owner: email } });
    const all = JSON.stringify(theCallSpan().attributes);
    expect(all).not.toContain(email);
    expect(all).not.toContain(key);
    expect(all).toContain('[redacted]');
  });

  it('redacts before it cuts: an e-mail at the capture limit leaves no fragment', async () => {
    const email = 'canary.person@example.com';
    emu.script({ text: 'ok' });
    // The limit falls inside the e-mail: cut first, "canary.person@e" would survive.
    const prompt = `mail ${email} then more text`;
    await tracedFiber({ captureContent: true, maxContentChars: 12 }).chat({ messages: prompt });
    const input = String(theCallSpan().attributes['gen_ai.input.messages']);
    expect(input).toContain('…[truncated]');
    expect(input).not.toContain('canary');
  });

  it('redacts span metadata with the patterns of a redaction() placed inside otel()', async () => {
    emu.script({ text: 'ok' });
    const fiber = tracedFiber();
    fiber.use(redaction({ patterns: [/ACME-\d{6}/] }));
    await fiber.chat({ messages: 'hi', metadata: { ticket: 'ACME-123456', team: 'search' } });
    const attrs = theCallSpan().attributes;
    expect(attrs['llm_fiber.metadata.ticket']).toBe('[redacted]');
    expect(attrs['llm_fiber.metadata.team']).toBe('search');
  });

  it('keeps an e-mail that a provider echoes in an error out of span status messages', async () => {
    const email = 'canary.person@example.com';
    emu.script({ status: 503, errorMessage: `overloaded while serving ${email}`, retryAfterMs: '1' });
    emu.script({ status: 400, errorMessage: `invalid recipient ${email}` });
    const err = await rejectionOf(tracedFiber().chat({ messages: 'hi' }));
    expect(err).toBeInstanceOf(BadRequestError);
    const spans = h.spans();
    expect(spans).toHaveLength(3);
    const exported = JSON.stringify(spans.map(serializeSpan));
    expect(exported).not.toContain(email);
    expect(theCallSpan().status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining('invalid recipient [redacted]') });
    for (const s of attemptSpans()) expect(s.status.message).toContain('[redacted]');
  });

  it('redacts captured tool arguments however deeply they nest', async () => {
    const email = 'canary.person@example.com';
    let args: Record<string, unknown> = { email, key: CANARY };
    for (let i = 0; i < 40; i++) args = { d: args };
    emu.script({ text: 'ok' });
    await tracedFiber({ captureContent: true }).chat({
      messages: [
        { role: 'user', content: 'look it up' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'lookup', arguments: args }] },
        { role: 'tool', toolCallId: 'call_1', content: 'found' },
      ],
    });
    const input = String(theCallSpan().attributes['gen_ai.input.messages']);
    expect(input).toContain('lookup');
    expect(input).not.toContain(email);
    expect(input).not.toContain(CANARY);
  });

  it('leaves out older messages once the capture budget is spent, rather than recording empty ones', async () => {
    emu.script({ text: 'ok' });
    const history = Array.from({ length: 70 }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `message number ${i} with some text` }));
    history.push({ role: 'user', content: 'the newest question' });
    await tracedFiber({ captureContent: true, maxContentChars: 40 }).chat({ messages: history as never });
    const input = JSON.parse(String(theCallSpan().attributes['gen_ai.input.messages'])) as Array<{ parts: Array<{ content: string }> }>;
    expect(input.length).toBeLessThanOrEqual(2);
    expect(input.at(-1)!.parts[0]!.content).toBe('the newest question');
    expect(JSON.stringify(input)).not.toContain('"…[truncated]"');
  });

  it('bounds the captured content', async () => {
    emu.script({ text: 'ok' });
    await tracedFiber({ captureContent: true, maxContentChars: 100 }).chat({ messages: 'x'.repeat(100_000) });
    const input = String(theCallSpan().attributes['gen_ai.input.messages']);
    expect(input.length).toBeLessThan(300);
    expect(input).toContain('…[truncated]');
  });
});

describe('otel(): metrics', () => {
  it('records operation duration in seconds, token usage by type and the llm_fiber instruments', async () => {
    const fiber = tracedFiber();
    emu.script({ status: 503, retryAfterMs: '1' });
    emu.script({ text: 'one two', usage: { prompt: 10, completion: 2 } });
    const a = await fiber.chat({ messages: 'first' });
    emu.script({ chunks: ['x', 'y', 'z'], usage: { prompt: 5, completion: 3 } });
    const s = fiber.chatStream({ messages: 'second' });
    await collect(s);
    const b = await s.result();
    emu.script({ status: 400 });
    await rejectionOf(fiber.chat({ messages: 'third' }));

    const m = await h.metrics();
    expect(m.get('gen_ai.client.operation.duration')!.unit).toBe('s');
    const duration = points(m, 'gen_ai.client.operation.duration');
    expect(duration.reduce((n, p) => n + countOf(p.value), 0)).toBe(3);
    for (const p of duration) {
      // seconds, not milliseconds: each call here takes well under a second
      expect(sumOf(p.value)).toBeGreaterThan(0);
      expect(sumOf(p.value)).toBeLessThan(5);
    }
    const ok = duration.find((p) => p.attributes['gen_ai.response.model'] !== undefined)!;
    expect(ok.attributes).toEqual({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL, 'gen_ai.response.model': a.model,
    });
    expect(countOf(ok.value)).toBe(2);
    const failed = duration.find((p) => p.attributes['error.type'] !== undefined)!;
    expect(failed.attributes).toEqual({
      'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL, 'error.type': 'BadRequestError',
    });

    expect(m.get('gen_ai.client.token.usage')!.unit).toBe('{token}');
    const tokens = points(m, 'gen_ai.client.token.usage');
    const byType = (t: string) => tokens.filter((p) => p.attributes['gen_ai.token.type'] === t).reduce((n, p) => n + sumOf(p.value), 0);
    expect(byType('input')).toBe(a.usage.prompt + b.usage.prompt);
    expect(byType('output')).toBe(a.usage.completion + b.usage.completion);
    expect(byType('input')).toBe(15);

    const ttfc = points(m, 'gen_ai.client.operation.time_to_first_chunk');
    expect(m.get('gen_ai.client.operation.time_to_first_chunk')!.unit).toBe('s');
    expect(ttfc.reduce((n, p) => n + countOf(p.value), 0)).toBe(1);

    const total = (name: string) => points(m, name).reduce((n, p) => n + sumOf(p.value), 0);
    expect(total('llm_fiber.request_count')).toBe(3);
    expect(total('llm_fiber.retry_count')).toBe(1);
    expect(points(m, 'llm_fiber.error_count')).toEqual([{
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': MODEL, 'error.type': 'BadRequestError' },
      value: 1,
    }]);
    expect(m.get('llm_fiber.latency_ms')!.unit).toBe('ms');
    expect(points(m, 'llm_fiber.latency_ms').reduce((n, p) => n + countOf(p.value), 0)).toBe(3);
    const ttfb = points(m, 'llm_fiber.ttfb_ms');
    expect(ttfb).toHaveLength(1);
    expect(countOf(ttfb[0]!.value)).toBe(1);
    expect(sumOf(ttfb[0]!.value)).toBeCloseTo(b.ttfbMs!, 6);
  });
});

describe('otel(): sampling and series', () => {
  it('records metrics but no span work for calls the sampler drops', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const fiber = tracedFiber({ tracerProvider });
    emu.script({ text: 'dropped span', usage: { prompt: 4, completion: 2 } });
    const r = await fiber.chat({ messages: 'hi' });
    expect(r.text).toBe('dropped span');
    emu.script({ chunks: ['a', 'b'], usage: { prompt: 3, completion: 2 } });
    const s = fiber.chatStream({ messages: 'hi' });
    await collect(s);
    await s.result();
    emu.script({ status: 400 });
    await rejectionOf(fiber.chat({ messages: 'hi' }));
    expect(exporter.getFinishedSpans()).toEqual([]);
    const m = await h.metrics();
    expect(points(m, 'llm_fiber.request_count').reduce((n, p) => n + sumOf(p.value), 0)).toBe(3);
    expect(points(m, 'llm_fiber.error_count').map((p) => p.attributes['error.type'])).toEqual(['BadRequestError']);
    const tokens = points(m, 'gen_ai.client.token.usage');
    expect(tokens.filter((p) => p.attributes['gen_ai.token.type'] === 'input').reduce((n, p) => n + sumOf(p.value), 0)).toBe(7);
    await tracerProvider.shutdown();
  });

  it('keeps one series per response model and per error class, each with the conventions\' attributes', async () => {
    const fiber = tracedFiber({}, { retry: false });
    emu.script({ text: 'a', model: 'gpt-4o-mini-2024-07-18' });
    emu.script({ text: 'b', model: 'gpt-4o-mini-2024-07-18' });
    emu.script({ text: 'c', model: 'gpt-4o-mini-2025-01-01' });
    emu.script({ status: 400 });
    emu.script({ status: 429 });
    emu.script({ status: 400 });
    for (let i = 0; i < 3; i++) await fiber.chat({ messages: 'hi' });
    for (let i = 0; i < 3; i++) await rejectionOf(fiber.chat({ messages: 'hi' }));
    const m = await h.metrics();
    const duration = points(m, 'gen_ai.client.operation.duration');
    const byResponse = (model: string) => duration.filter((p) => p.attributes['gen_ai.response.model'] === model).map((p) => countOf(p.value));
    expect(byResponse('gpt-4o-mini-2024-07-18')).toEqual([2]);
    expect(byResponse('gpt-4o-mini-2025-01-01')).toEqual([1]);
    const byError = (t: string) => duration.filter((p) => p.attributes['error.type'] === t).map((p) => countOf(p.value));
    expect(byError('BadRequestError')).toEqual([2]);
    expect(byError('RateLimitError')).toEqual([1]);
    const outputs = points(m, 'gen_ai.client.token.usage').filter((p) => p.attributes['gen_ai.token.type'] === 'output');
    expect(outputs.map((p) => p.attributes['gen_ai.response.model']).sort()).toEqual(['gpt-4o-mini-2024-07-18', 'gpt-4o-mini-2025-01-01']);
    expect(points(m, 'llm_fiber.error_count').map((p) => [p.attributes['error.type'], p.value]).sort()).toEqual([['BadRequestError', 2], ['RateLimitError', 1]]);
  });
});

describe('otel(): secrets', () => {
  it('keeps the API key out of every span, event and metric attribute', async () => {
    const fiber = tracedFiber({ captureContent: true, propagateTraceContext: true });
    emu.script({ status: 503, retryAfterMs: '1' });
    await fiber.chat({ messages: 'hello', metadata: { tenant: 'acme' } });
    emu.script({ chunks: ['a', 'b'] });
    await collect(fiber.chatStream({ messages: 'stream please' }));
    // A provider echoing the key back in its error body.
    emu.script({ status: 401, errorMessage: `Incorrect API key provided: ${CANARY}`, errorCode: 'invalid_api_key' });
    await rejectionOf(fiber.chat({ messages: 'again' }));

    // The key really went out on the wire: the check below is not vacuous.
    expect(emu.requests.every((r) => r.headers.authorization === `Bearer ${CANARY}`)).toBe(true);
    const spans = h.spans();
    expect(spans.length).toBeGreaterThanOrEqual(6);
    for (const s of spans) expect(serializeSpan(s)).not.toContain(CANARY);
    expect(JSON.stringify(await h.collect())).not.toContain(CANARY);
    expect(callSpans().some((s) => s.attributes['error.type'] === 'AuthError')).toBe(true);
  });
});

describe('otel(): keys in model names', () => {
  it('never exports a model name that holds the Fiber\'s key, whatever the key looks like', async () => {
    const key = 'plainsecretvalue12345';
    emu.script({ text: 'ok', model: `echo-${key}` });
    const fiber = tracedFiber({}, { apiKeys: { openai: key } });
    await fiber.chat({ model: `gpt-${key}`, messages: 'hi' });
    const exported = JSON.stringify(h.spans().map(serializeSpan)) + JSON.stringify(await h.collect());
    expect(exported).not.toContain(key);
    expect(exported).toContain('gpt-[redacted]');
    expect(exported).toContain('echo-[redacted]');
  });
});

describe('otel(): the factory', () => {
  it('validates its options when called', () => {
    expect(() => otel({ verbose: true } as unknown as OtelOptions)).toThrow(ConfigError);
    expect(() => otel({ tracerProvider: {} as unknown as OtelOptions['tracerProvider'] })).toThrow(ConfigError);
    expect(() => otel({ meter: {} as unknown as OtelOptions['meter'] })).toThrow(ConfigError);
    expect(() => otel({ captureContent: 'yes' as unknown as boolean })).toThrow(ConfigError);
    expect(() => otel({ maxContentChars: -1 })).toThrow(ConfigError);
  });

  it('is a bundle of a request-scope part and an attempt-scope part', async () => {
    const mw = otel();
    expect(mw.parts?.map((p) => [p.middlewareName, p.scope ?? 'request'])).toEqual([['otel', 'request'], ['otel.attempt', 'attempt']]);
    await expect((mw as Middleware)({} as FiberContext, () => Promise.resolve())).rejects.toBeInstanceOf(ConfigError);
  });

  it('creates no spans for a Fiber that does not use it', async () => {
    const fiber = new Fiber({ apiKeys: { openai: CANARY }, baseUrls: { openai: emu.baseUrls.openai }, defaultModel: MODEL });
    fibers.push(fiber);
    otel({ tracerProvider: h.tracerProvider, meterProvider: h.meterProvider });
    await fiber.chat({ messages: 'hi' });
    expect(h.spans()).toHaveLength(0);
    expect((await h.collect()).scopeMetrics).toHaveLength(0);
  });
});
