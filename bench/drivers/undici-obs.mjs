// The observability floor: the harness's `undici` floor driver plus the same telemetry llm-fiber's fiber-obs run
// produces, written by hand around each request the way a careful engineer instruments a raw HTTP client — the
// real OTel SDK and pino, configured exactly as in drivers/fiber-obs.mjs:
//
//   * a CLIENT span per call (`chat {model}`) with the GenAI attributes llm-fiber sets at start and at the end, and
//     an INTERNAL child span per attempt (one attempt here);
//   * the five records llm-fiber makes per successful chat call: gen_ai.client.operation.duration (s),
//     gen_ai.client.token.usage (input and output), llm_fiber.request_count and llm_fiber.latency_ms — streams
//     add the time-to-first-chunk histograms and the first-chunk span event;
//   * one pino info line with the same fields as llm-fiber's per-call line.
//
// Metric attribute objects are built once (the series never changes here): the cheapest a hand-written version
// can be. `npm run bench -- --observability` runs it beside undici, fiber and fiber-obs, and reports what
// llm-fiber adds beyond this floor (ADR 0007). OpenAI protocol only.
import { request } from 'undici';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import pino from 'pino';

export const meta = {
  name: 'undici-obs',
  protocol: 'openai',
  floor: 'undici',
  packages: ['undici'],
  footprintDir: null,
  coldStart: "import('undici')",
  description: 'undici floor + hand-written OTel spans/metrics and a pino line (the observability floor)',
};

const nullExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
class IdleReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

export async function create({ baseURL, headers, model }) {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(nullExporter)] });
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false, minLength: 8192 }));
  const tracer = tracerProvider.getTracer('llm-fiber');
  const meter = meterProvider.getMeter('llm-fiber');
  const duration = meter.createHistogram('gen_ai.client.operation.duration', { unit: 's' });
  const tokens = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}' });
  const ttfc = meter.createHistogram('gen_ai.client.operation.time_to_first_chunk', { unit: 's' });
  const requests = meter.createCounter('llm_fiber.request_count');
  const latency = meter.createHistogram('llm_fiber.latency_ms', { unit: 'ms' });
  const ttfb = meter.createHistogram('llm_fiber.ttfb_ms', { unit: 'ms' });
  const base = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model };
  const ok = { ...base, 'gen_ai.response.model': model };
  const okIn = { ...ok, 'gen_ai.token.type': 'input' };
  const okOut = { ...ok, 'gen_ai.token.type': 'output' };

  const url = `${baseURL}/v1/chat/completions`;
  const hdrs = { 'content-type': 'application/json', authorization: 'Bearer sk-mock', ...headers };
  let seq = 0;

  /** Open the call and attempt spans; the attempt span is the active one while the request runs. */
  function start(stream) {
    const t0 = performance.now();
    const callSpan = tracer.startSpan(`chat ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai', 'gen_ai.request.model': model,
        'gen_ai.request.stream': stream, 'llm_fiber.idempotency_key': `req-${++seq}`,
      },
    });
    const callCtx = trace.setSpan(context.active(), callSpan);
    const attemptSpan = tracer.startSpan(`chat ${model} attempt 1`, {
      kind: SpanKind.INTERNAL,
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model, 'llm_fiber.attempt': 1 },
    }, callCtx);
    return { t0, callSpan, attemptSpan, attemptCtx: trace.setSpan(callCtx, attemptSpan) };
  }

  function finish(s, j, ttfbMs) {
    const latencyMs = performance.now() - s.t0;
    const u = j.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
    const a = {
      'gen_ai.response.model': j.model ?? model,
      'gen_ai.response.finish_reasons': [j.finish ?? 'stop'],
      'gen_ai.usage.input_tokens': u.prompt_tokens,
      'gen_ai.usage.output_tokens': u.completion_tokens,
      'llm_fiber.attempts': 1,
      'llm_fiber.cached': false,
    };
    if (j.id) a['gen_ai.response.id'] = j.id;
    if (ttfbMs !== null) {
      a['llm_fiber.ttfb_ms'] = ttfbMs;
      a['gen_ai.response.time_to_first_chunk'] = ttfbMs / 1000;
      s.callSpan.addEvent('llm_fiber.first_chunk', { 'llm_fiber.ttfb_ms': ttfbMs }, s.t0 + ttfbMs);
    }
    s.callSpan.setAttributes(a);
    s.attemptSpan.end();
    s.callSpan.end();
    duration.record(latencyMs / 1000, ok);
    tokens.record(u.prompt_tokens, okIn);
    tokens.record(u.completion_tokens, okOut);
    if (ttfbMs !== null) ttfc.record(ttfbMs / 1000, ok);
    requests.add(1, base);
    latency.record(latencyMs, base);
    if (ttfbMs !== null) ttfb.record(ttfbMs, base);
    logger.info({
      callId: `call_${seq}`, kind: ttfbMs === null ? 'chat' : 'stream', provider: 'openai', model, status: 'ok',
      latencyMs: Math.round(latencyMs * 100) / 100, ttfbMs: ttfbMs === null ? null : Math.round(ttfbMs * 100) / 100,
      tokens: { prompt: u.prompt_tokens, completion: u.completion_tokens, total: u.prompt_tokens + u.completion_tokens },
      costUsd: null, attempts: 1, idempotencyKey: `req-${seq}`, finishReason: 'stop', cached: false,
    }, 'llm-fiber call');
  }

  async function post(body, s) {
    const res = await context.with(s.attemptCtx, () => request(url, { method: 'POST', headers: hdrs, body: JSON.stringify(body) }));
    if (res.statusCode !== 200) {
      const t = await res.body.text();
      s.attemptSpan.end();
      s.callSpan.end();
      throw new Error(`HTTP ${res.statusCode}: ${t.slice(0, 200)}`);
    }
    return res.body;
  }

  return {
    async chat(messages) {
      const s = start(false);
      const j = await (await post({ model, messages }, s)).json();
      const c = j.choices[0];
      finish(s, { id: j.id, model: j.model, usage: j.usage, finish: c.finish_reason }, null);
      return c.message.content;
    },
    async stream(messages, onDelta) {
      const s = start(true);
      const body = await post({ model, messages, stream: true, stream_options: { include_usage: true } }, s);
      body.setEncoding('utf8');
      let buf = '';
      let text = '';
      let ttfbMs = null;
      let usage = null;
      let id = null;
      for await (const chunk of body) {
        buf += chunk;
        let from = 0;
        let idx;
        while ((idx = buf.indexOf('\n\n', from)) !== -1) {
          const ev = buf.slice(from, idx);
          from = idx + 2;
          for (const line of ev.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            const data = line.slice(6);
            if (data === '[DONE]') continue;
            const j = JSON.parse(data);
            id ??= j.id;
            if (j.usage) usage = j.usage;
            const d = j.choices[0]?.delta?.content;
            if (d) {
              if (ttfbMs === null) ttfbMs = performance.now() - s.t0;
              text += d;
              if (onDelta) onDelta(d);
            }
          }
        }
        buf = buf.slice(from);
      }
      finish(s, { id, model, usage, finish: 'stop' }, ttfbMs ?? 0);
      return text;
    },
    async close() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}
