import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks v1 (https://www.standardwebhooks.com): secrets are `whsec_` + base64 of 32
 * random bytes; the HMAC-SHA256 key is the base64-decoded part after the prefix; the signed content
 * is `<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` lists `v1,<base64>` once per
 * secret, space-separated.
 */
export const SECRET_PREFIX = 'whsec_';

export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function keyOf(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('not a whsec_ secret');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

export function signatureOf(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${String(timestamp)}.${body}`).digest('base64')}`;
}

/** The delivery headers for one attempt, signed with every active secret. */
export function webhookHeaders(secrets: readonly string[], id: string, at: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'incident-tracker-webhooks/1',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signatureOf(s, id, timestamp, body)).join(' '),
  };
}
