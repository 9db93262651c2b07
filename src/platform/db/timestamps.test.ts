import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from './timestamps.js';

const pgDefault = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date | number | null;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** What PostgreSQL prints for a timestamptz under DateStyle ISO, from its parts. */
interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Zero to six fraction digits, as PostgreSQL prints them (trailing zeros dropped). */
  fraction: string;
  offsetSign: 1 | -1;
  offsetHours: number;
  offsetMinutes: number;
  offsetSeconds: number;
}

function render(p: Parts): string {
  let offset = `${p.offsetSign > 0 ? '+' : '-'}${pad(p.offsetHours)}`;
  if (p.offsetMinutes || p.offsetSeconds) offset += `:${pad(p.offsetMinutes)}`;
  if (p.offsetSeconds) offset += `:${pad(p.offsetSeconds)}`;
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${p.fraction ? `.${p.fraction}` : ''}${offset}`;
}

/** The instant, computed independently: whole milliseconds, the fraction truncated. */
function expectedMs(p: Parts): number {
  const ms = Number((p.fraction + '000').slice(0, 3));
  const local = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second, ms);
  return local - p.offsetSign * (p.offsetHours * 3600 + p.offsetMinutes * 60 + p.offsetSeconds) * 1000;
}

const parts: fc.Arbitrary<Parts> = fc.record({
  year: fc.integer({ min: 1000, max: 9999 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 28 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
  fraction: fc
    .tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 999_999 }))
    .map(([len, value]) => String(value).padStart(6, '0').slice(0, len).replace(/0+$/, '')),
  offsetSign: fc.constantFrom(1 as const, -1 as const),
  offsetHours: fc.integer({ min: 0, max: 15 }),
  offsetMinutes: fc.constantFrom(0, 0, 30, 45, 17),
  offsetSeconds: fc.constantFrom(0, 0, 0, 45),
});

describe('parseTimestamptz', () => {
  it('reads every ISO timestamptz PostgreSQL prints to the exact millisecond', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const parsed = parseTimestamptz(render(p), () => {
          throw new Error(`fell back for ${render(p)}`);
        });
        expect(parsed).toBeInstanceOf(Date);
        expect((parsed as Date).getTime()).toBe(expectedMs(p));
      }),
      { seed: 20261127, numRuns: 2000 },
    );
  });

  it('agrees with pg’s default parser to within the millisecond that parser can lose to floating point', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const text = render(p);
        const ours = parseTimestamptz(text, pgDefault) as Date;
        const theirs = pgDefault(text) as Date;
        expect(Math.abs(ours.getTime() - theirs.getTime())).toBeLessThanOrEqual(1);
      }),
      { seed: 7, numRuns: 2000 },
    );
    expect((parseTimestamptz('2026-11-27 09:19:29.970123+00', pgDefault) as Date).toISOString()).toBe('2026-11-27T09:19:29.970Z');
    expect((parseTimestamptz('2026-03-01 00:00:00-05:30', pgDefault) as Date).toISOString()).toBe('2026-03-01T05:30:00.000Z');
  });

  it('hands every other shape to the fallback: infinity, BC, five-digit years, other DateStyles', () => {
    for (const text of ['infinity', '-infinity', '2026-11-27 09:19:29+00 BC', '12026-11-27 09:19:29+00', '0099-01-01 00:00:00+00', 'Fri Nov 27 09:19:29 2026 UTC', '2026-11-27 09:19:29.+00', '2026-11-27 09:19:29Z']) {
      expect(parseTimestamptz(text, () => 'fallback' as unknown as Date)).toBe('fallback');
    }
    expect(parseTimestamptz('infinity', pgDefault)).toBe(Infinity);
  });
});
