import type { Queryable } from '../../platform/db/database.js';
import { selectList } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { Role } from '../../platform/rbac/roles.js';

export interface TenantListRow {
  id: string;
  name: string;
  role: Role;
  created_at: Date;
}

const TENANT_LIST_COLUMNS = selectList<TenantListRow>({ id: 't.id', name: 't.name', role: 'm.role', created_at: 't.created_at' });
const PAGE = keyset('newest first', 2, { createdAt: 't.created_at', id: 't.id' });
const LIST_MY_TENANTS_SQL = `SELECT ${TENANT_LIST_COLUMNS}, ${PAGE.key} FROM memberships m JOIN tenants t ON t.id = m.tenant_id
      WHERE m.user_id = $1 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** One keyset page of the caller's tenants, newest first, through the narrow own-memberships and tenants-of-user policies. */
export async function listMyTenants(tx: Queryable, userId: string, page: PageRequest): Promise<(TenantListRow & KeyedRow)[]> {
  const { rows } = await tx.query<TenantListRow & KeyedRow>(LIST_MY_TENANTS_SQL, [userId, ...keysetParams(page, 'newest first')]);
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
