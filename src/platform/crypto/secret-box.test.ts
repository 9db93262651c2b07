import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDataKeys, SecretBox } from './secret-box.js';

describe('SecretBox (AES-256-GCM at rest)', () => {
  const [k1, k2] = [randomBytes(32), randomBytes(32)];

  it('when sealed, then the stored form holds no plaintext and opens only with the same context', () => {
    const box = new SecretBox([k1]);
    const sealed = box.encrypt('whsec_top-secret', 'row-a');
    expect(sealed).not.toContain('top-secret');
    expect(sealed).not.toBe(box.encrypt('whsec_top-secret', 'row-a'));
    expect(box.decrypt(sealed, 'row-a')).toBe('whsec_top-secret');
    expect(() => box.decrypt(sealed, 'row-b')).toThrow();
  });

  it('when one byte of the ciphertext changes, then it does not open', () => {
    const box = new SecretBox([k1]);
    const parts = box.encrypt('whsec_x', 'c').split('.');
    const ct = Buffer.from(parts[3] ?? '', 'base64url');
    ct[0] = (ct[0] ?? 0) ^ 1;
    parts[3] = ct.toString('base64url');
    expect(() => box.decrypt(parts.join('.'), 'c')).toThrow();
  });

  it('when keys rotate, then the first key encrypts, every key decrypts, and a dropped key no longer opens its values', () => {
    const old = new SecretBox([k1]).encrypt('s1', 'c');
    const ring = new SecretBox([k2, k1]);
    expect(ring.decrypt(old, 'c')).toBe('s1');
    expect(new SecretBox([k2]).decrypt(ring.encrypt('s2', 'c'), 'c')).toBe('s2');
    expect(() => new SecretBox([k2]).decrypt(old, 'c')).toThrow(/not in DATA_ENCRYPTION_KEY/);
  });

  it('when the development key file is missing, then one is generated (mode 0600) and read back the same on the next start', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'keys-')), 'data-encryption.key');
    const first = resolveDataKeys({ kind: 'file', path });
    expect(first[0]).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(resolveDataKeys({ kind: 'file', path })).toEqual(first);
    expect(readFileSync(path, 'utf8').trim()).toBe(first[0]?.toString('base64'));
  });
});
