/**
 * `llm-fiber/testing`: the embedded provider emulator. A real HTTP server on loopback that speaks the OpenAI,
 * Anthropic and Gemini wire formats with deterministic replies and scripted faults, for tests that go through
 * the real transport (no mocked fetch or undici).
 */
export { startEmulator } from './server.js';
export type {
  Emulator,
  EmulatorInStreamError,
  EmulatorOptions,
  EmulatorProvider,
  EmulatorRawResponse,
  EmulatorRule,
  EmulatorToolCall,
  RecordedRequest,
} from './types.js';
