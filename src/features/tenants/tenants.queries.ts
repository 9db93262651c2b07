import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';
import type { Role } from '../../platform/rbac/roles.js';

export interface TenantListRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
}

/** One keyset page (limit + 1 rows) of the caller's tenants, newest first on (created_at, id), through the
 * narrow own-memberships and tenants-of-user policies. */
export async function listMyTenants(tx: Queryable, userId: string, cursor: Cursor | null, limit: number): Promise<TenantListRow[]> {
  const { rows } = await tx.query<TenantListRow>(
    `SELECT t.id, t.name, m.role, t.created_at FROM memberships m JOIN tenants t ON t.id = m.tenant_id
      WHERE m.user_id = $1 AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2::timestamptz, $3::uuid))
      ORDER BY t.created_at DESC, t.id DESC LIMIT $4`,
    [userId, cursor?.createdAt ?? null, cursor?.id ?? null, limit + 1],
  );
  return rows;
}

export async function insertTenant(tx: Queryable, t: { id: string; name: string; now: Date }): Promise<void> {
  await tx.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [t.id, t.name, t.now]);
}

export async function insertMembership(tx: Queryable, m: { tenantId: string; userId: string; role: Role; now: Date }): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING 1`,
    [m.tenantId, m.userId, m.role, m.now],
  );
  return rows.length > 0;
}

export async function tenantName(tx: Queryable, tenantId: string): Promise<string | null> {
  const { rows } = await tx.query<{ name: string }>('SELECT name FROM tenants WHERE id = $1', [tenantId]);
  return rows[0]?.name ?? null;
}
