import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, maybeRow, oneRow } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';

export type InviteRole = 'admin' | 'member' | 'viewer';

export interface InviteRow {
  tenant_id: string;
  id: string;
  email: string;
  role: InviteRole;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const INVITE_COLUMNS = columnsOf<InviteRow>()('tenant_id', 'id', 'email', 'role', 'expires_at', 'accepted_at', 'revoked_at', 'created_at');

export async function insertInvite(
  tx: Queryable,
  i: { tenantId: string; id: string; email: string; role: InviteRole; tokenHash: string; invitedBy: string | null; expiresAt: Date; now: Date },
): Promise<InviteRow> {
  const res = await tx.query<InviteRow>(
    `INSERT INTO invites (tenant_id, id, email, role, token_hash, invited_by, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${INVITE_COLUMNS}`,
    [i.tenantId, i.id, i.email, i.role, i.tokenHash, i.invitedBy, i.expiresAt, i.now],
  );
  return oneRow(res, 'invite insert');
}

const PAGE = keyset('newest first', 3);
const LIST_PENDING_SQL = `SELECT ${INVITE_COLUMNS}, ${PAGE.key} FROM invites
      WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** Pending invites (not accepted, not revoked, not expired at `now`), newest first. */
export async function listPendingInvitePage(tx: Queryable, tenantId: string, now: Date, page: PageRequest): Promise<(InviteRow & KeyedRow)[]> {
  const { rows } = await tx.query<InviteRow & KeyedRow>(LIST_PENDING_SQL, [tenantId, now, ...keysetParams(page, 'newest first')]);
  return rows;
}

export async function findInvite(tx: Queryable, tenantId: string, id: string): Promise<InviteRow | null> {
  return maybeRow(await tx.query<InviteRow>(`SELECT ${INVITE_COLUMNS} FROM invites WHERE tenant_id = $1 AND id = $2`, [tenantId, id]));
}

/** Revokes a still-pending invite atomically; null when it was used, revoked or expired meanwhile. */
export async function revokePendingInvite(tx: Queryable, tenantId: string, id: string, now: Date): Promise<InviteRow | null> {
  const { rows } = await tx.query<InviteRow>(
    `UPDATE invites SET revoked_at = $3
      WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3
      RETURNING ${INVITE_COLUMNS}`,
    [tenantId, id, now],
  );
  return rows[0] ?? null;
}

/**
 * The one cross-tenant read of invites: by the hash of the presented token, allowed only by the
 * `invites_by_token_hash` policy inside a `withLookupTx({ kind: 'inviteByTokenHash' })`
 * transaction, so no tenant_id predicate is possible here.
 */
export async function findInviteByTokenHash(tx: Queryable, tokenHash: string): Promise<InviteRow | null> {
  return maybeRow(await tx.query<InviteRow>(`SELECT ${INVITE_COLUMNS} FROM invites WHERE token_hash = $1`, [tokenHash]));
}

/**
 * Marks the invite accepted if, and only if, it is still pending: of any number of concurrent
 * accepts exactly one gets the row back; the others wait on the row lock and then match nothing.
 */
export async function consumeInvite(tx: Queryable, tenantId: string, id: string, userId: string, now: Date): Promise<InviteRow | null> {
  const { rows } = await tx.query<InviteRow>(
    `UPDATE invites SET accepted_at = $4, accepted_by = $3
      WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $4
      RETURNING ${INVITE_COLUMNS}`,
    [tenantId, id, userId, now],
  );
  return rows[0] ?? null;
}

export async function userEmail(tx: Queryable, userId: string): Promise<string | null> {
  const { rows } = await tx.query<{ email: string }>('SELECT email FROM users WHERE id = $1', [userId]);
  return rows[0]?.email ?? null;
}
