import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, maybeRow, oneRow } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { Scope } from '../../platform/rbac/roles.js';

export interface ServiceAccountRow {
  id: string;
  name: string;
  description: string | null;
  created_at: Date;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  service_account_id: string;
  public_id: string;
  scopes: Scope[];
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

// Never selects secret_hash: nothing outside authentication needs it.
const API_KEY_COLUMNS = columnsOf<ApiKeyRow>()('id', 'name', 'service_account_id', 'public_id', 'scopes', 'last_used_at', 'expires_at', 'revoked_at', 'created_at');
const SERVICE_ACCOUNT_COLUMNS = columnsOf<ServiceAccountRow>()('id', 'name', 'description', 'created_at');
const PAGE = keyset('newest first', 2);

export async function insertServiceAccount(
  tx: Queryable,
  sa: { tenantId: string; id: string; name: string; description: string | null; createdBy: string | null; now: Date },
): Promise<void> {
  await tx.query(
    `INSERT INTO service_accounts (tenant_id, id, name, description, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [sa.tenantId, sa.id, sa.name, sa.description, sa.createdBy, sa.now],
  );
}

/** One keyset page, newest first. */
export async function listServiceAccountRows(tx: Queryable, tenantId: string, page: PageRequest): Promise<(ServiceAccountRow & KeyedRow)[]> {
  const { rows } = await tx.query<ServiceAccountRow & KeyedRow>(
    `SELECT ${SERVICE_ACCOUNT_COLUMNS}, ${PAGE.key} FROM service_accounts WHERE tenant_id = $1 AND ${PAGE.after} ${PAGE.orderAndLimit}`,
    [tenantId, ...keysetParams(page, 'newest first')],
  );
  return rows;
}

export async function serviceAccountExists(tx: Queryable, tenantId: string, id: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM service_accounts WHERE tenant_id = $1 AND id = $2', [tenantId, id]);
  return rows.length > 0;
}

export async function insertApiKey(
  tx: Queryable,
  k: {
    tenantId: string;
    id: string;
    serviceAccountId: string;
    name: string;
    publicId: string;
    secretHash: string;
    scopes: Scope[];
    expiresAt: Date | null;
    createdBy: string | null;
    now: Date;
  },
): Promise<ApiKeyRow> {
  const res = await tx.query<ApiKeyRow>(
    `INSERT INTO api_keys (tenant_id, id, service_account_id, name, public_id, secret_hash, scopes, expires_at, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10)
     RETURNING ${API_KEY_COLUMNS}`,
    [k.tenantId, k.id, k.serviceAccountId, k.name, k.publicId, k.secretHash, k.scopes, k.expiresAt, k.createdBy, k.now],
  );
  return oneRow(res, 'api key insert');
}

/** One keyset page, newest first. */
export async function listApiKeyRows(tx: Queryable, tenantId: string, page: PageRequest): Promise<(ApiKeyRow & KeyedRow)[]> {
  const { rows } = await tx.query<ApiKeyRow & KeyedRow>(
    `SELECT ${API_KEY_COLUMNS}, ${PAGE.key} FROM api_keys WHERE tenant_id = $1 AND ${PAGE.after} ${PAGE.orderAndLimit}`,
    [tenantId, ...keysetParams(page, 'newest first')],
  );
  return rows;
}

export async function findApiKey(tx: Queryable, tenantId: string, id: string): Promise<ApiKeyRow | null> {
  return maybeRow(await tx.query<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2`, [tenantId, id]));
}

/** Sets revoked_at once; returns the updated row, or null when the key was already revoked. */
export async function markApiKeyRevoked(tx: Queryable, tenantId: string, id: string, now: Date): Promise<ApiKeyRow | null> {
  const { rows } = await tx.query<ApiKeyRow>(
    `UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
     RETURNING ${API_KEY_COLUMNS}`,
    [tenantId, id, now],
  );
  return rows[0] ?? null;
}
