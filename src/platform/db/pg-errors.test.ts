import { describe, expect, it } from 'vitest';
import { isConnectionFailure, mapDatabaseError } from './pg-errors.js';

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

  describe('during a failover', () => {
    it.each([
      ['25006', 'a read-only server: a standby, or a primary demoted or not yet writable'],
      ['57P01', 'admin shutdown (the server is stopping)'],
      ['57P02', 'crash shutdown'],
      ['57P03', 'the server is starting up or shutting down'],
      ['08000', 'connection exception'],
      ['08001', 'no host of the list could be reached'],
      ['08003', 'connection does not exist'],
      ['08006', 'connection failure'],
      ['08P01', 'protocol violation (PgBouncer lost its server)'],
    ])('when the database answers %s (%s), then 503 SERVICE_UNAVAILABLE with Retry-After: 1 and the pool looks for the primary again', (code) => {
      const mapped = mapDatabaseError(dbError(code));
      expect(mapped?.code).toBe('SERVICE_UNAVAILABLE');
      expect(mapped?.status).toBe(503);
      expect(mapped?.headers).toEqual({ 'Retry-After': '1' });
      expect(mapped?.message).not.toContain('driver message');
      expect(isConnectionFailure(dbError(code))).toBe(true);
    });

    it.each(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH'])('when the socket fails with %s, then 503 with Retry-After', (code) => {
      const mapped = mapDatabaseError(dbError(code));
      expect(mapped?.status).toBe(503);
      expect(mapped?.headers['Retry-After']).toBe('1');
    });

    it.each(['40001', '40P01'])('when a standby cancels a query with %s (conflict with recovery), then 503, not 409', (code) => {
      const err = Object.assign(new Error('canceling statement due to conflict with recovery'), { code });
      const mapped = mapDatabaseError(err);
      expect(mapped?.code).toBe('SERVICE_UNAVAILABLE');
      expect(mapped?.headers['Retry-After']).toBe('1');
    });

    it.each(['40001', '40P01'])('when the primary reports %s (a real serialization failure or deadlock), then it stays 409 CONFLICT', (code) => {
      const err = Object.assign(new Error('could not serialize access due to concurrent update'), { code });
      expect(mapDatabaseError(err)?.code).toBe('CONFLICT');
      expect(isConnectionFailure(err)).toBe(false);
    });

    it('when the pool had no free client in time, then 503, but the server is not suspected of having failed', () => {
      const err = new Error('timeout exceeded when trying to connect');
      expect(mapDatabaseError(err)?.status).toBe(503);
      expect(isConnectionFailure(err)).toBe(false);
    });

    it.each(['23505', '42501', '22001', '42P01'])('when a request fails with %s, the server is not suspected of having failed', (code) => {
      expect(isConnectionFailure(dbError(code))).toBe(false);
    });
  });
});
