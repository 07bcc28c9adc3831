/**
 * The emulator's HTTP server: routing, request recording, rule matching, and the dispatch to the writers in
 * `faults.ts`. A request takes the first queued rule whose `provider` and `match` fit; rules are consumed in
 * queue order, one `times` per request. Requests with an unknown route (404) or a body that is not a JSON object
 * (400) are recorded but consume no rule.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError } from '../errors.js';
import { anthropicFormat } from './anthropic.js';
import { beforeResponse, sendJson, sendRaw, sendStream } from './faults.js';
import { geminiFormat } from './gemini.js';
import { openaiFormat } from './openai.js';
import { buildReply } from './reply.js';
import { responsesChatView, responsesFormat } from './responses.js';
import { Session } from './session.js';
import type { Emulator, EmulatorOptions, EmulatorProvider, EmulatorRule, RecordedRequest } from './types.js';
import type { ErrorSpec, WireFormat } from './wire.js';

const FORMATS: Record<EmulatorProvider, WireFormat> = {
  openai: openaiFormat,
  anthropic: anthropicFormat,
  gemini: geminiFormat,
};

/** The rule of requests no scripted rule takes: the echo reply. */
const ECHO: EmulatorRule = Object.freeze({});

interface Route {
  provider: EmulatorProvider;
  /** OpenAI's Responses API (`/responses`): recorded and matched as `openai`, answered in its own format. */
  openaiResponses?: boolean;
  /** Gemini names the model and the streaming method in the path. */
  geminiModel?: string;
  geminiStream?: boolean;
}

const GEMINI_PATH = /^\/(?:v1beta|v1|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function routeOf(method: string, pathname: string): Route | null {
  if (method !== 'POST') return null;
  // Any prefix, so OpenAI-compatible base URLs (`/openai/v1`, no `/v1`) work against the same emulator.
  if (pathname.endsWith('/chat/completions')) return { provider: 'openai' };
  if (pathname.endsWith('/responses')) return { provider: 'openai', openaiResponses: true };
  if (pathname === '/v1/messages') return { provider: 'anthropic' };
  const gemini = GEMINI_PATH.exec(pathname);
  if (gemini !== null) {
    return { provider: 'gemini', geminiModel: decodeURIComponent(gemini[1]!), geminiStream: gemini[2] === 'streamGenerateContent' };
  }
  return null;
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Rule validation: a mistyped rule fails at `script()`, not as a puzzling reply later.

function checkCount(value: unknown, field: string, allowInfinity = false): void {
  if (value === undefined) return;
  const ok = typeof value === 'number' && value >= 0 && (Number.isInteger(value) || (allowInfinity && value === Infinity));
  if (!ok) throw new ConfigError(`emulator: rule.${field} must be a non-negative integer${allowInfinity ? ' or Infinity' : ''}`);
}

function checkMs(value: unknown, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0)) throw new ConfigError(`emulator: rule.${field} must be a number of ms >= 0`);
}

function checkStatus(value: unknown, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 100 || value > 599) {
    throw new ConfigError(`emulator: rule.${field} must be an HTTP status (100-599)`);
  }
}

/** Every field of `EmulatorRule`: anything else in a rule is a typo (`retryAfterMS`), refused rather than ignored. */
const RULE_KEY_LIST = [
  'provider', 'match', 'times', 'text', 'model', 'chunks', 'toolCalls', 'usage', 'finishReason', 'reasoning',
  'redactedThinking', 'cachedPrompt', 'cacheWrite', 'reasoningTokens', 'status', 'errorCode', 'errorMessage',
  'retryAfter', 'retryAfterMs', 'headers', 'geminiRetryDelay', 'delayMs', 'stallAfterHeadersMs', 'chunkDelayMs',
  'stallAfterEvents', 'pingOnly', 'pingIntervalMs', 'pingsBetweenEvents', 'dropAfterEvents', 'omitEndMarker',
  'malformedJson', 'inStreamError', 'resetBeforeResponse', 'raw',
] as const satisfies ReadonlyArray<keyof EmulatorRule>;
const RULE_KEYS: ReadonlySet<string> = new Set(RULE_KEY_LIST);
/** Compile-time check that the list above names every field of the rule type. */
const everyRuleFieldListed: [Exclude<keyof EmulatorRule, (typeof RULE_KEY_LIST)[number]>] extends [never] ? true : false = true;
void everyRuleFieldListed;

function validateRule(rule: EmulatorRule): void {
  if (typeof rule !== 'object' || rule === null) throw new ConfigError('emulator: script() takes a rule object');
  for (const k of Object.keys(rule)) {
    if (!RULE_KEYS.has(k)) throw new ConfigError(`emulator: unknown rule field "${k}" (see docs/features/testing.md for the fields)`);
  }
  if (rule.provider !== undefined && !(rule.provider in FORMATS)) {
    throw new ConfigError(`emulator: rule.provider must be 'openai', 'anthropic' or 'gemini'`);
  }
  if (rule.match !== undefined && typeof rule.match !== 'function') throw new ConfigError('emulator: rule.match must be a function');
  if (rule.model !== undefined && (typeof rule.model !== 'string' || rule.model === '')) throw new ConfigError('emulator: rule.model must be a non-empty string');
  checkCount(rule.times, 'times', true);
  if (rule.times === 0) throw new ConfigError('emulator: rule.times must be at least 1');
  checkStatus(rule.status, 'status');
  checkMs(rule.delayMs, 'delayMs');
  checkMs(rule.stallAfterHeadersMs, 'stallAfterHeadersMs');
  checkMs(rule.chunkDelayMs, 'chunkDelayMs');
  checkMs(rule.pingIntervalMs, 'pingIntervalMs');
  if (rule.pingIntervalMs === 0) throw new ConfigError('emulator: rule.pingIntervalMs must be above 0');
  checkCount(rule.pingsBetweenEvents, 'pingsBetweenEvents');
  checkCount(rule.dropAfterEvents, 'dropAfterEvents');
  if (rule.stallAfterEvents !== undefined) {
    checkCount(rule.stallAfterEvents.after, 'stallAfterEvents.after');
    checkMs(rule.stallAfterEvents.ms, 'stallAfterEvents.ms');
  }
  if (rule.inStreamError !== undefined) {
    checkCount(rule.inStreamError.after, 'inStreamError.after');
    checkStatus(rule.inStreamError.status, 'inStreamError.status');
  }
  if (rule.raw !== undefined) {
    checkStatus(rule.raw.status, 'raw.status');
    checkCount(rule.raw.splitEvery, 'raw.splitEvery');
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Start the embedded provider emulator: a real `node:http` server speaking the OpenAI Chat Completions,
 * Anthropic Messages and Gemini `generateContent` wire formats, with scripted replies and faults.
 *
 * @example
 * ```ts
 * const emu = await startEmulator();
 * emu.script({ provider: 'openai', status: 429, retryAfter: '1' });
 * const fiber = new Fiber({ baseUrls: emu.baseUrls, apiKeys: { openai: 'test' } });
 * await fiber.chat({ model: 'gpt-4o-mini', messages: 'hi' });   // retried, then "You said: hi"
 * expect(emu.requests).toHaveLength(2);
 * await emu.close();
 * ```
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;

  const queue: Array<{ rule: EmulatorRule; remaining: number }> = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let counter = 0;

  function take(request: RecordedRequest): EmulatorRule | undefined {
    for (let i = 0; i < queue.length; i++) {
      const entry = queue[i]!;
      if (entry.rule.provider !== undefined && entry.rule.provider !== request.provider) continue;
      if (entry.rule.match !== undefined && !entry.rule.match(request)) continue;
      entry.remaining -= 1;
      if (entry.remaining <= 0) queue.splice(i, 1);
      return entry.rule;
    }
    return undefined;
  }

  function baseHeaders(format: WireFormat, n: number, rule: EmulatorRule, stream: boolean): Record<string, string> {
    const headers: Record<string, string> = { ...(stream ? format.sseHeaders : format.jsonHeaders) };
    if (format.requestIdHeader !== null) headers[format.requestIdHeader] = `req_emu_${n}`;
    if (rule.retryAfter !== undefined) headers['retry-after'] = rule.retryAfter;
    if (rule.retryAfterMs !== undefined) headers['retry-after-ms'] = rule.retryAfterMs;
    if (rule.headers !== undefined) for (const [k, v] of Object.entries(rule.headers)) headers[k.toLowerCase()] = v;
    return headers;
  }

  function errorSpec(n: number, status: number, code: string | undefined, message: string | undefined, rule: EmulatorRule): ErrorSpec {
    return { status, code, message, requestId: `req_emu_${n}`, retryDelay: rule.geminiRetryDelay };
  }

  /** A 400 for a request the emulator cannot answer as asked; consumes no rule. */
  function badRequest(session: Session, format: WireFormat, n: number, message: string): Promise<void> {
    const body = format.errorBody(errorSpec(n, 400, undefined, message, ECHO));
    return sendJson(session, 400, baseHeaders(format, n, ECHO, false), body, ECHO);
  }

  async function handle(req: IncomingMessage, session: Session, raw: Buffer): Promise<void> {
    const n = ++counter;
    const path = req.url ?? '/';
    const query = path.indexOf('?');
    const pathname = query >= 0 ? path.slice(0, query) : path;
    const params = new URLSearchParams(query >= 0 ? path.slice(query + 1) : '');
    const method = req.method ?? 'GET';
    const route = routeOf(method, pathname);

    const text = raw.toString('utf8');
    let body: unknown = text;
    let isJson = false;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
        isJson = true;
      } catch {
        // Not JSON: recorded as the raw text, and answered 400 below.
      }
    }
    const request: RecordedRequest = {
      provider: route?.provider ?? 'unknown',
      method,
      path,
      headers: headerRecord(req),
      body,
      receivedAt: Date.now(),
    };
    requests.push(request);

    if (route === null) {
      const payload = JSON.stringify({ error: { message: `emulator: no route for ${method} ${pathname}`, type: 'not_found', code: 'not_found' } });
      return sendJson(session, 404, { 'content-type': 'application/json' }, payload, ECHO);
    }
    const format = route.openaiResponses === true ? responsesFormat(isRecord(body) ? body : undefined) : FORMATS[route.provider];
    if (!isJson || !isRecord(body)) return badRequest(session, format, n, 'The request body is not a valid JSON object.');
    if (route.geminiStream === true && params.get('alt') !== 'sse') {
      return badRequest(session, format, n, 'emulator: streamGenerateContent is served only with alt=sse.');
    }

    const rule = take(request) ?? ECHO;
    if (!(await beforeResponse(session, rule))) return;
    if (rule.raw !== undefined) return sendRaw(session, rule.raw, rule);

    const stream = route.provider === 'gemini' ? route.geminiStream === true : body.stream === true;
    if (rule.status !== undefined && rule.status >= 400) {
      const errorBody = format.errorBody(errorSpec(n, rule.status, rule.errorCode, rule.errorMessage, rule));
      return sendJson(session, rule.status, baseHeaders(format, n, rule, false), errorBody, rule);
    }

    const model = route.geminiModel ?? (typeof body.model === 'string' ? body.model : 'emulator');
    const reply = buildReply(route.provider, route.openaiResponses === true ? responsesChatView(body) : body, model, rule, n);
    const status = rule.status ?? 200;
    if (!stream) return sendJson(session, status, baseHeaders(format, n, rule, false), format.json(reply), rule);

    const streamOptions = body.stream_options;
    const includeUsage = route.provider === 'openai' && isRecord(streamOptions) && streamOptions.include_usage === true;
    const events = format.events(reply, { includeUsage, omitEndMarker: rule.omitEndMarker === true });
    const inError = rule.inStreamError;
    const errorEvent = inError === undefined
      ? undefined
      : format.streamError(errorSpec(n, inError.status ?? format.defaultStreamErrorStatus, inError.code, inError.message, rule));
    return sendStream(session, status, baseHeaders(format, n, rule, true), events, rule, format.keepAlive(), errorEvent);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const session = new Session(res);
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      handle(req, session, Buffer.concat(parts)).catch((error: unknown) => {
        // A bug in the emulator or a throwing `match`: make it visible to the test instead of hanging it.
        if (session.closed) return;
        if (res.headersSent) {
          session.destroy();
          return;
        }
        const message = error instanceof Error ? error.message : String(error);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `emulator: ${message}`, type: 'emulator_error' } }));
      });
    });
  }

  const server = createServer(onRequest);
  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  let closing: Promise<void> | undefined;

  const emulator: Emulator = {
    url,
    baseUrls: Object.freeze({ openai: `${url}/v1`, anthropic: url, gemini: url }),
    requests,
    script(rule) {
      validateRule(rule);
      queue.push({ rule: { ...rule }, remaining: rule.times ?? 1 });
      return emulator;
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
      counter = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        // close() only stops accepting; destroying every socket (idle keep-alive, stalled, mid-stream) lets it
        // finish, and each socket's close wakes its response's pending waits.
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
  return emulator;
}
