/**
 * Fault matrix: requests the wire cannot carry. The caller asks for something the model or the API does not take;
 * llm-fiber refuses it with a typed, non-retryable error before anything is sent, instead of spending a request
 * (and the provider's 400) on it.
 */
import { expect } from 'vitest';
import { openai } from '../../providers/openai/index.js';
import { BadRequestError } from '../../src/errors.js';
import type { ContentPart } from '../../src/types.js';
import { expectWithin, faultSuite, TOTAL_MS, useEmulator } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('requests.test.ts');

const emu = useEmulator();

const T = { timeouts: { totalMs: TOTAL_MS } };
/** The OpenAI adapter speaking the Responses API for every call. */
const RESPONSES = { providers: [openai({ api: 'responses' })] };

fault('responses-reasoning-unsupported', async (kit) => {
  const f = kit.emuFiber(emu, { ...T, ...RESPONSES });

  const effort = await kit.failure(f.chat({ model: 'gpt-4o', messages: 'hi', reasoning: { effort: 'low' } }));
  expect(effort.error).toBeInstanceOf(BadRequestError);
  expect(effort.error).toMatchObject({ code: 'unsupported_option', provider: 'openai', model: 'gpt-4o', retryable: false, attempts: 1 });
  expect(effort.error.message).toContain('reasoning.effort');
  expectWithin(effort.ms, TOTAL_MS);

  const budget = await kit.failure(f.chat({ model: 'o4-mini', messages: 'hi', reasoning: { budgetTokens: 4_000 } }));
  expect(budget.error).toBeInstanceOf(BadRequestError);
  expect(budget.error).toMatchObject({ code: 'unsupported_option', model: 'o4-mini', retryable: false, attempts: 1 });
  expect(budget.error.message).toContain('reasoning.budgetTokens');
  expect(emu.requests).toHaveLength(0);

  // 'none' on a model that does not reason has nothing to turn off: dropped, and the call goes out without it.
  const { value } = await kit.success(f.chat({ model: 'gpt-4o', messages: 'hi', reasoning: { effort: 'none', summary: true } }));
  expect(value).toMatchObject({ text: 'You said: hi', attempts: 1 });
  expect(emu.requests).toHaveLength(1);
  expect(emu.requests[0]!.path).toBe('/v1/responses');
  expect(emu.requests[0]!.body).not.toHaveProperty('reasoning');
  expect(emu.requests[0]!.body).not.toHaveProperty('include');
});

fault('responses-file-too-large', async (kit) => {
  const f = kit.emuFiber(emu, { ...T, ...RESPONSES });
  /** A PDF part of `mib` MiB, as base64 (4 characters per 3 bytes). */
  const pdf = (mib: number): ContentPart => ({ type: 'file', data: 'A'.repeat(Math.ceil((mib * 1024 * 1024) / 3) * 4), mediaType: 'application/pdf' });
  const { error, ms } = await kit.failure(f.chat({
    model: 'gpt-4.1',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Compare these.' }, pdf(20), pdf(13)] }],
  }));
  expect(error).toBeInstanceOf(BadRequestError);
  expect(error).toMatchObject({ code: 'content_too_large', provider: 'openai', retryable: false, attempts: 1 });
  expect(error.message).toBe("openai gpt-4.1: content part 'file' (messages[0].content[2]) brings the request's files to 33.0 MB, over OpenAI's 32.0 MB per request");
  expect(emu.requests).toHaveLength(0);
  expectWithin(ms, TOTAL_MS);
});

coversTheMatrix();
