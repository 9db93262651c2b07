import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Secrets the server must read back (webhook signing secrets), encrypted at rest with AES-256-GCM
 * (docs/security.md 51). The keyring is DATA_ENCRYPTION_KEY: one or more base64 32-byte keys,
 * comma-separated; the first encrypts, every one decrypts, so a key is rotated by putting the new
 * one first and dropping the old one once nothing is encrypted under it.
 *
 * Stored form: `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url parts). The key id is the first 8
 * bytes of SHA-256 of the key, so decryption picks its key without trying each one. The caller's
 * `context` (for example tenant and row id) is bound as additional authenticated data: a
 * ciphertext copied onto another row does not decrypt there.
 */
export class SecretBox {
  private readonly keys: { id: string; key: Buffer }[];

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    for (const k of keys) if (k.length !== 32) throw new Error('data encryption keys must be 32 bytes');
    this.keys = keys.map((key) => ({ id: keyId(key), key }));
  }

  encrypt(plaintext: string, context: string): string {
    const first = this.keys[0];
    if (!first) throw new Error('no key');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', first.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', first.id, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Throws when the value was not made by a key of this ring for this context. */
  decrypt(stored: string, context: string): string {
    const [version, id, iv, ct, tag, ...rest] = stored.split('.');
    if (version !== 'v1' || !id || iv === undefined || ct === undefined || !tag || rest.length > 0) throw new Error('not a v1 sealed secret');
    const entry = this.keys.find((k) => k.id === id);
    if (!entry) throw new Error('sealed with a key that is not in DATA_ENCRYPTION_KEY');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 8).toString('base64url');
}

/** Parses DATA_ENCRYPTION_KEY; returns the problem in words, or the keys. */
export function parseDataKeys(raw: string): Buffer[] | string {
  const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) return 'expected one or more base64 keys, comma-separated';
  const keys: Buffer[] = [];
  for (const [i, part] of parts.entries()) {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(part)) return `key ${String(i + 1)} is not base64`;
    const key = Buffer.from(part, 'base64');
    if (key.length !== 32) return `key ${String(i + 1)} decodes to ${String(key.length)} bytes; expected 32 (e.g. \`openssl rand -base64 32\`)`;
    keys.push(key);
  }
  return keys;
}

export type DataKeySource =
  | { kind: 'configured'; keys: Buffer[] }
  /** Outside production, with the embedded database on disk: one key generated and kept beside it. */
  | { kind: 'file'; path: string }
  /** Outside production otherwise: derived from SESSION_SECRET, stable as long as it is. */
  | { kind: 'derived'; sessionSecret: string };

/** The file that keeps the generated development key: beside the PGlite data directory. */
export function devKeyFileFor(pgliteDataDir: string): string {
  return join(dirname(pgliteDataDir), 'data-encryption.key');
}

/** Resolves the keyring (reading or creating the development key file when that is the source). */
export function resolveDataKeys(source: DataKeySource): Buffer[] {
  switch (source.kind) {
    case 'configured':
      return source.keys;
    case 'file': {
      if (existsSync(source.path)) {
        const keys = parseDataKeys(readFileSync(source.path, 'utf8').trim());
        if (typeof keys === 'string') throw new Error(`${source.path}: ${keys}`);
        return keys;
      }
      const key = randomBytes(32);
      mkdirSync(dirname(source.path), { recursive: true });
      writeFileSync(source.path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(source.path, 0o600);
      return [key];
    }
    case 'derived':
      return [Buffer.from(hkdfSync('sha256', source.sessionSecret, 'incident-tracker', 'data encryption key (not for production)', 32))];
  }
}
