import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../../src/parse-retry-after.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');

function headers(h: Record<string, string>): (name: string) => string | undefined {
  return (name) => h[name];
}

describe('parseRetryAfter', () => {
  it('returns undefined without either header', () => {
    expect(parseRetryAfter(headers({}), NOW)).toBeUndefined();
  });

  it('reads retry-after-ms as milliseconds, fractions kept', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250' }), NOW)).toBe(250);
    expect(parseRetryAfter(headers({ 'retry-after-ms': '12.5' }), NOW)).toBe(12.5);
  });

  it('prefers retry-after-ms over retry-after', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '100', 'retry-after': '5' }), NOW)).toBe(100);
  });

  it('falls back to retry-after when retry-after-ms is garbage', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': 'soon', 'retry-after': '3' }), NOW)).toBe(3000);
  });

  it('reads retry-after seconds, fractional allowed', () => {
    expect(parseRetryAfter(headers({ 'retry-after': '2' }), NOW)).toBe(2000);
    expect(parseRetryAfter(headers({ 'retry-after': '0' }), NOW)).toBe(0);
    expect(parseRetryAfter(headers({ 'retry-after': '1.5' }), NOW)).toBe(1500);
    expect(parseRetryAfter(headers({ 'retry-after': '34.4' }), NOW)).toBe(34400);
    expect(parseRetryAfter(headers({ 'retry-after': ' 7 ' }), NOW)).toBe(7000);
  });

  it('reads an IMF-fixdate HTTP-date as the delay from now', () => {
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }), NOW)).toBe(30_000);
  });

  it('reads the obsolete RFC 850 and asctime date forms (asctime as GMT)', () => {
    expect(parseRetryAfter(headers({ 'retry-after': 'Wednesday, 01-Jan-25 00:00:10 GMT' }), NOW)).toBe(10_000);
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed Jan  1 00:00:05 2025' }), NOW)).toBe(5_000);
  });

  it('clamps a date in the past to 0', () => {
    expect(parseRetryAfter(headers({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), NOW)).toBe(0);
  });

  it.each(['', 'soon', '-1', '2s', '1e3', '0x10', 'NaN', 'Infinity', 'Wed, 99 Foo 2025 00:00:00 GMT', '2025-01-01T00:00:30Z'])(
    'returns undefined for garbage %j',
    (value) => {
      expect(parseRetryAfter(headers({ 'retry-after': value }), NOW)).toBeUndefined();
      expect(parseRetryAfter(headers({ 'retry-after-ms': value }), NOW)).toBeUndefined();
    },
  );

  it('defaults now to Date.now()', () => {
    const at = new Date(Date.now() + 60_000).toUTCString();
    const ms = parseRetryAfter(headers({ 'retry-after': at }))!;
    expect(ms).toBeGreaterThan(55_000);
    expect(ms).toBeLessThanOrEqual(60_000);
  });
});
