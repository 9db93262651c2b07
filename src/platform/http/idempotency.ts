import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { AppError } from './errors.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
const TTL_MS = 24 * 60 * 60 * 1000;

export interface IdempotencyScope {
  tenantId: string;
  principalType: 'user' | 'service_account';
  principalId: string;
  key: string;
  fingerprint: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export function parseIdempotencyKey(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (!KEY_RE.test(raw)) {
    throw new AppError('VALIDATION_FAILED', {
      details: { fields: [{ path: 'Idempotency-Key', message: 'Must be 1 to 255 printable ASCII characters.' }] },
    });
  }
  return raw;
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${JSON.stringify(body ?? null)}`).digest('hex');
}

/**
 * Claims the key in its own committed transaction, so a concurrent duplicate sees it in progress.
 * Returns a stored response to replay, or null when this request owns the key and must run.
 */
export async function claimIdempotencyKey(
  db: Database,
  userId: string | null,
  scope: IdempotencyScope,
  now: Date,
): Promise<StoredResponse | null> {
  return db.withAppTx({ tenantId: scope.tenantId, userId }, async (tx) => {
    const params = [scope.tenantId, scope.principalType, scope.principalId, scope.key];
    // Expired keys are forgotten, so the key may be used afresh.
    await tx.query(
      `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal_type = $2 AND principal_id = $3 AND key = $4
         AND expires_at <= $5`,
      [...params, now],
    );
    const inserted = await tx.query(
      `INSERT INTO idempotency_keys (tenant_id, principal_type, principal_id, key, fingerprint, state, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7)
       ON CONFLICT DO NOTHING RETURNING 1`,
      [...params, scope.fingerprint, now, new Date(now.getTime() + TTL_MS)],
    );
    if (inserted.rows.length > 0) return null;
    const { rows } = await tx.query<{
      fingerprint: string;
      state: string;
      response_status: number | null;
      response_body: unknown;
      response_headers: Record<string, string> | null;
    }>(
      `SELECT fingerprint, state, response_status, response_body, response_headers FROM idempotency_keys
        WHERE tenant_id = $1 AND principal_type = $2 AND principal_id = $3 AND key = $4`,
      params,
    );
    const row = rows[0];
    if (!row) throw new AppError('IDEMPOTENCY_IN_PROGRESS');
    if (row.fingerprint !== scope.fingerprint) throw new AppError('IDEMPOTENCY_KEY_REUSED');
    if (row.state !== 'completed' || row.response_status === null) throw new AppError('IDEMPOTENCY_IN_PROGRESS');
    return { status: row.response_status, body: row.response_body, headers: row.response_headers ?? {} };
  });
}

/** Stores the response in the same transaction as the write it describes. */
export async function completeIdempotencyKey(tx: Queryable, scope: IdempotencyScope, response: StoredResponse): Promise<void> {
  await tx.query(
    `UPDATE idempotency_keys SET state = 'completed', response_status = $5, response_body = $6, response_headers = $7
      WHERE tenant_id = $1 AND principal_type = $2 AND principal_id = $3 AND key = $4`,
    [
      scope.tenantId,
      scope.principalType,
      scope.principalId,
      scope.key,
      response.status,
      JSON.stringify(response.body ?? null),
      JSON.stringify(response.headers),
    ],
  );
}

/** Releases a claim whose request failed, so the client may retry with the same key. */
export async function releaseIdempotencyKey(db: Database, userId: string | null, scope: IdempotencyScope): Promise<void> {
  await db.withAppTx({ tenantId: scope.tenantId, userId }, (tx) =>
    tx.query(
      `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal_type = $2 AND principal_id = $3 AND key = $4
         AND state = 'in_progress'`,
      [scope.tenantId, scope.principalType, scope.principalId, scope.key],
    ),
  );
}
