import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API key format: `itk_<public id: 32 hex>_<secret: 64 hex><checksum: 8 hex>`.
 * 128-bit public id, 256-bit secret, and a CRC-32 over everything before it, so a truncated or
 * mistyped key is refused without touching the database.
 */
const KEY_RE = /^itk_([0-9a-f]{32})_([0-9a-f]{64})([0-9a-f]{8})$/;

function checksum(body: string): string {
  return crc32(body).toString(16).padStart(8, '0');
}

export interface IssuedApiKey {
  key: string;
  publicId: string;
  secretHash: string;
  /** Shown in lists: enough to recognise a key, useless to an attacker. */
  prefix: string;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function issueApiKey(): IssuedApiKey {
  const publicId = randomBytes(16).toString('hex');
  const secret = randomBytes(32).toString('hex');
  const body = `itk_${publicId}_${secret}`;
  const key = body + checksum(body);
  return { key, publicId, secretHash: hashApiKey(key), prefix: prefixOf(publicId) };
}

export function prefixOf(publicId: string): string {
  return `itk_${publicId.slice(0, 8)}`;
}

/** Returns the public id of a well-formed key with a valid checksum, else null. */
export function parseApiKey(key: string): { publicId: string } | null {
  const m = KEY_RE.exec(key);
  if (!m?.[1] || !m[2] || !m[3]) return null;
  const body = `itk_${m[1]}_${m[2]}`;
  if (checksum(body) !== m[3]) return null;
  return { publicId: m[1] };
}

export function apiKeyHashMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(key), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
