// A tool-call round trip: the model asks for a tool, we run it, and send the result back with ChatMessage.tool.
//
//   node examples/tools.mjs               # against the emulator, scripted to call get_weather
import { ChatMessage } from 'llm-fiber';
import { connect } from './lib/connect.mjs';

const tools = [
  {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
];

/** The tool itself: a stand-in for a real weather API. */
function getWeather({ city }) {
  return { city, tempC: 18, sky: 'sunny' };
}

const { fiber, emu, close } = await connect();
if (emu !== null) {
  // Turn 1: the model calls the tool. Turn 2 (the request that carries a tool result): it answers in text.
  emu.script({ toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] });
  emu.script({
    match: (req) => req.body.messages.some((m) => m.role === 'tool'),
    text: 'It is 18 °C and sunny in Paris.',
  });
}

try {
  const messages = [ChatMessage.user('What is the weather in Paris right now?')];

  // 'required' makes a real model call the tool rather than answer from memory.
  const first = await fiber.chat({ messages, tools, toolChoice: 'required' });
  console.log(`turn 1: finishReason=${first.finishReason}`);
  for (const call of first.toolCalls) console.log(`  tool call ${call.name}(${JSON.stringify(call.arguments)}) id=${call.id}`);

  // `result.message` is the assistant turn with its tool calls, ready to append.
  messages.push(first.message);
  for (const call of first.toolCalls) {
    messages.push(ChatMessage.tool(call.id, getWeather(call.arguments)));
  }

  const second = await fiber.chat({ messages, tools });
  console.log(`turn 2: finishReason=${second.finishReason}`);
  console.log(`  ${second.text}`);
} finally {
  await close();
}
