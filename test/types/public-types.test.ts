/**
 * Compile-time checks of the public types (the typecheck step runs tsc over test/), with a runtime assertion so
 * the file is a real test too.
 */
import { describe, expect, it } from 'vitest';
import { MetricsStore, type CounterPoint, type HistogramPoint, type StreamEvent } from '../../src/index.js';

describe('public types', () => {
  it('type known metric names by kind: counters have value, histograms percentiles', () => {
    const store = new MetricsStore();
    const tags = { provider: 'openai', model: 'm' };
    store.increment('request_count', 2, tags);
    store.observe('latency_ms', 12, tags);
    const snap = store.snapshot();
    const requests: CounterPoint[] | undefined = snap.request_count;
    const latency: HistogramPoint[] | undefined = snap.latency_ms;
    const value: number | undefined = snap.request_count?.[0]?.value;
    const p50: number | undefined = snap.latency_ms?.[0]?.p50;
    expect(requests?.length).toBe(1);
    expect(latency?.length).toBe(1);
    expect(value).toBe(2);
    expect(p50).toBeGreaterThan(0);
  });

  it('narrow stream events by type', () => {
    const describe = (e: StreamEvent): string => {
      switch (e.type) {
        case 'chunk': return e.delta;
        case 'reasoning': return e.delta;
        case 'tool_call': return e.toolCall.name;
        case 'usage': return String(e.usage.total);
        case 'log': return e.message;
        case 'done': return e.result.text;
        default: { const never: never = e; return never; }
      }
    };
    expect(describe({ type: 'chunk', delta: 'x', t: 0 })).toBe('x');
  });
});
