// Reasoning, prompt caching, and file and audio parts: one setting on every provider.
//
//   node examples/reasoning-and-caching.mjs    # after npm run build; no API key, no network
//
// This example always runs against the embedded emulator (`llm-fiber/testing`). It scripts thinking blocks,
// cached-token usage and reasoning summaries on each wire, and it reads `emu.requests` to show what each adapter
// sent. With real keys the calls work the same, but the replies are the models' own.
// See docs/features/reasoning-and-caching.md.
import { BadRequestError, ChatMessage, Fiber } from 'llm-fiber';
import { startEmulator } from 'llm-fiber/testing';

const emu = await startEmulator();
const fiber = new Fiber({
  baseUrls: emu.baseUrls,
  apiKeys: { openai: 'sk-emulator', anthropic: 'sk-ant-emulator', gemini: 'gemini-emulator' },
});

const weather = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const system = ChatMessage.system('You are a weather assistant. Use the tool.');
const question = ChatMessage.user('Weather in Paris?');
/** The last request the emulator received, as its parsed JSON body. */
const lastBody = () => emu.requests.at(-1).body;

try {
  // --- 1. Anthropic: extended thinking, carried across a tool round trip, with prompt caching ---------------------
  console.log('1. Anthropic extended thinking + promptCache');
  emu.script({
    provider: 'anthropic',
    reasoning: 'The user wants the weather in Paris, so I call get_weather.',
    text: 'Let me check.',
    toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
    usage: { prompt: 120, completion: 40 },
    cachedPrompt: 0,
    cacheWrite: 90,
  });
  const request = {
    model: 'claude-sonnet-4-5',
    tools: [weather],
    reasoning: { effort: 'low' },   // Anthropic: thinking { type: 'enabled', budget_tokens: 2048 }
    promptCache: 'auto',           // cache_control breakpoints: last tool, system, second-to-last user turn
  };
  const stream = fiber.chatStream({ ...request, messages: [system, question] });
  let reasoningChars = 0;
  for await (const event of stream) {
    if (event.type === 'reasoning') reasoningChars += event.delta.length;  // thinking text: never in `chunk`
    if (event.type === 'chunk') process.stdout.write(`   chunk: ${JSON.stringify(event.delta)}\n`);
  }
  const first = await stream.result();
  console.log(`   reasoning events: ${reasoningChars} chars; result.reasoning = ${JSON.stringify(first.reasoning)}`);
  console.log(`   sent: thinking=${JSON.stringify(lastBody().thinking)} max_tokens=${lastBody().max_tokens} temperature=${lastBody().temperature ?? 'not sent'}`);
  console.log(`   usage turn 1: prompt=${first.usage.prompt} cacheWrite=${first.usage.cacheWrite} cachedPrompt=${first.usage.cachedPrompt}`);

  // Turn 2: append the assistant turn as it came back. Its thinking block (with the signature) rides along in
  // message.providerData and is sent back byte for byte, before the text and the tool_use block.
  emu.script({
    provider: 'anthropic',
    reasoning: 'The tool says 21 °C; answer briefly.',
    text: 'It is 21 °C and sunny in Paris.',
    usage: { prompt: 180, completion: 24 },
    cachedPrompt: 90,
    cacheWrite: 60,
  });
  const second = await fiber.chat({
    ...request,
    messages: [system, question, first.message, ChatMessage.tool(first.toolCalls[0].id, '{"tempC":21,"sky":"sunny"}')],
  });
  const sent = lastBody();
  const kept = first.message.providerData.anthropic.blocks[0];
  const replayed = sent.messages[1].content[0];
  console.log(`   thinking block sent back intact: ${JSON.stringify(replayed) === JSON.stringify(kept)} (signature ${replayed.signature})`);
  const marked = [
    sent.tools.at(-1).cache_control && 'last tool',
    sent.system.at(-1).cache_control && 'system',
    sent.messages[0].content.at(-1).cache_control && 'question (second-to-last user turn)',
  ].filter(Boolean);
  console.log(`   cache_control on: ${marked.join(', ')}`);
  console.log(`   usage turn 2: prompt=${second.usage.prompt} cachedPrompt=${second.usage.cachedPrompt} cacheWrite=${second.usage.cacheWrite}`);
  console.log(`   answer: ${second.text}`);

  // --- 2. The same setting on the other wires -------------------------------------------------------------------
  // The emulator's Chat Completions reply streams reasoning as `reasoning_content`, as DeepSeek and vLLM do; OpenAI
  // itself returns no reasoning text on that wire (only the token count), which is what the Responses wire is for.
  console.log('\n2. reasoning: { effort: "low", summary: true } on each wire');
  const same = { reasoning: { effort: 'low', summary: true }, messages: 'Is 91 prime?' };
  const wires = [
    ['gemini', { model: 'gemini-2.5-flash' }, (b) => `generationConfig.thinkingConfig=${JSON.stringify(b.generationConfig.thinkingConfig)}`],
    ['openai', { model: 'gpt-5-mini', providerOptions: { api: 'responses' } }, (b) => `reasoning=${JSON.stringify(b.reasoning)} include=${JSON.stringify(b.include)} store=${b.store}`],
    ['openai', { model: 'gpt-5-mini' }, (b) => `reasoning_effort=${JSON.stringify(b.reasoning_effort)}`],
  ];
  for (const [provider, options, shown] of wires) {
    emu.script({ provider, reasoning: 'It is 7 × 13.', text: 'No: 91 = 7 × 13.', usage: { prompt: 20, completion: 30 }, reasoningTokens: 12 });
    const r = await fiber.chat({ ...same, ...options });
    const wire = options.providerOptions?.api === 'responses' ? 'openai responses' : provider === 'openai' ? 'openai chat' : provider;
    console.log(`   ${wire.padEnd(16)} sent ${shown(lastBody())}`);
    console.log(`   ${''.padEnd(16)} reasoning=${JSON.stringify(r.reasoning)} text=${JSON.stringify(r.text)} usage.reasoning=${r.usage.reasoning}`);
  }

  // --- 3. Combinations a provider would reject fail before anything is sent --------------------------------------
  console.log('\n3. pre-send checks (BadRequestError, nothing sent)');
  const refused = [
    { model: 'claude-3-5-haiku-latest', reasoning: { effort: 'high' } },
    { model: 'claude-sonnet-4-5', reasoning: { budgetTokens: 8000 }, maxTokens: 4000 },
    { model: 'gpt-4o', reasoning: { effort: 'high' } },
    { model: 'o4-mini', reasoning: { effort: 'minimal' } },
    { model: 'gemini-2.5-pro', reasoning: { effort: 'none' } },
    { model: 'gemini-2.0-flash', reasoning: { budgetTokens: 1024 } },
  ];
  for (const req of refused) {
    const before = emu.requests.length;
    try {
      await fiber.chat({ ...req, messages: 'hi' });
      console.log(`   ${req.model}: accepted (unexpected)`);
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      console.log(`   ${err.code}, ${emu.requests.length - before} requests sent: ${err.message}`);
    }
  }

  // --- 4. File and audio parts --------------------------------------------------------------------------------------
  console.log('\n4. file and audio parts');
  const pdf = Buffer.from('%PDF-1.4 a tiny stand-in for a real PDF').toString('base64');
  const wav = Buffer.from('RIFF....WAVEfmt a tiny stand-in for real audio').toString('base64');
  const ask = (model, part, extra = {}) =>
    fiber.chat({ model, messages: [ChatMessage.user([{ type: 'text', text: 'Summarize this.' }, part])], ...extra });
  const parts = [
    ['claude-sonnet-4-5', { type: 'file', data: pdf, mediaType: 'application/pdf' }, {}, (b) => b.messages[0].content[1]],
    ['gemini-2.5-flash', { type: 'audio', data: wav, mediaType: 'audio/wav' }, {}, (b) => b.contents[0].parts[1]],
    ['gpt-4o-mini', { type: 'file', data: pdf, mediaType: 'application/pdf' }, {}, (b) => b.messages[0].content[1]],
    ['gpt-4o-mini', { type: 'file', url: 'https://example.com/report.pdf' }, { providerOptions: { api: 'responses' } }, (b) => b.input[0].content[1]],
    ['gpt-4o-mini', { type: 'file', url: 'https://example.com/report.pdf' }, {}, null],
    ['claude-sonnet-4-5', { type: 'audio', data: wav, mediaType: 'audio/wav' }, {}, null],
  ];
  for (const [model, part, extra, pick] of parts) {
    const label = `${model}${extra.providerOptions ? ' (responses)' : ''} ${part.type}`;
    try {
      await ask(model, part, extra);
      const wirePart = JSON.stringify(pick(lastBody())).replace(/[A-Za-z0-9+/=]{40,}/g, '<base64>');
      console.log(`   ${label.padEnd(32)} → ${wirePart}`);
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      console.log(`   ${label.padEnd(32)} → ${err.name} ${err.code}`);
    }
  }
} finally {
  await fiber.close();
  await emu.close();
}
