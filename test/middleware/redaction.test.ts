import { describe, expect, it } from 'vitest';
import { logging } from '../../middleware/logging.js';
import { analyzePattern, createRedactor, luhnCheck, redaction, type RedactionOptions } from '../../middleware/redaction.js';
import { defineMiddleware } from '../../src/compose.js';
import { ConfigError } from '../../src/errors.js';
import { Fiber, type FiberOptions } from '../../src/fiber.js';
import type { EmulatorRule } from '../../src/testing/index.js';
import type { Middleware, StreamEvent } from '../../src/types.js';
import { collect, logsOf, textOf, typesOf } from '../helpers/core.js';
import { closeAfterAll, useEmulator } from '../helpers/emulator.js';
import { capturePino, type CapturedPino } from '../helpers/pino.js';

const CANARY_KEY = 'sk-test-canary-key-123456';
const CANARY_EMAIL = 'canary.person@example.com';

// -----------------------------------------------------------------------------------------------------------------
// Patterns (no I/O)

describe('built-in patterns', () => {
  const r = createRedactor();

  it.each([
    [`mail ${CANARY_EMAIL}.`, 'mail [redacted].'],
    ['a.b+tag@sub.example.co.uk, ok', '[redacted], ok'],
    ['call +1 (415) 555-2671 now', 'call [redacted] now'],
    ['call +14155552671', 'call [redacted]'],
    ['call +44 20 7946 0958.', 'call [redacted].'],
    ['call (415) 555-2671 or 415.555.2671 or 1-800-555-0199', 'call [redacted] or [redacted] or [redacted]'],
    ['tel 020 7946 0958 / 06 12 34 56 78 / 030-1234-5678', 'tel [redacted] / [redacted] / [redacted]'],
    ['card 4111 1111 1111 1111, exp 12/29', 'card [redacted], exp 12/29'],
    ['card 4111-1111-1111-1111 and 378282246310005 and 3782 822463 10005', 'card [redacted] and [redacted] and [redacted]'],
    [`key ${CANARY_KEY}`, 'key [redacted]'],
    ['sk-ant-api03-abcdefghijklmnop_QRS-tuv and gsk_abcdefghijklmnop1234', '[redacted] and [redacted]'],
    ['google AIzaSyA1234567890abcdefghijklmnopqrstu', 'google [redacted]'],
    ['Authorization: Bearer abc.def.ghijklmnopqrstuvwxyz', 'Authorization: Bearer [redacted]'],
    ['x-api-key: 0123456789abcdef and api_key="secretvalue99"', 'x-api-key: [redacted] and api_key="[redacted]"'],
  ])('redacts %j', (input, expected) => {
    expect(r.redact(input)).toBe(expected);
  });

  it.each([
    'the years 2021 2022 2023 2024',
    'order 1234567890123 shipped', // 13 digits, Luhn fails
    'card 4111 1111 1111 1112', // Luhn fails
    'date 05.12.2024 10:30',
    'version 1.2.3 at 192.168.100.200',
    'price $1,234,567.89 or 3.14159265358979',
    'the bearer instrument, a task-management-tool',
    'an id 12345678901234567890123 (23 digits)',
    'ask-me-anything and risk-free',
    'email me at the usual place @ noon',
  ])('leaves %j alone', (input) => {
    expect(r.redact(input)).toBe(input);
  });

  it('checks card numbers with Luhn', () => {
    expect(luhnCheck('4111111111111111')).toBe(true);
    expect(luhnCheck('4111 1111 1111 1112')).toBe(false);
    expect(luhnCheck('0000000000000')).toBe(true);
    expect(luhnCheck('000000000000')).toBe(false); // 12 digits
  });

  it('applies custom patterns with their flags, in order, and a custom replacement', () => {
    const c = createRedactor({ patterns: [/acme-\d{4}/i, /^secret:.*$/m], replacement: '█' });
    expect(c.redact('ACME-1234 and acme-9999\nsecret: the plan\nnot secret: x')).toBe('█ and █\n█\nnot secret: x');
    // Only what was asked for (and API keys, always).
    expect(c.redact(`${CANARY_EMAIL} ${CANARY_KEY}`)).toBe(`${CANARY_EMAIL} █`);
  });

  it('redacts the Fiber\'s own keys as literal strings, whatever their shape', () => {
    const c = createRedactor({ patterns: [] }, ['zz.custom.key.ABCDEF123', 'short']);
    expect(c.redact('key zz.custom.key.ABCDEF123! short')).toBe('key [redacted]! short');
  });

  it('redacts every string and key of a JSON-like value, leaving the original alone', () => {
    const value = { user: CANARY_EMAIL, list: [`call +14155552671`, 3, null], [CANARY_EMAIL]: true, nested: { deep: { key: CANARY_KEY } } };
    const copy = structuredClone(value);
    expect(createRedactor().redactValue(value)).toEqual({
      user: '[redacted]', list: ['call [redacted]', 3, null], '[redacted]': true, nested: { deep: { key: '[redacted]' } },
    });
    expect(value).toEqual(copy);
  });
});

describe('pattern analysis', () => {
  it.each([
    ['ab{2,3}(?=cd)', '', { minChars: 3, maxChars: 4, lookaheadChars: 2, lookbehindChars: 0 }],
    ['(?<=x{3})y+', 'u', { minChars: 1, maxChars: Infinity, lookaheadChars: 0, lookbehindChars: 3 }],
    ['\\bfoo\\b', '', { minChars: 3, maxChars: 3, lookaheadChars: 1, lookbehindChars: 1 }],
    ['^a|b$', '', { minChars: 1, maxChars: 1, lookaheadChars: 1, lookbehindChars: 1 }],
    ['[\\u{1F600}-\\u{1F64F}]{2}', 'u', { minChars: 2, maxChars: 4 }],
    ['(a)\\1', '', { minChars: 1, maxChars: Infinity }],
    ['x{2}{3}|[^a]?', '', { minChars: 0 }],
  ])('reads /%s/%s', (source, flags, facts) => {
    expect(analyzePattern(source, flags)).toMatchObject(facts);
  });

  it('knows which characters a match can consist of and start with (case-folded under i)', () => {
    const has = (bits: Uint32Array | null, ch: string) => bits === null || (bits[ch.charCodeAt(0) >>> 5]! & (1 << (ch.charCodeAt(0) & 31))) !== 0;
    const f = analyzePattern('(?<=id:)[a-c]+-\\d', 'i');
    expect(['a', 'B', 'c', '-', '7'].every((c) => has(f.alphabet, c))).toBe(true);
    expect(['i', 'd', ':', ' ', 'x'].some((c) => has(f.alphabet, c))).toBe(false); // lookbehind text is not consumed
    expect(has(f.first, 'A') && !has(f.first, '-') && !has(f.first, '7')).toBe(true);
    expect(analyzePattern('k', 'i').alphabet).not.toBeNull();
    expect(has(analyzePattern('k', 'iu').alphabet, '\u212a')).toBe(true); // Kelvin sign folds to k
    expect(analyzePattern('a.b', '').alphabet).toBeNull();
  });

  it('rejects patterns that can match empty text, unknown names and non-patterns at construction', () => {
    expect(() => redaction({ patterns: [/x*/] })).toThrow(/can match empty text/);
    expect(() => redaction({ patterns: [/(?=a)/] })).toThrow(ConfigError);
    expect(() => redaction({ patterns: ['ssn' as 'email'] })).toThrow(/unknown pattern "ssn"/);
    expect(() => redaction({ patterns: ['toString' as 'email'] })).toThrow(ConfigError);
    expect(() => redaction({ patterns: ['a+' as unknown as RegExp] })).toThrow(ConfigError);
    expect(() => redaction({ patterns: 'email' as unknown as ['email'] })).toThrow(ConfigError);
    expect(() => redaction({ redactOutput: 'yes' as unknown as boolean })).toThrow(ConfigError);
    expect(() => redaction({ replacement: 1 as unknown as string })).toThrow(ConfigError);
    expect(() => redaction({ maxMatchChars: 8 })).toThrow(/maxMatchChars/);
    expect(() => redaction({ redactInput: true } as RedactionOptions)).toThrow(/unknown option "redactInput"/);
  });
});

describe('incremental redaction', () => {
  /** A small seeded PRNG, so a failure names its case. */
  function prng(seed: number): () => number {
    return () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
  }

  function streamed(r: ReturnType<typeof createRedactor>, text: string, cuts: number[]): string[] {
    const s = r.stream();
    const out: string[] = [];
    let pos = 0;
    for (const c of [...cuts, text.length]) {
      out.push(s.push(text.slice(pos, c)));
      pos = c;
    }
    out.push(s.flush());
    return out;
  }

  it('delivers the same text as whole-text redaction, however the text is cut', () => {
    const rnd = prng(7);
    const pieces = ['Hello', ' ', 'world', '.', ', ', CANARY_EMAIL, CANARY_KEY, '+1 (415) 555-2671', '415-555-2671', '4111 1111 1111 1111',
      '4111111111111111', '020 7946 0958', 'Bearer abcdefghijklmnopqrstuvwxyz012345', 'x-api-key: abcdefgh1234', '2024', '-', '0', '7', '@',
      'a', 'x.y', 'ACME-123456', 'acme-654321', '\n', '(', ')', 'secret: plan'];
    const configs: RedactionOptions[] = [{}, { patterns: ['card', 'phone', /acme-\d{6}/i, /\bfoo+\b/, /^secret:.*$/m, /x$/] }];
    for (const options of configs) {
      const r = createRedactor(options);
      for (let n = 0; n < 1500; n++) {
        let text = '';
        for (let k = 1 + Math.floor(rnd() * 10); k > 0; k--) text += pieces[Math.floor(rnd() * pieces.length)];
        const cuts: number[] = [];
        for (let p = 1 + Math.floor(rnd() * 5); p < text.length; p += 1 + Math.floor(rnd() * 5)) cuts.push(p);
        expect(streamed(r, text, cuts).join(''), JSON.stringify({ text, cuts })).toBe(r.redact(text));
      }
    }
  });

  it('holds back only the text a match could still take', () => {
    const r = createRedactor();
    // Words: the last word could still become an e-mail address; a space or punctuation settles it.
    expect(streamed(r, 'The quick brown fox', [3, 9, 15])).toEqual(['', 'The ', 'quick ', 'brown ', 'fox']);
    expect(streamed(r, 'Hello, world! ', [7])).toEqual(['Hello, ', 'world! ', '']);
    // A phone number in the making is held until it is decided: after "2671 " another group could still follow.
    expect(streamed(r, 'Call +1 415 555 2671 now', [8, 12, 16, 21])).toEqual(['Call ', '', '', '', '', '[redacted] now']);
    // A letter settles it: the number is redacted and emitted with the text up to the last word boundary.
    expect(streamed(r, 'Call +1 415 555 2671 today, ok', [8, 12, 16, 21, 27])).toEqual(['Call ', '', '', '', '[redacted] today,', ' ', 'ok']);
  });

  it('redacts a match longer than maxMatchChars to its end, in pieces', () => {
    const r = createRedactor({ patterns: [/\d+/], maxMatchChars: 16 });
    const digits = '1234567890'.repeat(10);
    const text = `id ${digits} end`;
    const cuts = Array.from({ length: Math.floor(text.length / 3) }, (_, i) => (i + 1) * 3).filter((c) => c < text.length);
    const out = streamed(r, text, cuts).join('');
    expect(out).toMatch(/^id (\[redacted\])+ end$/);
    expect(r.redact(text)).toBe('id [redacted] end');
  });
});

// -----------------------------------------------------------------------------------------------------------------
// Through the Fiber and the emulator

const emu = useEmulator();

function fiberWith(middleware: Middleware[], options: FiberOptions = {}): Fiber {
  const f = new Fiber({
    baseUrls: { openai: emu.baseUrls.openai },
    apiKeys: { openai: CANARY_KEY },
    defaultModel: 'gpt-4o-mini',
    retry: { minDelayMs: 1, maxDelayMs: 2 },
    middleware,
    ...options,
  });
  closeAfterAll(f);
  return f;
}

/** A Fiber with `logging({ bodies: true })` outside `redaction(options)`, logging to a captured pino. */
function redacting(options: RedactionOptions): { fiber: Fiber; log: CapturedPino } {
  const log = capturePino('debug');
  return { fiber: fiberWith([logging({ logger: log.logger, bodies: true }), redaction(options)]), log };
}

const chunksOf = (events: readonly StreamEvent[]) => events.filter((e) => e.type === 'chunk').map((e) => (e as { delta: string }).delta);

async function streamText(fiber: Fiber, rule: EmulatorRule): Promise<{ events: StreamEvent[]; text: string; resultText: string }> {
  emu.script(rule);
  const stream = fiber.chatStream({ messages: 'hi' });
  const { events, error } = await collect(stream);
  expect(error).toBeNull();
  const done = events.at(-1)!;
  expect(done.type).toBe('done');
  return { events, text: textOf(events), resultText: (done as { result: { text: string } }).result.text };
}

describe('redactOutput on chat', () => {
  it('redacts text, message content and raw, and leaves tool-call arguments alone', async () => {
    const { fiber } = redacting({ redactOutput: true, patterns: ['email', 'phone', 'card', /ACME-\d{4}/] });
    emu.script({
      text: `Mail ${CANARY_EMAIL}, call +44 20 7946 0958, card 4111 1111 1111 1111, ref ACME-1234.`,
      toolCalls: [{ name: 'notify', arguments: { to: CANARY_EMAIL } }],
    });
    const result = await fiber.chat({ messages: 'hi' });
    const expected = 'Mail [redacted], call [redacted], card [redacted], ref [redacted].';
    expect(result.text).toBe(expected);
    expect(result.message.content).toBe(expected);
    expect(JSON.stringify(result.raw)).not.toContain(CANARY_EMAIL);
    expect(JSON.stringify(result.raw)).not.toContain('ACME-1234');
    expect(result.toolCalls[0]!.arguments).toEqual({ to: CANARY_EMAIL });
  });

  it('leaves the delivered text alone without redactOutput, but not the logs', async () => {
    const { fiber, log } = redacting({});
    emu.script({ text: `Mail ${CANARY_EMAIL} with ${CANARY_KEY}` });
    const result = await fiber.chat({ messages: `I am ${CANARY_EMAIL}` });
    expect(result.text).toBe(`Mail ${CANARY_EMAIL} with ${CANARY_KEY}`);
    expect(log.text()).toContain('Mail [redacted] with [redacted]');
    expect(log.text()).not.toContain(CANARY_EMAIL);
    expect(log.text()).not.toContain(CANARY_KEY);
  });
});

describe('redactOutput on streams', () => {
  for (const [name, canary] of [['key', CANARY_KEY], ['e-mail', CANARY_EMAIL]] as const) {
    it(`never delivers or logs the canary ${name}, split across two chunks at every position`, async () => {
      const { fiber, log } = redacting({ redactOutput: true });
      const text = `Your ${name} is ${canary}, keep it safe.`;
      const expected = `Your ${name} is [redacted], keep it safe.`;
      for (let cut = 1; cut < text.length; cut++) {
        const { events, text: delivered, resultText } = await streamText(fiber, { chunks: [text.slice(0, cut), text.slice(cut)] });
        expect(delivered, `cut at ${cut}`).toBe(expected);
        expect(resultText, `cut at ${cut}`).toBe(delivered);
        expect(typesOf(events).slice(-2), `cut at ${cut}`).toEqual(['usage', 'done']);
      }
      expect(log.text()).not.toContain(canary);
      expect(log.text()).toContain(expected);
    });

    it(`never delivers the canary ${name} sent one character per chunk`, async () => {
      const { fiber, log } = redacting({ redactOutput: true });
      const text = `${canary} and ${canary}`;
      const { text: delivered, resultText, events } = await streamText(fiber, { chunks: [...text] });
      expect(delivered).toBe('[redacted] and [redacted]');
      expect(resultText).toBe(delivered);
      for (const d of chunksOf(events)) expect(canary.includes(d) && d.length > 1).toBe(false);
      expect(log.text()).not.toContain(canary);
    });
  }

  it('redacts phone, card and custom patterns split across chunks', async () => {
    const { fiber } = redacting({ redactOutput: true, patterns: ['phone', 'card', /TICKET-\d{4}/] });
    const text = 'Call +1 (415) 555-2671 about 4111 1111 1111 1111 and TICKET-1234 today';
    for (let cut = 1; cut < text.length; cut += 3) {
      const { text: delivered } = await streamText(fiber, { chunks: [text.slice(0, cut), text.slice(cut, cut + 7), text.slice(cut + 7)].filter((c) => c !== '') });
      expect(delivered, `cut at ${cut}`).toBe('Call [redacted] about [redacted] and [redacted] today');
    }
  });

  it('does not hold ordinary text back longer than a match could still need', async () => {
    const fiber = fiberWith([redaction({ redactOutput: true })]);
    const { events } = await streamText(fiber, { chunks: ['The', ' quick', ' brown', ' fox', ' jumps'] });
    expect(chunksOf(events)).toEqual(['The ', 'quick ', 'brown ', 'fox ', 'jumps']);
    // The held word comes before usage (which waits behind it) and done.
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'usage', 'done']);
    // Text that ends in a space or punctuation passes untouched, chunk for chunk.
    const { events: plain } = await streamText(fiber, { chunks: ['Hello, ', 'world. ', 'Bye! '] });
    expect(chunksOf(plain)).toEqual(['Hello, ', 'world. ', 'Bye! ']);
  });

  it('redacts reasoning deltas and result.reasoning', async () => {
    const fiber = fiberWith([redaction({ redactOutput: true })]);
    const { events } = await streamText(fiber, { reasoning: `The user is ${CANARY_EMAIL} probably`, text: 'Hi.' });
    const reasoning = events.filter((e) => e.type === 'reasoning').map((e) => (e as { delta: string }).delta).join('');
    expect(reasoning).toBe('The user is [redacted] probably');
    const done = events.at(-1) as Extract<StreamEvent, { type: 'done' }>;
    expect(done.result.reasoning).toBe('The user is [redacted] probably');
    expect(JSON.stringify(done.result.raw ?? null)).not.toContain(CANARY_EMAIL);
  });

  it('flushes held text before a tool call and leaves its arguments alone', async () => {
    const fiber = fiberWith([redaction({ redactOutput: true })]);
    const { events } = await streamText(fiber, { chunks: ['Writing to ', 'canary.person@exa', 'mple.com'], toolCalls: [{ name: 'mail', arguments: { to: CANARY_EMAIL } }] });
    expect(typesOf(events)).toEqual(['chunk', 'chunk', 'tool_call', 'usage', 'done']);
    expect(chunksOf(events)).toEqual(['Writing to ', '[redacted]']);
    expect((events[2] as Extract<StreamEvent, { type: 'tool_call' }>).toolCall.arguments).toEqual({ to: CANARY_EMAIL });
  });

  it('redacts `log` events delivered to the caller, and the matching log lines', async () => {
    const noisy = defineMiddleware({
      name: 'noisy',
      handle: (ctx, next) => { ctx.log('info', `user ${CANARY_EMAIL}`, { who: CANARY_EMAIL, n: 1 }); return next(); },
    });
    const log = capturePino();
    const fiber = fiberWith([logging({ logger: log.logger }), redaction({ redactOutput: true }), noisy]);
    const { events } = await streamText(fiber, { text: 'ok' });
    expect(logsOf(events)).toEqual([{ type: 'log', level: 'info', message: 'user [redacted]', data: { who: '[redacted]', n: 1 }, t: expect.any(Number) }]);
    expect(log.records().find((r) => r.msg === 'user [redacted]')).toMatchObject({ who: '[redacted]', n: 1 });
    expect(log.text()).not.toContain(CANARY_EMAIL);
  });

  it('applies two redaction() middleware one after the other', async () => {
    const log = capturePino();
    const fiber = fiberWith([
      logging({ logger: log.logger, bodies: true }),
      redaction({ redactOutput: true, patterns: [/alpha\d/] }),
      redaction({ redactOutput: true, patterns: [/beta\d/], replacement: '<b>' }),
    ]);
    const { text } = await streamText(fiber, { chunks: ['alp', 'ha1 and be', 'ta2 and gamma3'] });
    expect(text).toBe('[redacted] and <b> and gamma3');
    emu.script({ text: 'x' });
    await fiber.chat({ messages: 'alpha7 beta8' });
    expect(log.text()).toContain('[redacted] <b>');
  });

  it('delivers text untouched without redactOutput (the stack has no hook)', async () => {
    const fiber = fiberWith([redaction()], { preset: 'none' });
    const { text } = await streamText(fiber, { chunks: ['Mail canary.per', 'son@example.com'] });
    expect(text).toBe(`Mail ${CANARY_EMAIL}`);
  });
});
