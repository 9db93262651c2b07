import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A routing key: 32 lowercase hex characters (128 random bits), the form PagerDuty's keys have. */
export const ROUTING_KEY_RE = /^[0-9a-f]{32}$/;

export function generateRoutingKey(): { key: string; hash: string } {
  const key = randomBytes(16).toString('hex');
  return { key, hash: routingKeyHash(key) };
}

/** SHA-256 (hex) of a routing key: the only form the database ever holds. */
export function routingKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of two digests (the stored one and the presented key's). */
export function digestsMatch(stored: string, presented: string): boolean {
  const a = Buffer.from(stored, 'hex');
  const b = Buffer.from(presented, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
