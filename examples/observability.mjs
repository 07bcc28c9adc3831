// Observability: metrics with tags and buckets, structured logs, redaction of streamed text, OpenTelemetry spans
// and metrics, and StatsD packets.
//
//   node examples/observability.mjs    # after npm run build; no API key, no network
//
// This example always runs against the embedded emulator (`llm-fiber/testing`): it scripts a 503 so that there is
// a retry to see. The OpenTelemetry part needs `@opentelemetry/api`, `@opentelemetry/sdk-trace-base` and
// `@opentelemetry/sdk-metrics`, and the StatsD part needs `hot-shots` (all dev dependencies of this repository).
// Each part is skipped, with a note, when its packages are missing. See docs/features/observability.md.
import dgram from 'node:dgram';
import { Fiber, metrics, redaction } from 'llm-fiber';
import { startEmulator } from 'llm-fiber/testing';

const emu = await startEmulator();
const base = { baseUrls: emu.baseUrls, apiKeys: { openai: 'sk-emulator-key' }, defaultModel: 'gpt-4o-mini' };

/**
 * A pino-compatible logger: anything with debug/info/warn/error(obj, msg) methods. `pino()` works the same way;
 * this one prints the fields that matter here, so the output stays short.
 */
const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (obj, msg) => {
  const { callId, idempotencyKey, ...rest } = obj;
  console.log(`   log ${level} ${msg} ${JSON.stringify(rest, rounded)}`);
}]));

/** JSON.stringify replacer: numbers to one decimal. */
const rounded = (_key, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v);

try {
  // --- 1. metrics, logging and redaction on one Fiber ---------------------------------------------------------------
  console.log('1. metrics(), logging and redaction()');
  /** A MetricsSink of your own: anything with increment(name, value, tags) and observe(name, value, tags). */
  const seen = new Set();
  const mySink = { increment: (name) => seen.add(name), observe: (name) => seen.add(name) };
  const fiber = new Fiber({ ...base, logger, metrics: [mySink] }).use(
    // Replaces the preset's metrics(): `tenant` from the call's metadata becomes a tag; latency gets buckets.
    metrics({ tags: ['tenant'], buckets: { latency_ms: [50, 250, 1000] } }),
    // Inside logging (the preset puts logging outermost), so every line and the delivered text are redacted.
    redaction({ redactOutput: true }),
  );

  emu.script({ status: 503, retryAfterMs: '20' });  // one retry, with the server's wait
  await fiber.chat({ messages: 'Say hi.', metadata: { tenant: 'acme' } });

  // An e-mail address split across three chunks still comes out redacted, and nothing else is held back.
  emu.script({ chunks: ['Write to ann', 'a@exam', 'ple.com today.'] });
  let delivered = '';
  for await (const e of fiber.chatStream({ messages: 'Who do I write to?', metadata: { tenant: 'acme' } })) {
    if (e.type === 'chunk') delivered += e.delta;
  }
  console.log(`   delivered text: ${JSON.stringify(delivered)}`);

  // A failure: one error line, and error_count tagged with the error class.
  emu.script({ status: 400, errorMessage: 'Invalid value for temperature (sent by ann@example.com)' });
  await fiber.chat({ messages: 'hi', temperature: 1.5, metadata: { tenant: 'acme' } }).catch((err) => err);

  const snap = fiber.metrics.snapshot();
  for (const p of snap.request_count) console.log(`   request_count ${JSON.stringify(p.tags)} ${p.value}`);
  for (const p of snap.retry_count) console.log(`   retry_count ${JSON.stringify(p.tags)} ${p.value}`);
  for (const p of snap.error_count) console.log(`   error_count ${JSON.stringify(p.tags)} ${p.value}`);
  const [latency] = snap.latency_ms;
  console.log(`   latency_ms count=${latency.count} buckets=${JSON.stringify(latency.buckets.map((b) => [b.le, b.count]))}`);
  console.log(`   ttfb_ms count=${snap.ttfb_ms[0].count} (streams only)`);
  console.log(`   my sink saw: ${[...seen].sort().join(', ')}`);
  await fiber.close();

  // --- 2. OpenTelemetry --------------------------------------------------------------------------------------------
  console.log('\n2. otel()');
  const otelPackages = await Promise.all([
    import('llm-fiber/otel'), import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/sdk-metrics'),
  ]).catch(() => null);
  if (otelPackages === null) {
    console.log('   skipped: install @opentelemetry/api, @opentelemetry/sdk-trace-base and @opentelemetry/sdk-metrics');
  } else {
    const [{ otel }, traceSdk, metricsSdk] = otelPackages;
    const exporter = new traceSdk.InMemorySpanExporter();
    const tracerProvider = new traceSdk.BasicTracerProvider({ spanProcessors: [new traceSdk.SimpleSpanProcessor(exporter)] });
    const metricExporter = new metricsSdk.InMemoryMetricExporter(metricsSdk.AggregationTemporality.CUMULATIVE);
    const reader = new metricsSdk.PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
    const meterProvider = new metricsSdk.MeterProvider({ readers: [reader] });

    const traced = new Fiber(base).use(otel({ tracerProvider, meterProvider }));
    emu.script({ status: 503, retryAfterMs: '20' });
    emu.script({ chunks: ['Hel', 'lo'], usage: { prompt: 12, completion: 2 } });
    for await (const e of traced.chatStream({ messages: 'hello' })) void e;
    await traced.close();

    for (const span of exporter.getFinishedSpans()) {
      const a = span.attributes;
      const facts = span.name.includes('attempt')
        ? `llm_fiber.attempt=${a['llm_fiber.attempt']}${a['error.type'] ? ` error.type=${a['error.type']}` : ''}`
        : `gen_ai.provider.name=${a['gen_ai.provider.name']} gen_ai.usage.input_tokens=${a['gen_ai.usage.input_tokens']} `
          + `gen_ai.response.finish_reasons=${JSON.stringify(a['gen_ai.response.finish_reasons'])} llm_fiber.attempts=${a['llm_fiber.attempts']}`;
      console.log(`   span "${span.name}": ${facts}`);
      for (const ev of span.events) console.log(`     event ${ev.name} ${JSON.stringify(ev.attributes, rounded)}`);
    }
    await reader.forceFlush();
    const names = [];
    for (const rm of metricExporter.getMetrics()) {
      for (const sm of rm.scopeMetrics) for (const m of sm.metrics) names.push(`${m.descriptor.name} (${m.descriptor.unit})`);
    }
    console.log(`   instruments: ${[...new Set(names)].sort().join(', ')}`);
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }

  // --- 3. StatsD / DogStatsD ------------------------------------------------------------------------------------
  console.log('\n3. statsd()');
  const hotShots = await import('hot-shots').then(() => true, () => false);
  if (!hotShots) {
    console.log('   skipped: install hot-shots');
  } else {
    const { statsd } = await import('llm-fiber/statsd');
    // A UDP socket standing in for the agent, printing what arrives.
    const agent = dgram.createSocket('udp4');
    const lines = [];
    agent.on('message', (msg) => lines.push(...msg.toString('utf8').split('\n').filter(Boolean)));
    await new Promise((resolve) => agent.bind(0, '127.0.0.1', resolve));
    const { port } = agent.address();

    for (const dogstatsd of [true, false]) {
      lines.length = 0;
      const out = statsd({ port, dogstatsd });
      const counted = new Fiber({ ...base, preset: 'none' }).use(out);
      await counted.chat({ messages: 'hi' });
      await counted.close();  // flushes and closes the client statsd() created
      for (let i = 0; i < 50 && !lines.some((l) => l.includes('tokens_total')); i++) await new Promise((r) => setTimeout(r, 10));
      console.log(`   ${dogstatsd ? 'DogStatsD' : 'plain StatsD'}:`);
      for (const l of lines.filter((x) => /request_count|latency_ms/.test(x))) console.log(`     ${l.replace(/:[\d.]+\|ms/, ':<ms>|ms')}`);
    }
    agent.close();
  }
} finally {
  await emu.close();
}
