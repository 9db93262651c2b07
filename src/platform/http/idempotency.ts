import { createHash } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { withAccountTx, withTenantTx } from '../db/tx.js';
import { AppError } from './errors.js';

const KEY_RE = /^[\x21-\x7e]{1,255}$/;
const TTL_MS = 24 * 60 * 60 * 1000;
/**
 * A claim still in progress after this long belongs to a request that died without releasing it:
 * no request transaction outlives its timeouts by that much, so a retry may take the claim over
 * instead of answering 409 for a day.
 */
export const ABANDONED_CLAIM_MS = 2 * 60 * 1000;

/**
 * Whose key it is: inside a tenant, (tenant, principal); on an account route with no tenant yet
 * (`tenantId` null), the signed-in user alone.
 */
export interface IdempotencyScope {
  tenantId: string | null;
  principalType: 'user' | 'service_account';
  principalId: string;
  key: string;
  fingerprint: string;
}

/** The table holding a scope's keys and the columns and values that identify its row ($1..$n). */
function rowOf(scope: IdempotencyScope): { table: string; columns: string[]; where: string; params: unknown[] } {
  const [table, columns, params] =
    scope.tenantId === null
      ? ['account_idempotency_keys', ['user_id', 'key'], [scope.principalId, scope.key]]
      : ['idempotency_keys', ['tenant_id', 'principal_type', 'principal_id', 'key'], [scope.tenantId, scope.principalType, scope.principalId, scope.key]];
  return { table, columns, where: columns.map((c, i) => `${c} = $${String(i + 1)}`).join(' AND '), params };
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
 * Claims the key, in a transaction committed before the request's (a concurrent duplicate then sees
 * it in progress). Returns a stored response to replay, or null when this request must run.
 */
export async function claimIdempotencyKey(tx: Queryable, scope: IdempotencyScope, now: Date): Promise<StoredResponse | null> {
  const { table, columns, where, params } = rowOf(scope);
  const n = params.length;
  // An expired key, or a claim abandoned in progress, is forgotten first, so the key may be used afresh.
  const [, inserted] = await Promise.all([
    tx.query(
      `DELETE FROM ${table} WHERE ${where} AND (expires_at <= $${String(n + 1)} OR (state = 'in_progress' AND created_at <= $${String(n + 2)}))`,
      [...params, now, new Date(now.getTime() - ABANDONED_CLAIM_MS)],
    ),
    tx.query(
      `INSERT INTO ${table} (${columns.join(', ')}, fingerprint, state, created_at, expires_at)
       VALUES (${params.map((_, i) => `$${String(i + 1)}`).join(', ')}, $${String(n + 1)}, 'in_progress', $${String(n + 2)}, $${String(n + 3)})
       ON CONFLICT DO NOTHING RETURNING 1`,
      [...params, scope.fingerprint, now, new Date(now.getTime() + TTL_MS)],
    ),
  ]);
  if (inserted.rows.length > 0) return null;
  const { rows } = await tx.query<{
    fingerprint: string;
    state: string;
    response_status: number | null;
    response_body: unknown;
    response_headers: Record<string, string> | null;
  }>(`SELECT fingerprint, state, response_status, response_body, response_headers FROM ${table} WHERE ${where}`, params);
  const row = rows[0];
  if (!row) throw new AppError('IDEMPOTENCY_IN_PROGRESS');
  if (row.fingerprint !== scope.fingerprint) throw new AppError('IDEMPOTENCY_KEY_REUSED');
  if (row.state !== 'completed' || row.response_status === null) throw new AppError('IDEMPOTENCY_IN_PROGRESS');
  return { status: row.response_status, body: row.response_body, headers: row.response_headers ?? {} };
}

/** Stores the response in the same transaction as the write it describes. */
export async function completeIdempotencyKey(tx: Queryable, scope: IdempotencyScope, response: StoredResponse): Promise<void> {
  const { table, where, params } = rowOf(scope);
  const n = params.length;
  await tx.query(
    `UPDATE ${table} SET state = 'completed', response_status = $${String(n + 1)}, response_body = $${String(n + 2)}, response_headers = $${String(n + 3)}
      WHERE ${where}`,
    [...params, response.status, JSON.stringify(response.body ?? null), JSON.stringify(response.headers)],
  );
}

/** Releases a claim whose request failed, so the client may retry with the same key. */
export async function releaseIdempotencyKey(db: Database, userId: string | null, scope: IdempotencyScope): Promise<void> {
  const { table, where, params } = rowOf(scope);
  const release = (tx: Queryable) => tx.query(`DELETE FROM ${table} WHERE ${where} AND state = 'in_progress'`, params);
  await (scope.tenantId === null ? withAccountTx(db, userId, release) : withTenantTx(db, { tenantId: scope.tenantId, userId }, release));
}
