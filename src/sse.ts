/**
 * A Server-Sent Events parser (WHATWG "event stream interpretation") for raw socket chunks.
 *
 * Framing is found on bytes: a chunk is decoded only up to its last line break, so a multi-byte UTF-8 sequence
 * split across socket chunks is never decoded in halves (0x0A/0x0D never occur inside a UTF-8 sequence), and the
 * bytes after it wait for the next chunk. That complete-lines region is decoded once, as one string, and lines and
 * fields are found on it with `indexOf` and sliced (V8 slices share the decoded string: no copy per event). Lines
 * end in LF, CRLF or a lone CR, also when the CR and LF arrive in different chunks. Comment lines (`: keep-alive`)
 * are counted and skipped. `id:` and `retry:` are ignored: LLM providers do not use reconnection.
 */

const LF = 0x0a;
const CR = 0x0d;
const C_LF = 10;
const C_CR = 13;
const C_COLON = 58;
const C_SPACE = 32;
const C_D = 100; // 'd'
const C_E = 101; // 'e'

export type SseHandler = (data: string, event: string | undefined) => void;

export class SseParser {
  /** Bytes after the last line break seen: the start of a line still arriving. */
  private rest: Buffer | null = null;
  /**
   * Further chunks of that same line, joined once when a line break arrives, so a hostile endpoint sending one
   * huge line costs linear, not quadratic, copying.
   */
  private pending: Buffer[] | null = null;
  private data = '';
  private hasData = false;
  private eventName: string | undefined = undefined;
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to it. */
  private skipLF = false;
  private started = false;
  /** Number of comment lines seen (diagnostics and tests). */
  comments = 0;

  constructor(private readonly onEvent: SseHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      if (chunk.indexOf(LF) === -1 && chunk.indexOf(CR) === -1) {
        // Still inside the same line: keep the piece, copy nothing yet.
        (this.pending ??= []).push(chunk);
        return;
      }
      const parts = this.pending === null ? [this.rest, chunk] : [this.rest, ...this.pending, chunk];
      this.pending = null;
      this.rest = null;
      buf = Buffer.concat(parts);
    }
    const len = buf.length;
    let pos = 0;
    if (!this.started) {
      if (len < 3 && buf[0] === 0xef) { this.rest = buf; return; }
      this.started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3; // BOM
    }
    if (this.skipLF) {
      this.skipLF = false;
      if (pos < len && buf[pos] === LF) pos++;
    }
    // The last line break of the chunk: everything before it is complete lines.
    const lastLF = buf.lastIndexOf(LF);
    const lastCR = buf.lastIndexOf(CR);
    const last = lastLF > lastCR ? lastLF : lastCR;
    if (last < pos) {
      if (pos < len) this.rest = pos === 0 ? buf : buf.subarray(pos);
      return;
    }
    if (last + 1 < len) this.rest = buf.subarray(last + 1);
    // A CR as the very last byte may be the first half of a CRLF split across chunks.
    if (last === lastCR) this.skipLF = true;
    this.lines(buf.toString('utf8', pos, last + 1));
  }

  /**
   * The body ended. A last event whose lines are complete but lack the blank line is dispatched (servers that
   * close right after `data: [DONE]\n` exist); a half-written line is dropped. Returns true if bytes were dropped.
   */
  end(): boolean {
    const dropped = (this.rest !== null && this.rest.length > 0) || this.pending !== null;
    this.rest = null;
    this.pending = null;
    if (this.hasData) this.dispatch();
    return dropped;
  }

  /** Process `text`, which holds whole lines only (it ends with a line break). */
  private lines(text: string): void {
    const len = text.length;
    let pos = 0;
    // Next CR at or after pos (-1: none left), kept across lines so LF-only text pays one scan for it.
    let nextCR = text.indexOf('\r');
    while (pos < len) {
      let end = text.indexOf('\n', pos);
      let next: number;
      if (nextCR !== -1 && (end === -1 || nextCR < end)) {
        end = nextCR;
        next = text.charCodeAt(nextCR + 1) === C_LF ? nextCR + 2 : nextCR + 1;
        nextCR = text.indexOf('\r', next);
      } else {
        // `text` ends with a line break, so a LF is always found here
        next = end + 1;
      }
      this.line(text, pos, end);
      pos = next;
    }
  }

  private line(text: string, s: number, e: number): void {
    if (e === s) {
      if (this.hasData) this.dispatch();
      else this.eventName = undefined;
      return;
    }
    const c0 = text.charCodeAt(s);
    if (c0 === C_COLON) {
      this.comments++;
      return;
    }
    if (c0 === C_D && text.startsWith('data', s)) {
      const c4 = s + 4 < e ? text.charCodeAt(s + 4) : -1;
      if (c4 === C_COLON || s + 4 === e) {
        let v = s + 5;
        if (v < e && text.charCodeAt(v) === C_SPACE) v++;
        const value = s + 4 === e ? '' : text.slice(v, e);
        if (this.hasData) this.data += '\n' + value;
        else { this.data = value; this.hasData = true; }
        return;
      }
    }
    if (c0 === C_E && e - s >= 6 && text.charCodeAt(s + 5) === C_COLON && text.startsWith('event', s)) {
      let v = s + 6;
      if (v < e && text.charCodeAt(v) === C_SPACE) v++;
      this.eventName = text.slice(v, e);
    }
    // id:, retry: and unknown fields are ignored.
  }

  private dispatch(): void {
    const data = this.data;
    const name = this.eventName;
    this.data = '';
    this.hasData = false;
    this.eventName = undefined;
    this.onEvent(data, name);
  }
}
