/**
 * The `redaction` middleware: replaces e-mail addresses, phone numbers, card numbers, API keys and custom patterns
 * in what leaves a call: log lines, span content, cache entries, and (with `redactOutput: true`) the text delivered
 * to the caller. See `docs/features/observability.md#redaction`.
 *
 * Compiled once. `redaction()` turns every pattern into a *stage*: a global copy of the RegExp plus facts read from
 * its source by a small analyzer (`analyzePattern`): the longest match (capped at `maxMatchChars` when unbounded),
 * how far lookarounds and `\b` look past either end of a match, the characters a match can consist of (its
 * alphabet) and the characters it can start with. Text goes through the stages in order, each replacing the
 * previous stage's output, so `redact(text)` is a sequence of whole-text replacements.
 *
 * Streams. With `redactOutput`, chunk deltas go through the same stages *incrementally*. After each delta a stage
 * emits the longest prefix no future text can change, and holds the rest. A match that could still grow must
 * consist of alphabet characters up to the end of what arrived, so a stage holds only the trailing run of its
 * alphabet from the first character a match can start with, never more than its longest match, plus the
 * characters its lookahead still needs. For the built-in e-mail pattern that is the last word ("Hello wor" emits
 * "Hello " and holds "wor"); ordinary text ending in a space or punctuation is not held at all. The held tail is
 * flushed, redacted, before `done` (and before a `tool_call`, which ends a text block). Given the same input, the
 * concatenated stream output equals `redact()` of the whole text, except for matches longer than `maxMatchChars`
 * (see that option).
 */
import { defineMiddleware } from '../src/compose.js';
import { secretsOf, type CallContext } from '../src/context.js';
import { ConfigError, scrubSecrets } from '../src/errors.js';
import { mapStrings } from '../src/map-strings.js';
import type { ChatResult, FiberContext, Middleware, Next, StreamEvent } from '../src/types.js';

declare module '../src/types.js' {
  interface FiberState {
    /** Set by `redaction()` for the rest of the call: the redactor other middleware apply to what they export. */
    redaction?: RedactionState;
  }
}

/** A built-in pattern name. */
export type RedactionPatternName = 'email' | 'phone' | 'card';

/** Options of `redaction()`. */
export interface RedactionOptions {
  /**
   * What to redact besides API keys (always): built-in names and your own regular expressions, applied in this
   * order. Built-ins:
   * - `'email'`: `local@domain.tld` with an ASCII local part of at most 64 characters.
   * - `'phone'`: E.164 (`+14155552671`, `+44 20 7946 0958`, `+1 (415) 555-2671`), North-American
   *   (`(415) 555-2671`, `415-555-2671`, `415.555.2671`, `1-800-555-0199`) and European trunk-prefix formats with
   *   one kind of separator (`020 7946 0958`, `06 12 34 56 78`, `030-1234-5678`); 8–15 digits after a `+`,
   *   9–15 otherwise. Bare digit runs without a `+` (order numbers, timestamps) and dates are left alone.
   * - `'card'`: 13–19 digits, bare or in groups of four (or Amex 4-6-5) separated by one kind of space/dash,
   *   that pass the Luhn check.
   *
   * A RegExp's own flags (`i`, `m`, `s`, `u`, `v`) are kept; `g`, `y` and `d` are ignored. A pattern that can
   * match empty text is a `ConfigError`. Precise patterns cost less on streams: a stage holds back only text its
   * pattern could still match (see `maxMatchChars`).
   * @default ['email', 'phone', 'card']
   */
  patterns?: Array<RegExp | RedactionPatternName>;
  /**
   * Also redact what the caller receives: chat `text`, `message.content`, `reasoning` and `raw` (every string in
   * it), and on streams the `chunk` and `reasoning` deltas (matches split across chunks included), `log` events and
   * the `done` result. Tool-call arguments are never rewritten (they are input to your code, and a changed argument
   * silently changes what a tool does); nor are provider blocks in `message.providerData`, which must travel back
   * verbatim (an Anthropic thinking signature covers its text).
   * @default false
   */
  redactOutput?: boolean;
  /**
   * Text that replaces each match, inserted literally (no `$1` substitution).
   * @default '[redacted]'
   */
  replacement?: string;
  /**
   * Upper bound, in UTF-16 code units, for patterns whose match length is unbounded (`+`, `*`, `{n,}`; the built-in
   * e-mail, whose 254 is the longest address SMTP allows). Streams hold back at most this much text per such
   * pattern; a longer match is still redacted, but may come out as several replacements, and one that only matches
   * when seen whole (a lookbehind more than this far back) may be missed.
   * @default 254
   */
  maxMatchChars?: number;
}

/**
 * What `redaction()` leaves on `ctx.state.redaction` for the rest of the call. Other middleware apply it to what
 * they export: the `logging` middleware to free text in log lines (error messages, metadata, bodies), the OTel
 * content capture to message attributes, and a cache to the entries it stores (`redactValue(entry)`, so that no
 * matched text is written at rest even when `redactOutput` is off). Read it when you export, not when your
 * handler starts: an inner `redaction()` sets it after outer handlers ran.
 */
export interface RedactionState {
  /** `text` with every match replaced (API keys, the Fiber's own keys, and the configured patterns). */
  redact(text: string): string;
  /**
   * A deep copy of a JSON-like value with every string (values and keys) redacted. Arrays and plain objects are
   * copied; other objects are returned as they are; nesting deeper than 32 levels becomes the replacement.
   */
  redactValue<T>(value: T): T;
  /** The replacement text. */
  readonly replacement: string;
  /** True when the text delivered to the caller is already redacted (`redactOutput`). */
  readonly redactsOutput: boolean;
}

// =================================================================================================================
// Pattern analysis

/**
 * A set of UTF-16 code units under construction: ranges as `[lo, hi, lo, hi, ...]`, plus ranges that match
 * case-insensitively (`folded`, expanded at the end), `all` (any code unit) and `astral` (can match a surrogate
 * pair, so it is two code units wide in `u`/`v` mode).
 */
interface CharSet {
  all: boolean;
  astral: boolean;
  ranges: number[];
  folded: number[];
}

/** What a (sub)pattern can match: length bounds in code units, first code units, and whether it can match ''. */
interface Shape {
  min: number;
  max: number;
  first: CharSet;
  nullable: boolean;
}

/** What a stage needs to know about its pattern. Infinite values are capped by the caller. */
export interface PatternFacts {
  minChars: number;
  maxChars: number;
  /** How many code units after a match its lookaheads, `\b` or `$` may inspect. */
  lookaheadChars: number;
  /** How many code units before a match its lookbehinds, `\b` or `^` may inspect. */
  lookbehindChars: number;
  /** Code units a match can consist of, or null for any. */
  alphabet: Uint32Array | null;
  /** Code units a match can start with, or null for any. */
  first: Uint32Array | null;
}

const emptySet = (): CharSet => ({ all: false, astral: false, ranges: [], folded: [] });
const allSet = (): CharSet => ({ all: true, astral: true, ranges: [], folded: [] });

function unionInto(into: CharSet, from: CharSet): void {
  if (from.all) into.all = true;
  if (from.astral) into.astral = true;
  for (const r of from.ranges) into.ranges.push(r);
  for (const r of from.folded) into.folded.push(r);
}

const DIGIT = [0x30, 0x39];
const WORD = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const SPACE = [
  0x09, 0x0d, 0x20, 0x20, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f, 0x205f, 0x205f,
  0x3000, 0x3000, 0xfeff, 0xfeff,
];

/**
 * Reads a RegExp source the way the engine does, keeping only what the streaming redactor needs. It assumes a
 * source the RegExp constructor already accepted; anything it does not understand throws, and the caller falls
 * back to the conservative facts (any character, `maxMatchChars` everywhere).
 */
class PatternAnalyzer {
  private i = 0;
  /** Depth inside lookarounds: characters there are inspected, not consumed. */
  private look = 0;
  private la = 0;
  private lb = 0;
  private fold: boolean;
  private readonly unicode: boolean;
  private readonly sets: boolean;
  private readonly alphabet = emptySet();

  constructor(private readonly src: string, flags: string) {
    this.fold = flags.includes('i');
    this.sets = flags.includes('v');
    this.unicode = this.sets || flags.includes('u');
  }

  run(): PatternFacts {
    const shape = this.alternation();
    if (this.i !== this.src.length) throw new Error(`unbalanced ")" at ${this.i}`);
    return {
      minChars: shape.min,
      maxChars: shape.max,
      lookaheadChars: this.la,
      lookbehindChars: this.lb,
      alphabet: toBits(this.alphabet),
      first: toBits(shape.first),
    };
  }

  private alternation(): Shape {
    const out = this.sequence();
    while (this.src[this.i] === '|') {
      this.i++;
      const next = this.sequence();
      out.min = Math.min(out.min, next.min);
      out.max = Math.max(out.max, next.max);
      out.nullable ||= next.nullable;
      unionInto(out.first, next.first);
    }
    return out;
  }

  private sequence(): Shape {
    const out: Shape = { min: 0, max: 0, first: emptySet(), nullable: true };
    const n = this.src.length;
    while (this.i < n && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      const item = this.quantified();
      if (out.nullable) unionInto(out.first, item.first);
      out.nullable &&= item.nullable;
      out.min += item.min;
      out.max += item.max;
    }
    return out;
  }

  private quantified(): Shape {
    const atom = this.atom();
    const src = this.src;
    let lo: number;
    let hi: number;
    const c = src[this.i];
    if (c === '*') { lo = 0; hi = Infinity; this.i++; }
    else if (c === '+') { lo = 1; hi = Infinity; this.i++; }
    else if (c === '?') { lo = 0; hi = 1; this.i++; }
    else if (c === '{') {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(src.slice(this.i, this.i + 24));
      if (m === null) return atom; // a literal '{' (legacy syntax), read by atom() next time
      lo = Number(m[1]);
      hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length;
    } else {
      return atom;
    }
    if (src[this.i] === '?') this.i++; // lazy: same bounds
    return {
      min: atom.min * lo,
      max: atom.max === 0 ? 0 : atom.max * hi,
      first: atom.first,
      nullable: atom.nullable || lo === 0,
    };
  }

  private atom(): Shape {
    const src = this.src;
    const c = src[this.i]!;
    switch (c) {
      case '(':
        return this.group();
      case '[':
        return this.consume(this.charClass());
      case '.':
        this.i++;
        return this.consume(allSet());
      case '\\':
        return this.escape();
      case '^':
        this.i++;
        this.lb = Math.max(this.lb, 1);
        return zeroWidth();
      case '$':
        this.i++;
        this.la = Math.max(this.la, 1);
        return zeroWidth();
      default: {
        const cp = this.unicode ? src.codePointAt(this.i)! : src.charCodeAt(this.i);
        this.i += cp > 0xffff ? 2 : 1;
        return this.consume(this.single(cp));
      }
    }
  }

  /** A set of one code point (folded under `i`). */
  private single(cp: number): CharSet {
    const set = emptySet();
    addCodePoint(set, cp, this.fold);
    return set;
  }

  /** An atom that consumes one character of `set`. */
  private consume(set: CharSet): Shape {
    if (this.look === 0) unionInto(this.alphabet, set);
    const width = this.unicode && (set.all || set.astral) ? 2 : 1;
    return { min: 1, max: width, first: set, nullable: false };
  }

  private group(): Shape {
    const src = this.src;
    this.i++; // (
    let kind: 'plain' | 'ahead' | 'behind' = 'plain';
    const savedFold = this.fold;
    if (src[this.i] === '?') {
      const next = src[this.i + 1];
      if (next === ':') this.i += 2;
      else if (next === '=' || next === '!') { kind = 'ahead'; this.i += 2; }
      else if (next === '<' && (src[this.i + 2] === '=' || src[this.i + 2] === '!')) { kind = 'behind'; this.i += 3; }
      else if (next === '<') {
        const close = src.indexOf('>', this.i);
        if (close < 0) throw new Error('unterminated group name');
        this.i = close + 1;
      } else {
        // Modifiers (?ims-ims:...) (ES2025): only `i` changes what we compute.
        const m = /^\?([a-z]*)(?:-([a-z]*))?:/.exec(src.slice(this.i, this.i + 12));
        if (m === null) throw new Error(`unknown group syntax at ${this.i}`);
        if (m[1]!.includes('i')) this.fold = true;
        if (m[2]?.includes('i')) this.fold = false;
        this.i += m[0].length;
      }
    }
    if (kind === 'plain') {
      const inner = this.alternation();
      this.close();
      this.fold = savedFold;
      return inner;
    }
    const savedLa = this.la;
    const savedLb = this.lb;
    this.la = 0;
    this.lb = 0;
    this.look++;
    const inner = this.alternation();
    this.look--;
    this.close();
    // A lookahead at some point of the match reads at most its own length (plus what its own lookarounds read)
    // past the match's end; a lookbehind likewise before its start.
    const innerLa = this.la;
    const innerLb = this.lb;
    if (kind === 'ahead') {
      this.la = Math.max(savedLa, inner.max + innerLa);
      this.lb = Math.max(savedLb, innerLb);
    } else {
      this.lb = Math.max(savedLb, inner.max + innerLb);
      this.la = Math.max(savedLa, innerLa);
    }
    return zeroWidth();
  }

  private close(): void {
    if (this.src[this.i] !== ')') throw new Error(`expected ")" at ${this.i}`);
    this.i++;
  }

  /** An escape outside a class. */
  private escape(): Shape {
    const src = this.src;
    this.i++; // backslash
    const c = src[this.i]!;
    if (c === 'b' || c === 'B') {
      this.i++;
      this.la = Math.max(this.la, 1);
      this.lb = Math.max(this.lb, 1);
      return zeroWidth();
    }
    if (c >= '1' && c <= '9') {
      while (src[this.i]! >= '0' && src[this.i]! <= '9') this.i++;
      return this.backreference();
    }
    if (c === 'k' && src[this.i + 1] === '<') {
      const close = src.indexOf('>', this.i);
      if (close < 0) throw new Error('unterminated group reference');
      this.i = close + 1;
      return this.backreference();
    }
    const a = this.escapeAtom(false);
    return this.consume(typeof a === 'number' ? this.single(a) : a);
  }

  /**
   * A backreference repeats text a group matched: unbounded here, and since that group may sit inside a lookahead
   * (the atomic-group idiom), any character may be consumed.
   */
  private backreference(): Shape {
    if (this.look === 0) this.alphabet.all = true;
    return { min: 0, max: Infinity, first: allSet(), nullable: true };
  }

  /**
   * An escape after its backslash, inside or outside a class: the set of a class escape (`\d`, `\w`, `\s`, their
   * negations, `\p{..}`), or the code point of a character escape.
   */
  private escapeAtom(inClass: boolean): number | CharSet {
    const src = this.src;
    const c = src[this.i]!;
    this.i++;
    switch (c) {
      case 'd': return { all: false, astral: false, ranges: [...DIGIT], folded: [] };
      case 'w': {
        const set: CharSet = { all: false, astral: false, ranges: [...WORD], folded: [] };
        // With `i` and `u`, \w also matches U+017F (long s) and U+212A (Kelvin sign).
        if (this.fold && this.unicode) set.ranges.push(0x17f, 0x17f, 0x212a, 0x212a);
        return set;
      }
      case 's': return { all: false, astral: false, ranges: [...SPACE], folded: [] };
      case 'D': case 'W': case 'S': return allSet();
      case 'p': case 'P': {
        if (!this.unicode) return c.charCodeAt(0);
        const close = src.indexOf('}', this.i);
        if (src[this.i] !== '{' || close < 0) throw new Error('bad \\p escape');
        this.i = close + 1;
        return allSet();
      }
      case 't': return 9;
      case 'n': return 10;
      case 'v': return 11;
      case 'f': return 12;
      case 'r': return 13;
      case 'b': if (inClass) return 8; break;
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        // \0, or a legacy octal escape (only valid in classes or without `u`).
        let v = c.charCodeAt(0) - 48;
        for (let k = 0; k < 2; k++) {
          const d = src.charCodeAt(this.i) - 48;
          if (!(d >= 0 && d <= 7) || v * 8 + d > 0o377) break;
          v = v * 8 + d;
          this.i++;
        }
        return v;
      }
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(src.slice(this.i, this.i + 2));
        if (m === null) return 0x78;
        this.i += 2;
        return parseInt(m[0], 16);
      }
      case 'u':
        return this.unicodeEscape() ?? 0x75;
      case 'c': {
        const l = src[this.i];
        if (l !== undefined && (/[A-Za-z]/.test(l) || (inClass && /[0-9_]/.test(l)))) {
          this.i++;
          return l.charCodeAt(0) % 32;
        }
        this.i--; // "\c" without a letter is a backslash; the 'c' is read again as a literal
        return 0x5c;
      }
      default:
        break;
    }
    // Identity escape (\., \/, \-, ...): the character itself.
    this.i--;
    const cp = this.unicode ? src.codePointAt(this.i)! : src.charCodeAt(this.i);
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** After `\u`: `XXXX` (joining an escaped surrogate pair in `u` mode) or `{X...}`; null when neither. */
  private unicodeEscape(): number | null {
    const src = this.src;
    if (this.unicode && src[this.i] === '{') {
      const close = src.indexOf('}', this.i);
      if (close < 0) throw new Error('bad \\u{} escape');
      const cp = parseInt(src.slice(this.i + 1, close), 16);
      this.i = close + 1;
      return cp;
    }
    const m = /^[0-9a-fA-F]{4}/.exec(src.slice(this.i, this.i + 4));
    if (m === null) return null;
    this.i += 4;
    let cp = parseInt(m[0], 16);
    if (this.unicode && cp >= 0xd800 && cp <= 0xdbff) {
      const low = /^\\u(d[c-f][0-9a-f]{2})/i.exec(src.slice(this.i, this.i + 6));
      if (low !== null) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (parseInt(low[1]!, 16) - 0xdc00);
        this.i += 6;
      }
    }
    return cp;
  }

  /** `[...]`: a set of characters (negated classes and `v`-mode set expressions: any character). */
  private charClass(): CharSet {
    const src = this.src;
    this.i++; // [
    if (this.sets) {
      // `v` mode: nested classes, `&&`, `--` and \q{strings}. Read to the matching bracket and assume anything.
      let depth = 1;
      let strings = false;
      while (depth > 0) {
        const c = src[this.i];
        if (c === undefined) throw new Error('unterminated class');
        if (c === '\\') { if (src[this.i + 1] === 'q') strings = true; this.i += 2; continue; }
        if (c === '[') depth++;
        else if (c === ']') depth--;
        this.i++;
      }
      if (strings) throw new Error('\\q{} strings in a class'); // multi-character: use the conservative facts
      return allSet();
    }
    let negated = false;
    if (src[this.i] === '^') { negated = true; this.i++; }
    const set = emptySet();
    while (src[this.i] !== ']') {
      if (this.i >= src.length) throw new Error('unterminated class');
      const a = this.classAtom();
      if (src[this.i] === '-' && src[this.i + 1] !== ']' && this.i + 1 < src.length && typeof a === 'number') {
        const save = this.i;
        this.i++;
        const b = this.classAtom();
        if (typeof b === 'number') {
          addRange(set, a, b, this.fold);
          continue;
        }
        // `[a-\d]` (legacy): a, '-', and the class.
        this.i = save + 1;
        addCodePoint(set, a, this.fold);
        addCodePoint(set, 0x2d, this.fold);
        unionInto(set, b);
        continue;
      }
      if (typeof a === 'number') addCodePoint(set, a, this.fold);
      else unionInto(set, a);
    }
    this.i++; // ]
    return negated ? allSet() : set;
  }

  /** One class member: a code point, or a set for a class escape. */
  private classAtom(): number | CharSet {
    const src = this.src;
    if (src[this.i] === '\\') {
      this.i++;
      return this.escapeAtom(true);
    }
    const cp = this.unicode ? src.codePointAt(this.i)! : src.charCodeAt(this.i);
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

function zeroWidth(): Shape {
  return { min: 0, max: 0, first: emptySet(), nullable: true };
}

function addCodePoint(set: CharSet, cp: number, fold: boolean): void {
  addRange(set, cp, cp, fold);
}

/** Add `lo..hi` (code points); astral parts become "any surrogate" and mark the set two units wide. */
function addRange(set: CharSet, lo: number, hi: number, fold: boolean): void {
  if (hi < lo) throw new Error('range out of order');
  if (hi > 0xffff) {
    set.astral = true;
    set.ranges.push(0xd800, 0xdfff);
    if (lo > 0xffff) return;
    hi = 0xffff;
  }
  (fold ? set.folded : set.ranges).push(lo, hi);
}

/** Case-fold classes of BMP code units (built once, on the first case-insensitive pattern with non-ASCII text). */
let foldTable: { canon: Uint16Array; members: Map<number, number[]> } | null = null;

function foldClasses(): { canon: Uint16Array; members: Map<number, number[]> } {
  if (foldTable !== null) return foldTable;
  const canon = new Uint16Array(0x10000);
  const members = new Map<number, number[]>();
  for (let c = 0; c < 0x10000; c++) {
    const s = String.fromCharCode(c);
    const lower = s.toLowerCase();
    let k = c;
    if (lower.length === 1) {
      const upper = lower.toUpperCase();
      k = upper.length === 1 ? upper.charCodeAt(0) : lower.charCodeAt(0);
    }
    canon[c] = k;
    const list = members.get(k);
    if (list === undefined) members.set(k, [c]);
    else list.push(c);
  }
  foldTable = { canon, members };
  return foldTable;
}

/** Bitset of 65,536 code units, or null for "any". */
function toBits(set: CharSet): Uint32Array | null {
  if (set.all) return null;
  const bits = new Uint32Array(2048);
  const put = (c: number) => { bits[c >>> 5]! |= 1 << (c & 31); };
  const r = set.ranges;
  for (let k = 0; k < r.length; k += 2) for (let c = r[k]!; c <= r[k + 1]!; c++) put(c);
  const f = set.folded;
  for (let k = 0; k < f.length; k += 2) {
    const lo = f[k]!;
    const hi = f[k + 1]!;
    if (hi < 0x80) {
      // ASCII (the usual /acme-\d+/i): the other case, plus the two non-ASCII characters that fold into ASCII
      // under `iu` (U+212A Kelvin sign → k, U+017F long s → s); adding them without `u` only holds a bit more.
      for (let c = lo; c <= hi; c++) {
        put(c);
        const l = c | 0x20;
        if (l >= 0x61 && l <= 0x7a) { put(l); put(l & ~0x20); }
        if (l === 0x6b) put(0x212a);
        if (l === 0x73) put(0x17f);
      }
      continue;
    }
    const { canon, members } = foldClasses();
    for (let c = lo; c <= hi; c++) {
      put(c);
      for (const m of members.get(canon[c]!)!) put(m);
    }
  }
  return bits;
}

function inSet(bits: Uint32Array | null, c: number): boolean {
  return bits === null || (bits[c >>> 5]! & (1 << (c & 31))) !== 0;
}

/**
 * What the streaming redactor needs to know about a pattern, read from its source. Exported for tests.
 * @internal
 */
export function analyzePattern(source: string, flags: string): PatternFacts {
  return new PatternAnalyzer(source, flags).run();
}

// =================================================================================================================
// Stages

/** One compiled pattern. */
interface Stage {
  /** A global copy of the pattern (shared by all calls: used synchronously only). */
  readonly re: RegExp;
  /** Extra test of a match (Luhn, digit count); a failing match is skipped and the scan resumes one unit later. */
  readonly check: ((match: string) => boolean) | null;
  /** Longest match (capped). */
  readonly hold: number;
  readonly la: number;
  readonly lb: number;
  readonly alphabet: Uint32Array | null;
  readonly first: Uint32Array | null;
}

function compileStage(
  source: string, flags: string, check: Stage['check'], cap: number, label: string,
): Stage {
  const re = new RegExp(source, flags.replace(/[gyd]/g, '') + 'g');
  let facts: PatternFacts;
  try {
    facts = analyzePattern(source, flags);
  } catch {
    // Syntax the analyzer does not follow: assume the worst (any character, at most `cap` long, `cap` of context).
    facts = { minChars: 1, maxChars: Infinity, lookaheadChars: Infinity, lookbehindChars: Infinity, alphabet: null, first: null };
  }
  if (facts.minChars === 0) throw new ConfigError(`redaction: pattern ${label} can match empty text`);
  return {
    re,
    check,
    hold: Math.max(1, Math.min(facts.maxChars, cap)),
    la: Math.min(facts.lookaheadChars, cap),
    lb: Math.min(facts.lookbehindChars, cap),
    alphabet: facts.alphabet,
    first: facts.first,
  };
}

/** Whole-text replacement of one stage's matches. Returns `text` itself when nothing matched. */
function replaceAll(stage: Stage, text: string, replacement: string): string {
  const re = stage.re;
  re.lastIndex = 0;
  let m = re.exec(text);
  if (m === null) return text;
  let out = '';
  let pos = 0;
  do {
    const s = m.index;
    const t = s + m[0].length;
    if (t === s || (stage.check !== null && !stage.check(m[0]))) {
      re.lastIndex = s + 1;
      continue;
    }
    out += text.slice(pos, s) + replacement;
    pos = t;
  } while ((m = re.exec(text)) !== null);
  return pos === 0 ? text : out + text.slice(pos);
}

/** Per-call, per-stage state of an incremental redaction (one text stream). */
class StreamText {
  /** Input not yet emitted (raw), per stage. */
  readonly held: string[];
  /** Input already emitted, the last `lb` code units of it: lookbehind context. */
  readonly keep: string[];
  /** The stage committed an over-long match that reached the end of its input: swallow its continuation. */
  readonly cont: boolean[];

  constructor(n: number) {
    this.held = new Array<string>(n).fill('');
    this.keep = new Array<string>(n).fill('');
    this.cont = new Array<boolean>(n).fill(false);
  }

  /** Some stage holds text back. */
  holding(): boolean {
    for (let k = 0; k < this.held.length; k++) if (this.held[k] !== '') return true;
    return false;
  }
}

/**
 * Feed `input` to stage `k` and return what it can emit. `final`: the input ends here (the stream's end, or a
 * text block's), so everything held is decided and emitted.
 */
function step(stage: Stage, st: StreamText, k: number, input: string, final: boolean, replacement: string): string {
  let keep = st.keep[k]!;
  if (st.cont[k]) {
    // The rest of an over-long match (longer than `maxMatchChars`): its alphabet characters are part of it.
    let j = 0;
    const n = input.length;
    while (j < n && inSet(stage.alphabet, input.charCodeAt(j))) j++;
    if (j > 0) keep = tail(keep + input.slice(0, j), stage.lb);
    if (j === n && !final) { st.keep[k] = keep; return ''; }
    st.cont[k] = false;
    input = j === 0 ? input : input.slice(j);
  }
  const held = st.held[k]!;
  const buf = keep.length + held.length === 0 ? input : keep + held + input;
  const start = keep.length;
  const len = buf.length;
  if (len === start) { st.keep[k] = keep; st.held[k] = ''; return ''; }

  // A match still open to future text ends at most `la` before the end (lookahead) or runs into the future; either
  // way it is at most `hold` long, so it starts at or after `force`. Earlier matches are decided.
  let h = len;
  let force = 0;
  if (!final) {
    force = len + 1 - stage.hold - stage.la;
    h = holdStart(stage, buf, Math.max(start, force), len);
  }
  const re = stage.re;
  re.lastIndex = start;
  let out = '';
  let pos = start;
  let end = h;
  let cont = false;
  for (;;) {
    const m = re.exec(buf);
    if (m === null) break;
    const s = m.index;
    if (s >= end) break;
    const t = s + m[0].length;
    if (t === s) { re.lastIndex = s + 1; continue; }
    // Its lookahead needs text that has not arrived: decide it later, unless it is over-long (only with a cap).
    if (!final && t + stage.la > len && s >= force) { end = s; break; }
    if (stage.check !== null && !stage.check(m[0])) { re.lastIndex = s + 1; continue; }
    out += buf.slice(pos, s) + replacement;
    pos = t;
    if (t > end) end = t;
    if (!final && t === len) cont = true;
  }
  if (end > pos) out += buf.slice(pos, end);
  st.held[k] = end >= len ? '' : buf.slice(end);
  st.keep[k] = stage.lb === 0 ? '' : buf.slice(Math.max(0, end - stage.lb), end);
  st.cont[k] = cont;
  return out;
}

/**
 * Where the text a future match could still take begins: the start of the trailing run of alphabet characters
 * (after the last `la - 1` units, which a lookahead may still need), moved forward to the first character a match
 * can start with. Never before `lo`.
 */
function holdStart(stage: Stage, buf: string, lo: number, len: number): number {
  let j = len - Math.max(0, stage.la - 1);
  if (j < lo) j = lo;
  const alphabet = stage.alphabet;
  if (alphabet === null) j = lo;
  else while (j > lo && inSet(alphabet, buf.charCodeAt(j - 1))) j--;
  const first = stage.first;
  if (first === null) return j;
  for (; j < len; j++) if (inSet(first, buf.charCodeAt(j))) return j;
  return len;
}

function tail(s: string, n: number): string {
  return n === 0 ? '' : s.length <= n ? s : s.slice(s.length - n);
}

// =================================================================================================================
// Built-in patterns

/**
 * API-key shapes, always redacted: OpenAI/Anthropic/Groq/xAI/Stripe-style `sk-…`, `sk-ant-…`, `gsk_…`, `xai-…`,
 * Google `AIza…`, `Bearer <token>`, and the value after an `Authorization`/`X-Api-Key`/`api_key` header or
 * assignment. Unbounded: a stream holds at most `maxMatchChars` of a token, and a longer one is redacted to its end
 * (the rest of its characters are swallowed as they arrive).
 */
const KEY_SHAPES = [
  String.raw`(?<![A-Za-z0-9_-])(?:sk|rk|pk|gsk|xai)[-_][A-Za-z0-9_-]{12,}`,
  String.raw`(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,}`,
  String.raw`(?<=\bBearer[ \t]{1,8})[A-Za-z0-9._~+/-]{16,}={0,2}`,
  String.raw`(?<=\b(?:[Aa]uthorization|[Xx]-[Aa]pi-[Kk]ey|[Xx]-[Gg]oog-[Aa]pi-[Kk]ey|[Aa]pi[-_]?[Kk]ey)["']?[ \t]{0,4}[:=][ \t]{0,4}["']?(?:(?:Bearer|bearer|Basic|basic|Token|token)[ \t]{1,4})?)[A-Za-z0-9._~+/-]{8,}={0,2}`,
].join('|');

const EMAIL = String.raw`(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}`;

const PHONE = String.raw`(?<![\w+.-])(?:\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}|0\d{1,4}(?:(?: \d{2,4}){2,4}|(?:-\d{2,4}){2,4}|(?:\.\d{2,4}){2,4}))(?!\w|[.-]\d)`;

const CARD = String.raw`(?<![\w.,-])(?:\d{13,19}|\d{4}(?: \d{4}){2} \d{1,4}(?: \d{1,3})?|\d{4}(?:-\d{4}){2}-\d{1,4}(?:-\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{5})(?!\w|[.,-]\d)`;

function digitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) { const c = s.charCodeAt(i); if (c >= 48 && c <= 57) n++; }
  return n;
}

function phoneCheck(match: string): boolean {
  const n = digitCount(match);
  return match.charCodeAt(0) === 0x2b /* + */ ? n >= 8 && n <= 15 : n >= 9 && n <= 15;
}

/** 13–19 digits passing the Luhn check. */
export function luhnCheck(match: string): boolean {
  let sum = 0;
  let n = 0;
  for (let i = match.length - 1; i >= 0; i--) {
    const c = match.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    let d = c;
    if (n % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    n++;
  }
  return n >= 13 && n <= 19 && sum % 10 === 0;
}

const BUILT_INS: Record<RedactionPatternName, { source: string; check: Stage['check'] }> = {
  email: { source: EMAIL, check: null },
  phone: { source: PHONE, check: phoneCheck },
  card: { source: CARD, check: luhnCheck },
};

const DEFAULT_MAX_MATCH_CHARS = 254;
const DEFAULT_REPLACEMENT = '[redacted]';

let keyStage: Stage | null = null;

/** The API-key stage with the default cap, compiled once per process and shared by every `redaction()`. */
function keyShapes(): Stage {
  return (keyStage ??= compileStage(KEY_SHAPES, '', null, DEFAULT_MAX_MATCH_CHARS, 'api-keys'));
}

let defaults: Redactor | null = null;

/**
 * `text` through the default redactor (`redaction()`'s defaults: API-key shapes, e-mail, phone, card). What
 * `logging` applies to free text when no `redaction()` is installed on the call.
 * @internal
 */
export function redactDefaults(text: string): string {
  if (defaults === null) {
    const { stages, replacement } = compileOptions({});
    defaults = new Redactor(stages, replacement, false);
  }
  return defaults.redact(text);
}

/** A literal-strings stage for the Fiber's own keys (longest first, so a key containing another wins). */
function secretsStage(secrets: readonly string[], cap: number): Stage | null {
  const list = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= 8))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return null;
  const source = list.map((s) => s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')).join('|');
  return compileStage(source, '', null, Math.max(cap, list[0]!.length), 'fiber-keys');
}

// =================================================================================================================
// Redactor

/** A compiled list of stages: whole-text and incremental redaction. Shared by every call of one `redaction()`. */
class Redactor implements RedactionState {
  constructor(
    readonly stages: readonly Stage[],
    readonly replacement: string,
    readonly redactsOutput: boolean,
  ) {}

  redact(text: string): string {
    if (typeof text !== 'string' || text.length === 0) return text;
    const stages = this.stages;
    for (let k = 0; k < stages.length; k++) text = replaceAll(stages[k]!, text, this.replacement);
    return text;
  }

  redactValue<T>(value: T): T {
    return mapStrings(value, (s) => this.redact(s), { maxDepth: 32, tooDeep: () => this.replacement, other: (o) => o }) as T;
  }

  /** Feed a delta through every stage. */
  push(st: StreamText, delta: string): string {
    const stages = this.stages;
    let x = delta;
    for (let k = 0; k < stages.length; k++) x = step(stages[k]!, st, k, x, false, this.replacement);
    return x;
  }

  /** Emit everything held: the text (or block) ended. */
  flush(st: StreamText): string {
    const stages = this.stages;
    let x = '';
    for (let k = 0; k < stages.length; k++) x = step(stages[k]!, st, k, x, true, this.replacement);
    return x;
  }
}

/** Deep-copy JSON-like data applying `fn` to every string (and key), dropping prototype-polluting keys. */

/**
 * The state one call of one `redaction()` leaves on `ctx.state.redaction`. It chains to the state an outer
 * `redaction()` left, so logs see both; streams with `redactOutput` keep their held text here.
 */
class CallRedaction implements RedactionState {
  text: StreamText | null = null;
  reasoning: StreamText | null = null;
  /** `usage` events that arrived while text was held: delivered after that text. */
  pending: StreamEvent[] | null = null;

  constructor(
    readonly owner: Redactor,
    readonly redactor: Redactor,
    readonly previous: RedactionState | null,
  ) {}

  get replacement(): string {
    return this.redactor.replacement;
  }

  get redactsOutput(): boolean {
    return this.redactor.redactsOutput || (this.previous?.redactsOutput ?? false);
  }

  redact(text: string): string {
    const r = this.redactor.redact(text);
    return this.previous === null ? r : this.previous.redact(r);
  }

  redactValue<T>(value: T): T {
    const r = this.redactor.redactValue(value);
    return this.previous === null ? r : this.previous.redactValue(r);
  }
}

/** Runtime with the Fiber's keys, once the core exposes them (`ctx.runtime.secrets`). */
/**
 * The text filter for what a call writes outside the stream (log lines, span attributes): the call's
 * `redaction()` when one is installed, else the default redactor (API-key shapes, email, phone, card numbers), then
 * the Fiber's own keys, then `extra`.
 */
export function callScrubber(ctx: FiberContext, extra?: (text: string) => string): (text: string) => string {
  const state = ctx.state.redaction as RedactionState | undefined;
  const secrets = secretsOf(ctx);
  return (text) => {
    let s = state !== undefined ? state.redact(text) : redactDefaults(text);
    if (secrets !== undefined) s = scrubSecrets(s, secrets);
    return extra !== undefined ? extra(s) : s;
  };
}

const OPTION_KEYS = new Set(['patterns', 'redactOutput', 'replacement', 'maxMatchChars']);

interface CompiledOptions {
  stages: Stage[];
  replacement: string;
  redactOutput: boolean;
  maxMatchChars: number;
}

/** Validate `redaction()` options and compile the stages (API keys first, then `patterns` in order). */
function compileOptions(options: RedactionOptions): CompiledOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError('redaction: options must be an object');
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw new ConfigError(`redaction: unknown option "${k}"`);
  const { redactOutput = false, replacement = DEFAULT_REPLACEMENT, maxMatchChars = DEFAULT_MAX_MATCH_CHARS } = options;
  if (typeof redactOutput !== 'boolean') throw new ConfigError('redaction: redactOutput must be a boolean');
  if (typeof replacement !== 'string') throw new ConfigError('redaction: replacement must be a string');
  if (typeof maxMatchChars !== 'number' || !Number.isInteger(maxMatchChars) || maxMatchChars < 16 || maxMatchChars > 65_536) {
    throw new ConfigError('redaction: maxMatchChars must be an integer from 16 to 65536');
  }
  const patterns = options.patterns ?? ['email', 'phone', 'card'];
  if (!Array.isArray(patterns)) throw new ConfigError("redaction: patterns must be an array of RegExps and 'email' | 'phone' | 'card'");
  const stages: Stage[] = [maxMatchChars === DEFAULT_MAX_MATCH_CHARS ? keyShapes() : compileStage(KEY_SHAPES, '', null, maxMatchChars, 'api-keys')];
  patterns.forEach((p, i) => {
    if (typeof p === 'string') {
      if (!Object.prototype.hasOwnProperty.call(BUILT_INS, p)) {
        throw new ConfigError(`redaction: unknown pattern "${p}" (built-ins: email, phone, card)`);
      }
      const b = BUILT_INS[p as RedactionPatternName];
      stages.push(compileStage(b.source, '', b.check, maxMatchChars, p));
    } else if (Object.prototype.toString.call(p) === '[object RegExp]') {
      const re = p as RegExp;
      stages.push(compileStage(re.source, re.flags, null, maxMatchChars, `${i} (${String(re)})`));
    } else {
      throw new ConfigError(`redaction: patterns[${i}] must be a RegExp or 'email' | 'phone' | 'card'`);
    }
  });
  return { stages, replacement, redactOutput, maxMatchChars };
}

/** An incremental redactor for one text stream: `push` each delta, `flush` at the end. @internal */
export interface StreamRedactor {
  push(delta: string): string;
  flush(): string;
}

/**
 * The redactor `redaction(options)` builds, outside any call: `redact`, `redactValue`, and `stream()` for an
 * incremental one. For tests and integrations that redact outside a call; inside one, use `ctx.state.redaction`.
 * @internal
 */
export function createRedactor(options: RedactionOptions = {}, secrets: readonly string[] = []): RedactionState & { stream(): StreamRedactor } {
  const { stages, replacement, redactOutput, maxMatchChars } = compileOptions(options);
  const s = secretsStage(secrets, maxMatchChars);
  const r = new Redactor(s === null ? stages : [s, ...stages], replacement, redactOutput);
  return {
    replacement,
    redactsOutput: redactOutput,
    redact: (text) => r.redact(text),
    redactValue: (value) => r.redactValue(value),
    stream() {
      const st = new StreamText(r.stages.length);
      return { push: (delta) => r.push(st, delta), flush: () => r.flush(st) };
    },
  };
}

/**
 * Redact personal data and credentials from everything a call exports: e-mail addresses, phone numbers and card
 * numbers by default, your own patterns, and always API keys (key shapes and the Fiber's own keys). Leaves a
 * redactor on `ctx.state.redaction` that `logging()`, `otel({ captureContent })` and caches apply; with
 * `redactOutput: true` it also rewrites what the caller receives, including matches split across stream chunks
 * (it holds back only text that a match could still take, and flushes it before `done`).
 *
 * Order does not matter for logs (they read `ctx.state.redaction` when they write), but it does for stream hooks,
 * which run innermost first: add `redaction()` after (inside) the middleware that should see redacted output,
 * as in `fiber.use(logging(...), redaction(...))` or any `fiber.use(redaction())` under the preset stack.
 * See `docs/features/observability.md#redaction`.
 * @example
 * fiber.use(redaction({ patterns: ['email', 'card', /\bACME-\d{6}\b/], redactOutput: true }));
 * const s = fiber.chatStream({ messages: 'What is my e-mail?' });
 * for await (const e of s) if (e.type === 'chunk') process.stdout.write(e.delta); // "... [redacted] ..."
 */
export function redaction(options: RedactionOptions = {}): Middleware {
  const { stages, replacement, redactOutput, maxMatchChars } = compileOptions(options);
  const base = new Redactor(stages, replacement, redactOutput);
  // The Fiber's keys are per Fiber: one redactor per runtime, built on its first call.
  const perRuntime = new WeakMap<object, Redactor>();
  const redactorFor = (ctx: FiberContext): Redactor => {
    const secrets = secretsOf(ctx);
    if (secrets === undefined) return base;
    const runtime = (ctx as CallContext).runtime as object;
    let r = perRuntime.get(runtime);
    if (r === undefined) {
      const s = secretsStage(secrets, maxMatchChars);
      r = s === null ? base : new Redactor([s, ...stages], replacement, redactOutput);
      perRuntime.set(runtime, r);
    }
    return r;
  };

  const handle = (ctx: FiberContext, next: Next): Promise<void> => {
    const redactor = redactorFor(ctx);
    const previous = ctx.state.redaction ?? null;
    const needsState = previous !== null || (redactOutput && ctx.kind === 'stream');
    ctx.state.redaction = needsState ? new CallRedaction(base, redactor, previous) : redactor;
    if (!redactOutput || ctx.kind === 'stream') return next();
    return next().then(() => {
      if (ctx.result !== undefined) ctx.result = redactResult(ctx.result, redactor, null);
    });
  };

  if (!redactOutput) return defineMiddleware({ name: 'redaction', handle });

  /** This middleware's per-call state (an inner `redaction()` may have chained another in front of it). */
  const stateOf = (ctx: FiberContext): CallRedaction | null => {
    let s: RedactionState | null | undefined = ctx.state.redaction;
    while (s instanceof CallRedaction) {
      if (s.owner === base) return s;
      s = s.previous;
    }
    return null;
  };

  return defineMiddleware({
    name: 'redaction',
    handle,
    onEvent(event, ctx) {
      switch (event.type) {
        case 'chunk': {
          const st = stateOf(ctx);
          if (st === null) return undefined;
          const out = st.redactor.push(st.text ??= new StreamText(st.redactor.stages.length), event.delta);
          if (st.pending !== null && out !== '') return release(st, { type: 'chunk', delta: out, t: event.t });
          if (out === event.delta) return undefined;
          return out === '' ? null : { type: 'chunk', delta: out, t: event.t };
        }
        case 'reasoning': {
          const st = stateOf(ctx);
          if (st === null) return undefined;
          const out = st.redactor.push(st.reasoning ??= new StreamText(st.redactor.stages.length), event.delta);
          if (st.pending !== null && out !== '') return release(st, { type: 'reasoning', delta: out, t: event.t });
          if (out === event.delta) return undefined;
          return out === '' ? null : { type: 'reasoning', delta: out, t: event.t };
        }
        case 'usage': {
          // Adapters report usage at the end, but some OpenAI-compatible servers put it on every chunk: hold it
          // behind held text rather than flush there (which could split a match), so the order stays text, usage.
          const st = stateOf(ctx);
          if (st === null) return undefined;
          if (st.pending === null && !(st.text?.holding() ?? false) && !(st.reasoning?.holding() ?? false)) return undefined;
          (st.pending ??= []).push(event);
          return null;
        }
        case 'tool_call': {
          // A tool call ends the text block before it: deliver that text first, in order.
          const st = stateOf(ctx);
          if (st === null) return undefined;
          const held = flushAll(st, event.t);
          return held === null ? undefined : [...held, event];
        }
        case 'log': {
          const st = stateOf(ctx);
          if (st === null) return undefined;
          const message = st.redactor.redact(event.message);
          const data = event.data === undefined ? undefined : st.redactor.redactValue(event.data);
          return { type: 'log', level: event.level, message, ...(data === undefined ? {} : { data }), t: event.t };
        }
        case 'done': {
          const st = stateOf(ctx);
          if (st === null) return undefined;
          const held = flushAll(st, event.t);
          let tailText = '';
          if (held !== null) for (const e of held) if (e.type === 'chunk') tailText += e.delta;
          const done: StreamEvent = { type: 'done', result: redactResult(event.result, st.redactor, tailText), t: event.t };
          return held === null ? done : [...held, done];
        }
        default:
          return undefined;
      }
    },
  });
}

/** Flush held reasoning, text and usage events (in that order), or null when nothing was held. */
function flushAll(st: CallRedaction, t: number): StreamEvent[] | null {
  let out: StreamEvent[] | null = null;
  if (st.reasoning !== null) {
    const r = st.redactor.flush(st.reasoning);
    if (r !== '') (out ??= []).push({ type: 'reasoning', delta: r, t });
  }
  if (st.text !== null) {
    const x = st.redactor.flush(st.text);
    if (x !== '') (out ??= []).push({ type: 'chunk', delta: x, t });
  }
  if (st.pending !== null) {
    (out ??= []).push(...st.pending);
    st.pending = null;
  }
  return out;
}

/** Deliver `event` (text that was held when a `usage` event came) and then the held usage events. */
function release(st: CallRedaction, event: StreamEvent): StreamEvent[] {
  const out = [event, ...st.pending!];
  st.pending = null;
  return out;
}

/**
 * A redacted copy of a result. Chat (`streamTail === null`): the text is redacted whole. Streams: `result.text`
 * already is the redacted text delivered so far, and `streamTail` the redacted tail flushed with `done`, so outer
 * hooks see the final text (the core sets `result.text` to what was delivered anyway). Tool calls and
 * `message.providerData` are left as they are (see `RedactionOptions.redactOutput`).
 */
function redactResult(result: ChatResult, redactor: Redactor, streamTail: string | null): ChatResult {
  const text = streamTail === null ? redactor.redact(result.text) : result.text + streamTail;
  const message = { ...result.message };
  const content = message.content;
  if (typeof content === 'string') {
    message.content = streamTail !== null || content === result.text ? text : redactor.redact(content);
  } else if (Array.isArray(content)) {
    message.content = content.map((p) => (p.type === 'text' ? { ...p, text: redactor.redact(p.text) } : p));
  }
  return {
    ...result,
    text,
    message,
    reasoning: result.reasoning === null ? null : redactor.redact(result.reasoning),
    raw: redactor.redactValue(result.raw),
  };
}
