import { describe, expect, it } from 'vitest';
import { mapDatabaseError } from './pg-errors.js';

function dbError(code: string): Error {
  return Object.assign(new Error(`driver message for ${code}`), { code });
}

describe('mapDatabaseError', () => {
  it.each([
    ['22021', 'a NUL byte or invalid UTF-8 in text'],
    ['22P05', 'a character the encoding cannot hold (\\u0000 or a lone surrogate in JSON)'],
    ['22001', 'a string longer than its column'],
    ['22P02', 'text that is not a valid uuid, integer or enum'],
    ['22003', 'a number out of range'],
    ['22007', 'a malformed date-time'],
    ['22008', 'a date-time out of range'],
    ['2200D', 'a bad escape octet'],
    ['22025', 'an invalid escape sequence'],
    ['22030', 'a duplicate JSON object key value'],
    ['2203A', 'an SQL/JSON member not found'],
  ])('when PostgreSQL raises data exception %s (%s), then 400 VALIDATION_FAILED without the driver message', (code) => {
    const mapped = mapDatabaseError(dbError(code));
    expect(mapped?.code).toBe('VALIDATION_FAILED');
    expect(mapped?.status).toBe(400);
    expect(mapped?.message).not.toContain('driver message');
    expect(mapped?.details).toEqual({});
  });

  it.each([
    ['23505', 'CONFLICT'],
    ['23503', 'VALIDATION_FAILED'],
    ['23514', 'VALIDATION_FAILED'],
    ['42501', 'NOT_FOUND'],
    ['40001', 'CONFLICT'],
    ['57014', 'SERVICE_UNAVAILABLE'],
  ])('when PostgreSQL raises %s, then %s (unchanged by the class-22 rule)', (code, expected) => {
    expect(mapDatabaseError(dbError(code))?.code).toBe(expected);
  });

  it.each(['42601', '42P01', '2200', '220000', '21000', '0A000'])('when the code is %s (not a data exception), then it is left to the 500 path', (code) => {
    expect(mapDatabaseError(dbError(code))).toBeNull();
  });
});
