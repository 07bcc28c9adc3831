// llm-fiber quickstart: stream a reply, then print the result's usage and timing and the Fiber's metrics.
//
//   npm run demo                          # no API key: runs against the embedded emulator
//   OPENAI_API_KEY=sk-... npm run demo    # the real OpenAI API (gpt-4o-mini unless LLM_FIBER_DEFAULT_MODEL is set)
import { connect, formatSnapshot, round } from './lib/connect.mjs';

const { fiber, emu, provider, model, close } = await connect();

if (emu === null) {
  console.log(`Using the real ${provider} API, model ${model}.\n`);
} else {
  console.log(`No API key set: using the embedded emulator at ${emu.url} (set OPENAI_API_KEY to use OpenAI).`);
  console.log('The emulator answers the first attempt with a 429, so you can see a retry.\n');
  emu.script({ status: 429, retryAfterMs: '200' });
  emu.script({
    text: 'llm-fiber streams each delta as it arrives, retries what is safe to retry, and counts everything it does.',
    chunkDelayMs: 25,
  });
}

try {
  const stream = fiber.chatStream({
    messages: [
      ['system', 'You answer in one short sentence.'],
      ['user', 'What does a streaming LLM client do?'],
    ],
    maxTokens: 60,
  });

  for await (const event of stream) {
    if (event.type === 'chunk') process.stdout.write(event.delta);
    else if (event.type === 'log') console.log(`[${event.level}] ${event.message}`);
    else if (event.type === 'done') process.stdout.write('\n\n');
  }

  const result = await stream.result();
  const { usage } = result;
  console.log(`provider      ${result.provider} (${result.model})`);
  console.log(`finish reason ${result.finishReason}`);
  console.log(`usage         ${usage.prompt} prompt + ${usage.completion} completion = ${usage.total} tokens`);
  const ttfb = result.ttfbMs === null ? 'no content' : `first content after ${round(result.ttfbMs)} ms`;
  console.log(`latency       ${round(result.latencyMs)} ms, ${ttfb}, ${result.attempts} attempt(s)`);
  console.log('\nfiber.metrics.snapshot():');
  console.log(formatSnapshot(fiber.metrics.snapshot()));
} finally {
  await close();
}
