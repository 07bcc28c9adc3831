/**
 * Micro-benchmark: the cost of one call's metrics record (issue 6, "zero cost when off").
 *
 *   npx esbuild bench/metrics-cost.ts --bundle --platform=node --format=esm --outfile=/tmp/metrics-cost.mjs \
 *     && node --expose-gc /tmp/metrics-cost.mjs
 *
 * Drives the `metrics` middleware's `done` hook directly (synchronous: exactly the per-call recording work, no
 * HTTP, no promise) against the in-memory store, and reports ns per record and bytes allocated per record, read
 * from V8's new space with the GC quiet. Also the chat path (`await mw(ctx, next)`) against an empty async
 * middleware, which is what the onion costs anyway. Not a test: numbers depend on the machine.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { metrics } from '../middleware/metrics.js';
import { MetricsStore, MultiSink } from '../src/metrics.js';
import type { ChatResult, FiberContext, MetricsSink, Middleware, StreamEvent } from '../src/types.js';

const N = 1_000_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

function ctxFor(sink: MetricsSink, kind: 'chat' | 'stream', metadata: Record<string, string>, result: ChatResult) {
  return {
    kind, provider: 'openai', model: 'gpt-4o-mini', modelName: 'gpt-4o-mini', metadata, state: {} as Record<string, unknown>,
    runtime: { sink }, timing: { startedAt: 0, ttfbMs: 12 }, attempt: 1, result,
  } as unknown as FiberContext;
}

const result = {
  text: 'hi', reasoning: null, toolCalls: [], message: { role: 'assistant', content: 'hi' }, finishReason: 'stop',
  usage: { prompt: 10, completion: 20, total: 30, costEstimate: 0.0001 }, raw: null, model: 'gpt-4o-mini',
  provider: 'openai', id: null, latencyMs: 123.4, ttfbMs: 12.3, attempts: 1, cached: false,
} as ChatResult;

function measureSync(label: string, mw: Middleware, ctx: FiberContext): void {
  const done: StreamEvent = { type: 'done', result, t: 0 };
  const hook = mw.onEvent!;
  // the handle claims the call (ctx.state.metrics) as it would on a real call
  void mw(ctx, () => Promise.resolve());
  for (let i = 0; i < 200_000; i++) hook(done, ctx); // warm-up: JIT, caches
  gc!();
  const before = newSpace();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) hook(done, ctx);
  const t1 = process.hrtime.bigint();
  const grown = newSpace() - before;
  console.log(`${label.padEnd(58)} ${(Number(t1 - t0) / N).toFixed(1).padStart(6)} ns/record  ${(Math.max(0, grown) / N).toFixed(3)} B/record (new space ${grown} B over ${N})`);
}

async function measureAsync(label: string, mw: Middleware, ctx: FiberContext): Promise<number> {
  const next = () => Promise.resolve();
  for (let i = 0; i < 200_000; i++) await mw(ctx, next);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await mw(ctx, next);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`${label.padEnd(58)} ${ns.toFixed(1).padStart(6)} ns/call`);
  return ns;
}

const store = new MetricsStore();
measureSync('stream done: provider+model tags', metrics(), ctxFor(store, 'stream', {}, result));
measureSync('stream done: + 2 allow-listed metadata tags', metrics({ tags: ['tenant', 'feature'] }),
  ctxFor(store, 'stream', { tenant: 'acme', feature: 'search', user: 'not a tag' }, result));
measureSync('stream done: + explicit buckets on latency_ms', metrics({ buckets: { latency_ms: [50, 100, 250, 500, 1000, 2500, 5000] } }),
  ctxFor(new MetricsStore(), 'stream', {}, result));
measureSync('stream done: two sinks (MultiSink)', metrics(), ctxFor(new MultiSink([new MetricsStore(), new MetricsStore()]), 'stream', {}, result));

const empty: Middleware = async (_ctx, next) => { await next(); };
const base = await measureAsync('chat: empty async middleware (the onion floor)', empty, ctxFor(store, 'chat', {}, result));
const rec = await measureAsync('chat: metrics({ tags: [tenant] })', metrics({ tags: ['tenant'] }), ctxFor(store, 'chat', { tenant: 'acme' }, result));
console.log(`${'chat: metrics record over the floor'.padEnd(58)} ${(rec - base).toFixed(1).padStart(6)} ns/call`);
