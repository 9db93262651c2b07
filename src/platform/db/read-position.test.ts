import { describe, expect, it } from 'vitest';
import { formatLsn, laterLsn, parseLsn, ReadPosition } from './read-position.js';

describe('read positions (LSNs)', () => {
  it('parses and prints LSNs as PostgreSQL does, refusing anything else', () => {
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('016/0b374d84') ?? 0n)).toBe('16/B374D84');
    expect(formatLsn(parseLsn('0/0') ?? 1n)).toBe('0/0');
    for (const bad of ['', '16', '16/', '/1', '1/2/3', '123456789/0', '0/G', ' 0/1', '0/1;']) expect(parseLsn(bad)).toBeNull();
  });

  it('compares numerically, not as text', () => {
    expect(laterLsn('9/FFFFFFFF', '10/0')).toBe('10/0');
    expect(laterLsn('0/A0', '0/9F')).toBe('0/A0');
    expect(laterLsn(null, '0/1')).toBe('0/1');
    expect(laterLsn('0/1', null)).toBe('0/1');
  });

  it('a position only moves forward, and ignores what is not an LSN', () => {
    const position = new ReadPosition('0/3000');
    position.advance('0/2000');
    expect(position.lsn).toBe('0/3000');
    position.advance('0/3a00');
    expect(position.lsn).toBe('0/3A00');
    position.advance('nonsense');
    expect(position.lsn).toBe('0/3A00');
    expect(new ReadPosition('garbage').lsn).toBeNull();
  });
});
