/**
 * Provider adapter factories (`llm-fiber/providers`) and the `Provider` interface for writing your own.
 * See `docs/features/custom-providers.md`.
 */
export { openai, type OpenAIOptions } from './openai/index.js';
export { anthropic, type AnthropicOptions } from './anthropic/index.js';
export { gemini, type GeminiOptions } from './gemini/index.js';
export { openaiCompatible, type OpenAICompatibleOptions, type OpenAICompatibleQuirks } from './openai-compatible/index.js';
export type {
  Provider, ProviderEnv, WireRequest, WireResponse, ResponseInfo, ParsedResult, StreamDecoder, StreamFinal,
} from '../src/types.js';
