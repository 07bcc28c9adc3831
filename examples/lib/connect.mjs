// Shared by the examples: a Fiber against a real provider when an API key is set, else against the embedded
// emulator (`llm-fiber/testing`), so every example runs on a fresh machine with no key and no network.
import { Fiber } from 'llm-fiber';
import * as adapters from 'llm-fiber/providers';
import { startEmulator } from 'llm-fiber/testing';

/** A cheap model per provider, used unless LLM_FIBER_DEFAULT_MODEL names another. */
const CHEAP_MODELS = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-haiku-4-5',
  gemini: 'gemini-2.5-flash-lite',
};

/**
 * Which real provider to use: the first one with a key whose adapter this build of llm-fiber has. OpenAI is
 * always there; the Anthropic and Gemini adapters count only once `llm-fiber/providers` exports them.
 */
function realProvider(env = process.env) {
  if (env.OPENAI_API_KEY) return 'openai';
  if (env.ANTHROPIC_API_KEY && typeof adapters.anthropic === 'function') return 'anthropic';
  if ((env.GEMINI_API_KEY || env.GOOGLE_API_KEY) && typeof adapters.gemini === 'function') return 'gemini';
  return null;
}

/**
 * @param {{ options?: import('llm-fiber').FiberOptions }} [opts] extra Fiber options (middleware, retry, ...)
 * @returns {Promise<{ fiber: Fiber, emu: import('llm-fiber/testing').Emulator | null, provider: string,
 *   model: string, close: () => Promise<void> }>}
 */
export async function connect({ options = {} } = {}) {
  const provider = realProvider();
  if (provider !== null) {
    const model = process.env.LLM_FIBER_DEFAULT_MODEL || CHEAP_MODELS[provider];
    // Passing the adapter is a no-op when the Fiber already has it built in, and registers it when not.
    const providers = provider === 'openai' ? [] : [adapters[provider]()];
    const fiber = Fiber.fromEnv({ ...options, defaultModel: model, providers });
    return { fiber, emu: null, provider, model, close: () => fiber.close() };
  }
  const emu = await startEmulator();
  const model = CHEAP_MODELS.openai;
  const fiber = new Fiber({ ...options, defaultModel: model, baseUrls: emu.baseUrls, apiKeys: { openai: 'sk-emulator' } });
  return {
    fiber,
    emu,
    provider: 'openai',
    model,
    close: async () => {
      await fiber.close();
      await emu.close();
    },
  };
}

/** One line per metric series: `name{tags} value` for counters, count and percentiles for histograms. */
export function formatSnapshot(snapshot) {
  const lines = [];
  for (const [name, points] of Object.entries(snapshot)) {
    for (const p of points) {
      const tags = Object.entries(p.tags).map(([k, v]) => `${k}=${v}`).join(',');
      const value = 'value' in p
        ? String(round(p.value))
        : `count=${p.count} min=${round(p.min)} p50=${round(p.p50)} p99=${round(p.p99)} max=${round(p.max)}`;
      lines.push(`  ${name}{${tags}} ${value}`);
    }
  }
  return lines.join('\n');
}

export function round(n) {
  return Number.isInteger(n) ? n : Number(n.toFixed(1));
}
