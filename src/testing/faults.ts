/**
 * The emulator's response writers: a JSON body, an SSE stream of `WireEvent`s, or raw bytes, each with the
 * rule's faults applied at the right point. Every wait goes through `Session`, so a client that goes away (or
 * `emu.close()`) stops the writer at its next step and leaves no timer behind.
 *
 * Where faults sit in a stream, for a rule with all of them (N = counted events written so far):
 *   headers → stallAfterHeadersMs → [pingOnly: keep-alives forever] →
 *   for each event: (if counted: stallAfterEvents / inStreamError / dropAfterEvents when N matches) →
 *                   pingsBetweenEvents keep-alives and chunkDelayMs (not before the first event) → the event
 *   → faults whose N lies at or past the end fire here → end.
 */
import type { Session } from './session.js';
import type { EmulatorRawResponse, EmulatorRule } from './types.js';
import { frame, type WireEvent } from './wire.js';

const DEFAULT_PING_INTERVAL_MS = 20;

/** `delayMs`, then `resetBeforeResponse`. Resolves false when the response is over (reset, or the client left). */
export async function beforeResponse(session: Session, rule: EmulatorRule): Promise<boolean> {
  if (rule.delayMs !== undefined && !(await session.sleep(rule.delayMs))) return false;
  if (rule.resetBeforeResponse === true) {
    session.reset();
    return false;
  }
  return true;
}

/** Write `chunk` every `pingIntervalMs` until the client goes away. */
async function pingForever(session: Session, chunk: string, rule: EmulatorRule): Promise<void> {
  const interval = rule.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  while (await session.write(chunk)) {
    if (!(await session.sleep(interval))) return;
  }
}

/** Send the headers now, and wait `stallAfterHeadersMs` if set. Resolves false when the client left. */
async function headersThenStall(session: Session, rule: EmulatorRule): Promise<boolean> {
  session.res.flushHeaders();
  if (rule.stallAfterHeadersMs !== undefined) return session.sleep(rule.stallAfterHeadersMs);
  return !session.closed;
}

/**
 * A complete (non-streaming) JSON response. `malformedJson` truncates the body (announced with its truncated
 * length, so it ends cleanly); `dropAfterEvents` announces the full length, sends half and drops the connection;
 * `pingOnly` sends JSON whitespace forever.
 */
export async function sendJson(
  session: Session,
  status: number,
  headers: Record<string, string>,
  body: string,
  rule: EmulatorRule,
): Promise<void> {
  const text = rule.malformedJson === true ? body.slice(0, Math.ceil(body.length / 2)) : body;
  const bytes = Buffer.from(text, 'utf8');
  const all: Record<string, string> = { ...headers };
  if (rule.pingOnly !== true) all['content-length'] = String(bytes.length);
  session.res.writeHead(status, all);

  const slow = rule.stallAfterHeadersMs !== undefined || rule.pingOnly === true || rule.dropAfterEvents !== undefined;
  if (!slow) {
    session.end(bytes);
    return;
  }
  if (!(await headersThenStall(session, rule))) return;
  if (rule.pingOnly === true) return pingForever(session, ' ', rule);
  if (rule.dropAfterEvents !== undefined) {
    if (await session.writeFlushed(bytes.subarray(0, Math.floor(bytes.length / 2)))) session.destroy();
    return;
  }
  session.end(bytes);
}

/** The event `malformedJson` cuts: the first one with content, else the first counted one. */
function eventToCut(events: WireEvent[]): number {
  const withContent = events.findIndex((e) => e.content === true);
  return withContent >= 0 ? withContent : events.findIndex((e) => e.keepAlive !== true);
}

/** An SSE response. `errorEvent` is the provider-shaped event for `rule.inStreamError`, when set. */
export async function sendStream(
  session: Session,
  status: number,
  headers: Record<string, string>,
  events: WireEvent[],
  rule: EmulatorRule,
  keepAlive: WireEvent,
  errorEvent: WireEvent | undefined,
): Promise<void> {
  session.res.writeHead(status, headers);
  if (!(await headersThenStall(session, rule))) return;
  if (rule.pingOnly === true) return pingForever(session, frame(keepAlive), rule);

  const cut = rule.malformedJson === true ? eventToCut(events) : -1;
  const pings = rule.pingsBetweenEvents ?? 0;
  const stall = rule.stallAfterEvents;
  const inError = rule.inStreamError;
  const drop = rule.dropAfterEvents;
  let sent = 0;
  let stalled = false;

  /** Apply the faults due after `sent` events (all remaining ones at the end). False: the response is over. */
  const gate = async (atEnd: boolean): Promise<boolean> => {
    const due = (after: number): boolean => atEnd || sent === after;
    if (stall !== undefined && !stalled && due(stall.after)) {
      stalled = true;
      if (!(await session.sleep(stall.ms))) return false;
    }
    if (inError !== undefined && errorEvent !== undefined && due(inError.after)) {
      // Providers end the stream after an error event.
      if (await session.write(frame(errorEvent))) session.end();
      return false;
    }
    if (drop !== undefined && due(drop)) {
      // Let what was written reach the client first, or the drop could swallow the last events.
      if (await session.flush()) session.destroy();
      return false;
    }
    return true;
  };

  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.keepAlive !== true && !(await gate(false))) return;
    if (i > 0) {
      for (let p = 0; p < pings; p++) if (!(await session.write(frame(keepAlive)))) return;
      if (rule.chunkDelayMs !== undefined && !(await session.sleep(rule.chunkDelayMs))) return;
    }
    if (!(await session.write(frame(event, i === cut)))) return;
    if (event.keepAlive !== true) sent += 1;
  }
  if (!(await gate(true))) return;
  session.end();
}

/** Exact bytes, optionally in pieces of `splitEvery` bytes, each flushed before the next. */
export async function sendRaw(session: Session, raw: EmulatorRawResponse, rule: EmulatorRule): Promise<void> {
  const body = typeof raw.body === 'string' ? Buffer.from(raw.body, 'utf8') : Buffer.from(raw.body.buffer, raw.body.byteOffset, raw.body.byteLength);
  // setHeader (not writeHead) so an unsplit body gets a content-length from `end()` like a real server's.
  session.res.statusCode = raw.status;
  for (const [name, value] of Object.entries(raw.headers)) session.res.setHeader(name, value);

  const split = raw.splitEvery !== undefined && raw.splitEvery > 0 ? raw.splitEvery : 0;
  if (split === 0 && rule.stallAfterHeadersMs === undefined) {
    session.end(body);
    return;
  }
  if (!(await headersThenStall(session, rule))) return;
  if (split === 0) {
    session.end(body);
    return;
  }
  for (let offset = 0; offset < body.length; offset += split) {
    if (offset > 0 && rule.chunkDelayMs !== undefined && !(await session.sleep(rule.chunkDelayMs))) return;
    if (!(await session.writeFlushed(body.subarray(offset, offset + split)))) return;
  }
  session.end();
}
