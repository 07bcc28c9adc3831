// llm-fiber with everything observable switched on: the prod preset plus metrics (the preset's), OpenTelemetry
// (real SDK tracer and meter providers, spans to a no-op exporter through a batch processor, metrics to a reader
// that nobody collects from) and pino logging to a null destination. `npm run bench -- --observability` runs it
// beside the plain `fiber` driver in one harness run and prints fiber-obs ÷ fiber (issue 6: ≤ 1.05× per call
// and per chunk). The OTel SDK and pino are installed into the harness copy by bench/run.mjs for this mode.
import { Fiber } from 'llm-fiber';
import { otel } from 'llm-fiber/otel';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import pino from 'pino';

const PROTOCOL = process.env.FIBER_PROTOCOL || 'openai';
const FLOORS = { openai: 'undici', anthropic: 'undici-anthropic', gemini: 'undici-gemini' };

export const meta = {
  name: 'fiber-obs',
  protocol: PROTOCOL,
  floor: FLOORS[PROTOCOL] ?? 'undici',
  packages: [],
  footprintDir: null,
  coldStart: "import('llm-fiber')",
  description: `llm-fiber (${PROTOCOL}, prod preset + otel + pino to a null destination)`,
};

/** Spans are exported in batches to nowhere: the cost measured is ours plus the SDK's, not an exporter's I/O. */
const nullExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
class IdleReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

const baseUrlFor = (baseURL) => ({ openai: `${baseURL}/v1`, anthropic: baseURL, gemini: baseURL })[PROTOCOL] ?? `${baseURL}/v1`;

export async function create({ baseURL, headers, model }) {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(nullExporter)] });
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });
  // Buffered like a production pino setup (minLength): one write per 8 KiB of lines, not one per line.
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false, minLength: 8192 }));
  const client = new Fiber({
    apiKeys: { [PROTOCOL]: 'sk-mock' },
    baseUrls: { [PROTOCOL]: baseUrlFor(baseURL) },
    headers,
    defaultModel: `${PROTOCOL}:${model}`,
    preset: 'prod',
    logger,
  }).use(otel({ tracerProvider, meterProvider }));
  return {
    async chat(messages) {
      return (await client.chat({ messages })).text;
    },
    async stream(messages, onDelta) {
      let text = '';
      for await (const ev of client.chatStream({ messages })) {
        if (ev.type === 'chunk' && ev.delta) {
          text += ev.delta;
          if (onDelta) onDelta(ev.delta);
        }
      }
      return text;
    },
    async close() {
      await client.close();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}
