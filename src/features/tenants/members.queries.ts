import type { Queryable, TxLookup } from '../../platform/db/database.js';
import { maybeRow, selectList } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { Role } from '../../platform/rbac/roles.js';

/**
 * The session check of a tenant request, read in the route's opening round trip: the user's session
 * epoch (a password change or reset ends older sessions) and role in the tenant (null without a
 * membership; no row for no user), through the users-own-row and memberships-own-rows policies.
 */
export function membershipLookup(userId: string, tenantId: string): TxLookup {
  return {
    sql: `SELECT m.role, u.session_epoch FROM users u LEFT JOIN memberships m ON m.tenant_id = $2 AND m.user_id = u.id WHERE u.id = $1`,
    params: [userId, tenantId],
  };
}

export interface MemberRow {
  user_id: string;
  role: Role;
  created_at: Date;
  email: string;
  name: string;
  user_created_at: Date;
}

const MEMBER_COLUMNS = selectList<MemberRow>({
  user_id: 'm.user_id',
  role: 'm.role',
  created_at: 'm.created_at',
  email: 'u.email',
  name: 'u.name',
  user_created_at: 'u.created_at',
});

const PAGE = keyset('newest first', 2, { createdAt: 'm.created_at', id: 'm.user_id' });
const LIST_MEMBERS_SQL = `SELECT ${MEMBER_COLUMNS}, ${PAGE.key} FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.tenant_id = $1 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** One page of members, newest first by (created_at, user_id). */
export async function listMemberPage(tx: Queryable, tenantId: string, page: PageRequest): Promise<(MemberRow & KeyedRow)[]> {
  const { rows } = await tx.query<MemberRow & KeyedRow>(LIST_MEMBERS_SQL, [tenantId, ...keysetParams(page, 'newest first')]);
  return rows;
}

/**
 * Locks every owner row of the tenant (in a fixed order, so two callers cannot deadlock) and
 * returns their user ids. Taken before any change that could remove an owner: a concurrent
 * demotion or removal waits here and then counts what the first one left.
 */
export async function lockOwners(tx: Queryable, tenantId: string): Promise<string[]> {
  const { rows } = await tx.query<{ user_id: string }>(
    `SELECT user_id FROM memberships WHERE tenant_id = $1 AND role = 'owner' ORDER BY user_id FOR UPDATE`,
    [tenantId],
  );
  return rows.map((r) => r.user_id);
}

/** The membership of `userId` in the tenant, locked for the change that follows. */
export async function findMemberForUpdate(tx: Queryable, tenantId: string, userId: string): Promise<MemberRow | null> {
  return maybeRow(
    await tx.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.tenant_id = $1 AND m.user_id = $2 FOR UPDATE OF m`,
      [tenantId, userId],
    ),
  );
}

export async function updateMemberRole(tx: Queryable, tenantId: string, userId: string, role: Role): Promise<void> {
  await tx.query('UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId, role]);
}

export async function deleteMember(tx: Queryable, tenantId: string, userId: string): Promise<void> {
  await tx.query('DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
}

/** Whether the account with this (normalised) email already belongs to the tenant. */
export async function isMemberByEmail(tx: Queryable, tenantId: string, email: string): Promise<boolean> {
  const { rows } = await tx.query(
    'SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND u.email = $2',
    [tenantId, email],
  );
  return rows.length > 0;
}
