// Writing middleware: one request-scope middleware with stream hooks, one attempt-scope middleware.
//
//   node examples/middleware.mjs          # against the emulator, which fails the first attempt with a 503
//
// See docs/features/middleware.md and docs/adrs/0001-onion-middleware.md.
import { defineMiddleware } from 'llm-fiber';
import { connect } from './lib/connect.mjs';

/**
 * Request scope (once per call). `handle` runs before and after everything inside it; for a stream `await next()`
 * returns once the first event is buffered, so the per-event work lives in `onEvent`. State goes in
 * `ctx.state[name]`: the middleware object is shared by every call.
 */
const chunkStats = defineMiddleware({
  name: 'chunkStats',
  handle(ctx, next) {
    ctx.state.chunkStats = { count: 0, chars: 0 };
    return next();
  },
  onEvent(event, ctx) {
    const stats = ctx.state.chunkStats;
    if (event.type === 'chunk') {
      stats.count += 1;
      stats.chars += event.delta.length;
      return undefined; // pass the event on unchanged
    }
    if (event.type === 'done') {
      // Fan-out: deliver one more chunk before `done`. `result.text` is what reached the caller, so it ends
      // with this signature too.
      const signature = { type: 'chunk', delta: ` [${stats.count} chunks, ${stats.chars} chars]`, t: event.t };
      return [signature, event];
    }
    return undefined;
  },
  onError(error) {
    // Called once when a stream fails after its first event (never together with `done`).
    console.log(`\nchunkStats: stream failed with ${error.name}`);
  },
});

/**
 * Attempt scope (once per HTTP attempt, inside the retry loop). For a stream, the time `await next()` takes is the
 * attempt's time to its first event. `ctx.log` becomes a `log` event in the stream (and a logger line).
 */
const attemptTimer = defineMiddleware({
  name: 'attemptTimer',
  scope: 'attempt',
  async handle(ctx, next) {
    const started = performance.now();
    try {
      await next();
      ctx.log('info', `attempt ${ctx.attempt}: first event after ${Math.round(performance.now() - started)} ms`);
    } catch (error) {
      ctx.log('info', `attempt ${ctx.attempt}: ${error.name} after ${Math.round(performance.now() - started)} ms`);
      throw error; // the attempt loop decides whether to retry
    }
  },
});

const { fiber, emu, close } = await connect({ options: { retry: { minDelayMs: 50 } } });
fiber.use(chunkStats, attemptTimer);
emu?.script({ status: 503 }); // the first attempt fails; the retry succeeds

try {
  const stream = fiber.chatStream({ messages: 'Name three prime numbers.' });
  for await (const event of stream) {
    if (event.type === 'log') console.log(`[${event.level}] ${event.message}`);
    else if (event.type === 'chunk') process.stdout.write(event.delta);
  }
  const result = await stream.result();
  console.log(`\n\nresult.text ends with the fan-out chunk: ${result.text.endsWith(']')}`);
} finally {
  await close();
}
