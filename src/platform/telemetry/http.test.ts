import { describe, expect, it } from 'vitest';
import { redactQuery } from './http.js';

describe('redactQuery', () => {
  it('redacts the values of secret-looking keys, whatever their case or encoding, and keeps the rest as sent', () => {
    expect(redactQuery('status=open&token=abc&limit=20')).toBe('status=open&token=REDACTED&limit=20');
    expect(redactQuery('API_KEY=itk_x&Password=hunter2&sig=zz')).toBe('API_KEY=REDACTED&Password=REDACTED&sig=REDACTED');
    // An encoded key is still recognised; the key is kept as the client wrote it.
    expect(redactQuery('x%2Dapi%2Dkey=secret&q=a%20b')).toBe('x%2Dapi%2Dkey=REDACTED&q=a%20b');
  });

  it('leaves keys without values and undecodable keys alone', () => {
    expect(redactQuery('flag&status=open')).toBe('flag&status=open');
    expect(redactQuery('%E0%A4%A=1&token=t')).toBe('%E0%A4%A=1&token=REDACTED');
    expect(redactQuery('')).toBe('');
  });
});
