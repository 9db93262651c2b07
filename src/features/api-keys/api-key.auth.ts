import type { Queryable, TxLookup } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/errors.js';
import type { ApiKeyAuthority } from '../../platform/http/tenant-access.js';
import type { Scope } from '../../platform/rbac/roles.js';
import { recordApiKeyAuthentication, type ApiKeyOutcome } from '../../platform/telemetry/metrics.js';
import { apiKeyHashMatches, parseApiKey } from './api-key.token.js';

export interface ApiKeyPrincipal {
  tenantId: string;
  apiKeyId: string;
  serviceAccountId: string;
  scopes: Scope[];
}

/**
 * Last committed lastUsedAt write per key in this process, so most requests skip the UPDATE; its
 * WHERE clause is what guarantees at most one write a minute per key across processes.
 */
const lastUsedWrites = new Map<string, number>();
const LAST_USED_INTERVAL_MS = 60_000;

/**
 * The API-key lookup: the key row found through the narrow `api_keys_by_public_id` policy (the
 * transaction's preamble set the public id), and the transaction switched to its tenant in the same
 * statement. authenticateApiKey still checks the secret's hash, revocation and expiry, and throws
 * (which rolls back the tenant setting) when any fails.
 */
export function apiKeyLookup(publicId: string): TxLookup {
  return {
    sql:
      `SELECT tenant_id, id, service_account_id, secret_hash, scopes, expires_at, revoked_at, ` +
      `set_config('app.tenant_id', tenant_id::text, true) AS tenant_context ` +
      `FROM api_keys WHERE public_id = $1`,
    params: [publicId],
  };
}

interface ApiKeyRow {
  tenant_id: string;
  id: string;
  service_account_id: string;
  secret_hash: string;
  scopes: Scope[];
  expires_at: Date | null;
  revoked_at: Date | null;
}

/**
 * Authenticates an `x-api-key` from the row the transaction's opening round trip looked up by
 * public id (the `api_keys_by_public_id` policy), which also switched the transaction to the key's
 * tenant; any failure here throws and so rolls that back. No cache: revocation and expiry apply to
 * the very next request.
 */
export async function authenticateApiKey(
  tx: Queryable,
  key: string,
  now: Date,
  lookupRows: readonly Record<string, unknown>[],
): Promise<ApiKeyPrincipal> {
  if (!parseApiKey(key)) throw new AppError('API_KEY_INVALID');
  // More than one row for a 128-bit random public id would mean a collision across tenants:
  // refuse rather than guess which tenant the opening statement switched to.
  const rows = (lookupRows.length === 1 ? lookupRows : []) as unknown as ApiKeyRow[];
  const row = rows.find((r) => apiKeyHashMatches(key, r.secret_hash));
  const outcome: ApiKeyOutcome = !row
    ? 'invalid'
    : row.revoked_at !== null
      ? 'revoked'
      : row.expires_at !== null && row.expires_at <= now
        ? 'expired'
        : 'succeeded';
  recordApiKeyAuthentication(outcome);
  if (!row || outcome !== 'succeeded') throw new AppError('API_KEY_INVALID');
  const last = lastUsedWrites.get(row.id) ?? 0;
  if (now.getTime() - last >= LAST_USED_INTERVAL_MS) {
    // Remembered only once the write commits: a request that rolls back (a 403, a replayed
    // idempotent request's first pass) must not suppress the next minute's write.
    tx.afterCommit(() => lastUsedWrites.set(row.id, now.getTime()));
    await tx.query(
      `UPDATE api_keys SET last_used_at = $3
        WHERE tenant_id = $1 AND id = $2 AND (last_used_at IS NULL OR last_used_at <= $3::timestamptz - interval '1 minute')`,
      [row.tenant_id, row.id, now],
    );
  }
  return { tenantId: row.tenant_id, apiKeyId: row.id, serviceAccountId: row.service_account_id, scopes: row.scopes };
}

/** API keys as the route pipeline takes them (see platform/http/tenant-access.ts). */
export const apiKeyAuthority: ApiKeyAuthority = {
  opening(key) {
    // authenticateApiKey re-validates the format and checksum; this only extracts the lookup id.
    const publicId = parseApiKey(key)?.publicId;
    if (publicId === undefined) throw new AppError('API_KEY_INVALID');
    return { apiKeyPublicId: publicId, lookup: apiKeyLookup(publicId) };
  },
  authenticate: authenticateApiKey,
};
