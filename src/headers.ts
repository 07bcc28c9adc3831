/**
 * Header validation shared by the Fiber options, adapter options and per-call `headers`. Everything is checked
 * before any I/O so a bad header is a `ConfigError`, never a half-sent request. See CONTRACT.md, Security.
 *
 * Error messages name the header but never quote its value: header values are where API keys live.
 */
import { ConfigError } from './errors.js';

/** RFC 7230 §3.2.6 `token`: the characters a header field name may use. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * RFC 7230 §3.2 field-value limited to ASCII: visible characters, space and horizontal tab. The RFC also allows
 * obs-text (0x80-0xFF), but the contract makes non-ASCII a `ConfigError`: undici and proxies disagree on its
 * encoding, and a non-ASCII value is almost always a pasted key with a smart quote.
 */
const VALUE = /^[\t\x20-\x7e]*$/;
const CR_LF_NUL = /[\r\n\0]/;

/** Names that would reach `Object.prototype` when copied into a plain object. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Quote a user-supplied header name for an error message, bounded and with control characters escaped. */
function quoteName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Check a headers object and return a copy with lower-cased names.
 *
 * Names must be RFC 7230 tokens (ASCII, no spaces or separators); values must be strings of visible ASCII
 * characters, spaces and tabs (no CR, LF, NUL or non-ASCII). `__proto__`, `constructor` and `prototype` are
 * refused as names, as are two names that differ only in case. `undefined` is treated as no headers.
 *
 * @param h the caller's headers (never mutated)
 * @param where what the headers belong to, used as the error prefix (e.g. `"chat headers"`, `"openai() headers"`)
 * @returns a new object; its names are lower-case
 * @throws ConfigError naming the header (never quoting its value)
 * @example
 * validateHeaders({ 'X-Team': 'search' }, 'headers') // { 'x-team': 'search' }
 * validateHeaders({ 'X-Bad': 'a\r\nb' }, 'headers')  // ConfigError: headers: header "X-Bad" value contains CR, LF or NUL
 */
export function validateHeaders(h: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  if (!isPlainObject(h)) {
    throw new ConfigError(`${where}: expected a plain object of header names to string values`);
  }
  for (const name of Object.keys(h)) {
    if (!TOKEN.test(name)) {
      throw new ConfigError(
        `${where}: header name ${quoteName(name)} is not a valid HTTP token (ASCII letters, digits and !#$%&'*+-.^_\`|~ only; no spaces)`,
      );
    }
    const lower = name.toLowerCase();
    if (FORBIDDEN_NAMES.has(lower)) {
      throw new ConfigError(`${where}: header name ${quoteName(name)} is not allowed`);
    }
    const value = h[name];
    if (typeof value !== 'string') {
      throw new ConfigError(`${where}: header ${quoteName(name)} must be a string (got ${value === null ? 'null' : typeof value})`);
    }
    if (!VALUE.test(value)) {
      // Say which rule broke, never what the value was.
      const what = CR_LF_NUL.test(value) ? 'contains CR, LF or NUL' : 'contains non-ASCII or control characters';
      throw new ConfigError(`${where}: header ${quoteName(name)} value ${what}`);
    }
    if (Object.prototype.hasOwnProperty.call(out, lower)) {
      throw new ConfigError(`${where}: header ${quoteName(name)} is given twice (names are case-insensitive)`);
    }
    out[lower] = value;
  }
  return out;
}
