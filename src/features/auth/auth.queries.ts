import type { Queryable } from '../../platform/db/database.js';
import { columnsOf } from '../../platform/db/sql.js';
import type { Role } from '../../platform/rbac/roles.js';
import type { UserRow } from './auth.schema.js';

export interface UserWithSecret extends UserRow {
  password_hash: string;
  session_epoch: number;
}

const USER_COLUMNS = columnsOf<UserRow>()('id', 'email', 'name', 'created_at');
const USER_WITH_SECRET_COLUMNS = columnsOf<UserWithSecret>()('id', 'email', 'name', 'created_at', 'password_hash', 'session_epoch');

export async function findUserByEmail(tx: Queryable, email: string): Promise<UserWithSecret | null> {
  const { rows } = await tx.query<UserWithSecret>(
    `SELECT ${USER_WITH_SECRET_COLUMNS} FROM users WHERE email = $1`,
    [email],
  );
  return rows[0] ?? null;
}

export async function findUserById(tx: Queryable, id: string): Promise<UserWithSecret | null> {
  const { rows } = await tx.query<UserWithSecret>(
    `SELECT ${USER_WITH_SECRET_COLUMNS} FROM users WHERE id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

/** Inserts a user; null when the email is taken (the unique index decides, race-free). */
export async function insertUser(tx: Queryable, u: { email: string; name: string; passwordHash: string; now: Date }): Promise<UserRow | null> {
  const { rows } = await tx.query<UserRow>(
    `INSERT INTO users (email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (email) DO NOTHING RETURNING ${USER_COLUMNS}`,
    [u.email, u.name, u.passwordHash, u.now],
  );
  return rows[0] ?? null;
}

export async function updatePasswordHash(tx: Queryable, userId: string, passwordHash: string, bumpEpoch: boolean): Promise<number> {
  const { rows } = await tx.query<{ session_epoch: number }>(
    `UPDATE users SET password_hash = $2, updated_at = now(),
            session_epoch = session_epoch + CASE WHEN $3::boolean THEN 1 ELSE 0 END
      WHERE id = $1 RETURNING session_epoch`,
    [userId, passwordHash, bumpEpoch],
  );
  return rows[0]?.session_epoch ?? 0;
}

/** The user's membership in a tenant, through the narrow own-memberships policy. */
export async function findOwnMembership(
  tx: Queryable,
  userId: string,
  tenantId: string,
): Promise<{ id: string; name: string; role: Role } | null> {
  const { rows } = await tx.query<{ id: string; name: string; role: Role }>(
    `SELECT t.id, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
      WHERE m.user_id = $1 AND m.tenant_id = $2`,
    [userId, tenantId],
  );
  return rows[0] ?? null;
}

/** The most recently joined tenant, used as the active tenant after login. */
export async function findLatestMembership(tx: Queryable, userId: string): Promise<{ id: string; name: string; role: Role } | null> {
  const { rows } = await tx.query<{ id: string; name: string; role: Role }>(
    `SELECT t.id, t.name, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
      WHERE m.user_id = $1 ORDER BY m.created_at DESC, t.id LIMIT 1`,
    [userId],
  );
  return rows[0] ?? null;
}

/**
 * Voids every outstanding reset token of a user (a newer token or a password change supersedes
 * them). Voided tokens are marked used: the consume query refuses anything with `used_at` set.
 */
export async function voidResetTokens(tx: Queryable, userId: string, now: Date): Promise<void> {
  await tx.query('UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL', [userId, now]);
}

export async function insertResetToken(tx: Queryable, t: { userId: string; tokenHash: string; expiresAt: Date; now: Date }): Promise<void> {
  await tx.query('INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)', [
    t.userId,
    t.tokenHash,
    t.expiresAt,
    t.now,
  ]);
}

/** True when the token is unused and unexpired; a cheap pre-check, the consume below decides. */
export async function resetTokenUsable(tx: Queryable, tokenHash: string, now: Date): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM password_reset_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2', [
    tokenHash,
    now,
  ]);
  return rows.length > 0;
}

/**
 * Consumes a reset token atomically: of any number of concurrent callers exactly one gets the
 * user id (the row lock makes the others re-check `used_at` and match nothing).
 */
export async function consumeResetToken(tx: Queryable, tokenHash: string, now: Date): Promise<string | null> {
  const { rows } = await tx.query<{ user_id: string }>(
    `UPDATE password_reset_tokens SET used_at = $2
      WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
      RETURNING user_id`,
    [tokenHash, now],
  );
  return rows[0]?.user_id ?? null;
}
