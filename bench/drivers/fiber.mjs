// llm-fiber driver for the shared benchmark harness (../shared/bench, contract in its README "Adding a driver").
//
// It imports the BUILT library by its package name, so resolution goes through package.json `exports` exactly as
// for a user:
//   * copied into the harness by bench/run.mjs, `llm-fiber` is the packed build installed in the harness's
//     node_modules (a snapshot of this checkout's dist/, next to the harness's own undici);
//   * left where it is (bench/drivers/fiber.mjs), `llm-fiber` resolves to this checkout's dist/ by package
//     self-reference (`npm run build` first).
//
// Environment (same names as the harness's own fiber driver):
//   FIBER_PROTOCOL  openai (default) | anthropic | gemini: mock endpoint family, and the floor driver it is compared to
//   FIBER_PRESET    prod (default, the stack users get) | dev | none (the bare pipeline)
//
// Only the public API is used: new Fiber({ apiKeys, baseUrls, headers, defaultModel, preset }), chat(),
// chatStream(), close().
import { Fiber } from 'llm-fiber';

const PROTOCOL = process.env.FIBER_PROTOCOL || 'openai';
const PRESET = process.env.FIBER_PRESET || 'prod';
const FLOORS = { openai: 'undici', anthropic: 'undici-anthropic', gemini: 'undici-gemini' };

export const meta = {
  name: 'fiber',
  protocol: PROTOCOL,
  floor: FLOORS[PROTOCOL] ?? 'undici',
  packages: [], // not one of the harness's package.json deps ...
  // ... S5 footprint: the harness runs `npm pack` here and installs the tarball. bench/run.mjs sets FIBER_FOOTPRINT_DIR
  // to the installed snapshot (no build scripts), so packing never rebuilds the checkout mid-run.
  footprintDir: process.env.FIBER_FOOTPRINT_DIR || null,
  coldStart: "import('llm-fiber')",
  description: `llm-fiber (${PROTOCOL} endpoint, preset ${PRESET})`,
};

// Base URLs as the official SDKs take them (CONTRACT.md): OpenAI with /v1, Anthropic and Gemini without.
const baseUrlFor = (baseURL) => ({ openai: `${baseURL}/v1`, anthropic: baseURL, gemini: baseURL })[PROTOCOL] ?? `${baseURL}/v1`;

export async function create({ baseURL, headers, model }) {
  const client = new Fiber({
    apiKeys: { [PROTOCOL]: 'sk-mock' },
    baseUrls: { [PROTOCOL]: baseUrlFor(baseURL) },
    headers, // the mock's x-mock-* response-shape controls, sent on every request
    defaultModel: `${PROTOCOL}:${model}`,
    preset: PRESET,
  });
  return {
    async chat(messages) {
      const r = await client.chat({ messages });
      return r.text;
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
    },
  };
}
