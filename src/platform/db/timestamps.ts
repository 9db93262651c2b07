/**
 * A fast path for PostgreSQL `timestamptz` text: `YYYY-MM-DD HH:MM:SS[.ffffff]±HH[:MM[:SS]]`, the
 * only shape PostgreSQL sends for years 1000-9999 under the default ISO DateStyle. A list page
 * carries 150 of them, and pg's default parser (postgres-date: four regular expressions and a
 * float per value) was about 5% of the app's CPU on `GET /v1/incidents`. Anything else
 * (`infinity`, BC dates, five-digit years, another DateStyle) goes to `fallback`.
 *
 * Fractions are truncated to the millisecond, as a `Date` holds them; exactly, where the default
 * parser's `1000 * parseFloat(fraction)` can land a millisecond low.
 */
export function parseTimestamptz(text: string, fallback: (text: string) => Date | number | null): Date | number | null {
  const n = text.length;
  if (n < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return fallback(text);
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 1000 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return fallback(text);

  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === 46) {
    const start = ++i;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
    const places = i - start;
    if (places === 0) return fallback(text);
    // Milliseconds are the first three digits (".5" is 500 ms); the rest is truncated.
    ms = digits(text, start, Math.min(3, places)) * (places >= 3 ? 1 : places === 2 ? 10 : 100);
  }

  const sign = text.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return fallback(text);
  // ±HH, then ":MM" and ":SS" when they are not zero (PostgreSQL sends "+00", "+05:30", "-03:00:45").
  let offsetSeconds = 0;
  for (const unitSeconds of OFFSET_UNITS) {
    if (i === n) break;
    if (unitSeconds !== 3600 && text.charCodeAt(i) !== 58) return fallback(text);
    const value = digits(text, i + 1, 2);
    if (value < 0) return fallback(text);
    offsetSeconds += value * unitSeconds;
    i += 3;
  }
  if (i !== n) return fallback(text);

  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  return new Date(sign === 43 ? utc - offsetSeconds * 1000 : utc + offsetSeconds * 1000);
}

/** Seconds in an offset's hours, minutes and seconds fields. */
const OFFSET_UNITS = [3600, 60, 1] as const;

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The `count` decimal digits at `start` as a number, or -1 if any is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) return -1;
    value = value * 10 + code - 48;
  }
  return value;
}
