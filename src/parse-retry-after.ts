/**
 * How long a server asked us to wait before retrying, from its response headers. Provider-neutral: OpenAI,
 * Anthropic and Gemini adapters all read it (Gemini's body-level `RetryInfo` is the Gemini adapter's business).
 */

/** A non-negative decimal: `2`, `1.5`, `.5`, `2.`. No sign, exponent, hex or trailing garbage. */
const DECIMAL = /^\s*(?:\d+(?:\.\d*)?|\.\d+)\s*$/;
/** HTTP-date forms (RFC 9110 §5.6.7) all start with a day name: IMF-fixdate, RFC 850 and asctime. */
const HTTP_DATE = /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s/i;
/** asctime carries no zone but is GMT by definition; `Date.parse` would read it as local time. */
const HAS_ZONE = /(?:GMT|UTC|UT|Z|[+-]\d{4})\s*$/i;

/**
 * The server's requested wait in milliseconds, or `undefined` when it gave none (or gave garbage).
 *
 * Order, as the official OpenAI/Anthropic SDKs read it: `retry-after-ms` (milliseconds, fractional allowed), then
 * `retry-after` as seconds (fractional allowed) or as an HTTP-date (the delta from `nowMs`, never negative).
 *
 * @param header - response header lookup by lower-case name
 * @param nowMs - the current time, for the HTTP-date form
 * @default nowMs Date.now()
 * @example
 * parseRetryAfter((name) => res.headers[name]) // 'retry-after: 2' → 2000
 */
export function parseRetryAfter(header: (name: string) => string | undefined, nowMs: number = Date.now()): number | undefined {
  const ms = header('retry-after-ms');
  if (ms !== undefined && DECIMAL.test(ms)) return Number(ms);

  const value = header('retry-after');
  if (value === undefined) return undefined;
  if (DECIMAL.test(value)) return Math.round(Number(value) * 1000);
  if (HTTP_DATE.test(value)) {
    const trimmed = value.trim();
    const at = Date.parse(HAS_ZONE.test(trimmed) ? trimmed : trimmed + ' GMT');
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  return undefined;
}
