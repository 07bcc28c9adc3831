/**
 * The recorded provider fixtures in `../shared/fixtures/` (beside the checkout, read-only) and the mapping of our
 * results and errors to their normalized `expected.json` schema (shared/fixtures/README.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  AuthError,
  BadRequestError,
  ContentFilterError,
  ContextLengthError,
  FiberError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  StreamError,
  TimeoutError,
} from '../../src/errors.js';
import { SseParser } from '../../src/sse.js';
import type { ParsedResult, ResponseInfo, StreamDecoder, StreamEvent, StreamFinal } from '../../src/types.js';

/** The fixtures folder: `shared/` sits beside the repository checkout. */
export const FIXTURES_DIR = new URL('../../../shared/fixtures/', import.meta.url);

export interface FixtureMeta {
  provider: 'openai' | 'anthropic' | 'gemini';
  kind: 'json' | 'sse' | 'error';
  status: number;
  headers: Record<string, string>;
  path: string;
  request: Record<string, unknown>;
  truncated?: boolean;
  sdkDivergence?: unknown[];
}

export type ErrorKind =
  | 'rate_limit'
  | 'auth'
  | 'bad_request'
  | 'not_found'
  | 'overloaded'
  | 'server'
  | 'timeout'
  | 'content_filter'
  | 'context_length';

export interface NormalizedSuccess {
  text: string;
  toolCalls: Array<{ id: string; name: string; arguments: Record<string, unknown> }>;
  finishReason: string;
  usage: { prompt: number; completion: number; total: number } | null;
  model: string | null;
  responseId: string | null;
}

export interface NormalizedFailure {
  error: {
    status: number | null;
    retryable: boolean;
    retryAfterMs: number | null;
    kind: ErrorKind | 'other';
    providerCode: string | null;
    message: string;
  };
}

export type Normalized = NormalizedSuccess | NormalizedFailure;

export interface Fixture {
  /** Case name, e.g. `text-stream`. */
  name: string;
  meta: FixtureMeta;
  /** The body bytes exactly as served (`.json` for json/error cases, `.sse` for streams). */
  body: Buffer;
  expected: Normalized;
}

/** Every fixture of a provider, sorted by case name. */
export function loadFixtures(provider: string): Fixture[] {
  return readFixtures(new URL(`${provider}/`, FIXTURES_DIR), `${provider}/`);
}

/** A `ResponseInfo` for a fixture as served: its status and headers (header lookup by lower-case name). */
export function fixtureResponse(fixture: Fixture, provider: string): ResponseInfo {
  const headers = new Map(Object.entries(fixture.meta.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status: fixture.meta.status,
    header: (name) => headers.get(name),
    requestId: headers.get('x-request-id') ?? headers.get('request-id'),
    provider,
    model: typeof fixture.meta.request?.model === 'string' ? fixture.meta.request.model : 'unknown-model',
  };
}

/** The fixtures' error kind for an error class (subclasses first: ContextLengthError is a BadRequestError). */
export function errorKind(err: FiberError): ErrorKind | 'other' {
  if (err instanceof RateLimitError) return 'rate_limit';
  if (err instanceof AuthError) return 'auth';
  if (err instanceof ContextLengthError) return 'context_length';
  if (err instanceof BadRequestError) return 'bad_request';
  if (err instanceof NotFoundError) return 'not_found';
  if (err instanceof OverloadedError) return 'overloaded';
  if (err instanceof TimeoutError) return 'timeout';
  if (err instanceof ContentFilterError) return 'content_filter';
  if (err instanceof ServerError || err instanceof StreamError) return 'server';
  return 'other';
}

/**
 * Map a parsed result (or a `ChatResult`) or an error to the fixtures' expected schema. A decoded stream goes
 * through `normalizeRun`, which takes its text from the `chunk` events.
 *
 * Errors: `providerCode` is `err.code` when the error came from a provider body (`raw` is set), `null` for our own
 * failures (a cut stream); `message` is the provider's own `error.message` from `raw` (the shape of OpenAI, Gemini
 * and Anthropic bodies alike), falling back to our message.
 */
export function normalizeForCompare(value: ParsedResult | FiberError): Normalized {
  if (value instanceof FiberError) {
    const raw = value.raw as { error?: { message?: unknown } } | undefined;
    const providerMessage = raw !== null && typeof raw === 'object' && typeof raw.error === 'object' && raw.error !== null ? raw.error.message : undefined;
    const retryAfterMs = (value as { retryAfterMs?: number }).retryAfterMs;
    return {
      error: {
        status: value.status ?? null,
        retryable: value.retryable,
        retryAfterMs: retryAfterMs ?? null,
        kind: errorKind(value),
        providerCode: value.raw !== undefined ? (value.code ?? null) : null,
        message: typeof providerMessage === 'string' ? providerMessage : value.message,
      },
    };
  }
  return {
    text: value.text,
    toolCalls: value.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
    finishReason: value.finishReason,
    usage: value.usage === null ? null : { prompt: value.usage.prompt, completion: value.usage.completion, total: value.usage.total },
    model: value.model,
    responseId: value.id,
  };
}

/**
 * A decoded stream in the fixtures' expected schema: its final facts with, as text, the joined `chunk` deltas (what
 * the Fiber delivers and puts in `result.text`; decoders leave `StreamFinal.text` unset), or its error.
 */
export function normalizeRun(run: SseRun): Normalized {
  const { outcome } = run;
  if (outcome instanceof FiberError) return normalizeForCompare(outcome);
  return normalizeForCompare({ ...outcome, text: streamText(run.events) });
}

/** The text a stream delivered: its `chunk` deltas, joined. */
export function streamText(events: readonly StreamEvent[]): string {
  let text = '';
  for (const e of events) if (e.type === 'chunk') text += e.delta;
  return text;
}

/** Drop what the README says not to compare: an error's `message` when its `providerCode` is null. */
export function comparable(n: Normalized): Normalized {
  if (!('error' in n) || n.error.providerCode !== null) return n;
  const { message: _message, ...rest } = n.error;
  return { error: rest as NormalizedFailure['error'] };
}

export interface SseRun {
  events: StreamEvent[];
  /** The stream's final facts, or the error the transport would raise. */
  outcome: StreamFinal | FiberError;
}

/**
 * Feed body pieces through `SseParser` into a decoder the way the transport does: stop at the first thrown
 * error, and report a body that ends before the decoder saw its end marker as a retryable `StreamError`
 * (status 200, code `missing_end_marker`).
 */
export function decodeSse(decoder: StreamDecoder, pieces: readonly Buffer[], res: ResponseInfo, endMarker: string): SseRun {
  const events: StreamEvent[] = [];
  let t = 0;
  const parser = new SseParser((data, name) => decoder.event(data, name, t++, events));
  try {
    for (const piece of pieces) parser.push(piece);
    parser.end();
  } catch (err) {
    if (err instanceof FiberError) return { events, outcome: err };
    throw err;
  }
  if (!decoder.finished) {
    const outcome = new StreamError(`${res.provider} ${res.model}: stream ended before ${endMarker} (${res.status})`, {
      provider: res.provider,
      model: res.model,
      status: res.status,
      code: 'missing_end_marker',
      retryable: true,
    });
    return { events, outcome };
  }
  return { events, outcome: decoder.final() };
}

/** Deterministic PRNG (mulberry32) for reproducible random splits. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Split `body` into pieces of `min`–`max` bytes chosen by a seeded PRNG. */
export function randomPieces(body: Buffer, seed: number, min = 1, max = 7): Buffer[] {
  const next = prng(seed);
  const pieces: Buffer[] = [];
  for (let pos = 0; pos < body.length; ) {
    const size = min + Math.floor(next() * (max - min + 1));
    pieces.push(body.subarray(pos, pos + size));
    pos += size;
  }
  return pieces;
}

/**
 * Every fixture in a local folder of fixtures laid out like the shared ones (`<case>.json|.sse`, `.meta.json`,
 * `.expected.json`), sorted by case name. For the project's own fixtures, e.g. `test/fixtures/openai-responses/`.
 *
 * @example
 * const fixtures = loadFixturesFrom(new URL('../../fixtures/openai-responses/', import.meta.url));
 */
export function loadFixturesFrom(dir: URL): Fixture[] {
  return readFixtures(dir, dir.pathname);
}

/** The fixtures of one folder, sorted by case name; `label` names the folder in the missing-body error. */
function readFixtures(dir: URL, label: string): Fixture[] {
  const files = new Set(readdirSync(dir));
  const out: Fixture[] = [];
  for (const file of [...files].sort()) {
    if (!file.endsWith('.meta.json')) continue;
    const name = file.slice(0, -'.meta.json'.length);
    const meta = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as FixtureMeta;
    const bodyFile = meta.kind === 'sse' ? `${name}.sse` : `${name}.json`;
    if (!files.has(bodyFile)) throw new Error(`fixture ${label}${name}: missing ${bodyFile}`);
    out.push({
      name,
      meta,
      body: readFileSync(new URL(bodyFile, dir)),
      expected: JSON.parse(readFileSync(new URL(`${name}.expected.json`, dir), 'utf8')) as Normalized,
    });
  }
  return out;
}
