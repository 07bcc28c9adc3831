/**
 * A real OpenTelemetry SDK pipeline for the integration tests: a tracer provider writing to an in-memory exporter
 * (one SimpleSpanProcessor, so a span is exported the moment it ends) and a meter provider with a pull reader.
 */
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** A MetricReader that only collects on demand. */
class PullReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One exported metric, flattened: its descriptor and data points (histogram points carry count/sum). */
export interface MetricOut {
  name: string;
  unit: string;
  points: Array<{ attributes: Record<string, unknown>; value: number | { count: number; sum?: number; min?: number; max?: number } }>;
}

export interface OtelHarness {
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  exporter: InMemorySpanExporter;
  /** Finished spans, in the order they ended. */
  spans(): ReadableSpan[];
  /** Collect every metric now. */
  metrics(): Promise<Map<string, MetricOut>>;
  /** The raw collection, for serializing everything. */
  collect(): Promise<ResourceMetrics>;
  shutdown(): Promise<void>;
}

export function otelHarness(): OtelHarness {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw errors[0];
    return resourceMetrics;
  };
  return {
    tracerProvider,
    meterProvider,
    exporter,
    spans: () => exporter.getFinishedSpans(),
    collect,
    async metrics() {
      const rm = await collect();
      const out = new Map<string, MetricOut>();
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          out.set(m.descriptor.name, {
            name: m.descriptor.name,
            unit: m.descriptor.unit,
            points: m.dataPoints.map((p) => ({ attributes: { ...p.attributes }, value: p.value as MetricOut['points'][number]['value'] })),
          });
        }
      }
      return out;
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** Everything a span carries that could leak a secret, as one string. */
export function serializeSpan(s: ReadableSpan): string {
  return JSON.stringify({
    name: s.name,
    attributes: s.attributes,
    events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
    status: s.status,
    links: s.links,
    resource: s.resource.attributes,
  });
}
