import { createHash, randomBytes } from 'node:crypto';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { countLockout, countLoginAttempt } from '../../platform/telemetry/metrics.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import type { MailOutbox } from '../../platform/mail/outbox.js';
import type { AuthRateLimits } from './auth.limits.js';
import { PasswordHasher, assertPasswordPolicy } from './auth.passwords.js';
import { passwordChangedMail, resetLinkMail } from './auth.mails.js';
import {
  consumeResetToken,
  findLatestMembership,
  findOwnMembership,
  findUserByEmail,
  findUserById,
  insertResetToken,
  insertUser,
  updatePasswordHash,
  voidResetTokens,
  type UserWithSecret,
} from './auth.queries.js';
import { presentUser } from './auth.schema.js';

/*
 * Each route runs in phases (src/platform/http/route.ts): the checks and the password hashing
 * come before the request's transaction (Argon2 takes tens of milliseconds, and no connection is
 * held meanwhile); the functions taking `tx` run in it. Each takes only what it uses.
 */

export type PresentedUser = ReturnType<typeof presentUser>;
export interface TenantRef {
  id: string;
  name: string;
  role: string;
}

/** The rate limits and the lockout (auth.limits.ts). */
export interface LimitsDep {
  limits: AuthRateLimits;
}
export interface HasherDep {
  hasher: Pick<PasswordHasher, 'hash' | 'verify' | 'verifyDummy'>;
}
/** Queues mail in the caller's transaction. */
export interface MailDep {
  mail: Pick<MailOutbox, 'enqueue'>;
}

/** Before the transaction: the per-address limit, the password policy, the hash. */
export async function prepareSignUp(ctx: RequestContext, password: string, deps: LimitsDep & HasherDep): Promise<{ passwordHash: string }> {
  await deps.limits.consumeIp('signup', ctx.ip);
  await assertPasswordPolicy(password);
  return { passwordHash: await deps.hasher.hash(password) };
}

export async function signUp(
  tx: Queryable,
  ctx: RequestContext,
  input: { email: string; passwordHash: string; name: string },
): Promise<{ user: PresentedUser; epoch: number }> {
  const user = await insertUser(tx, { email: input.email, name: input.name, passwordHash: input.passwordHash, now: ctx.now });
  if (!user) throw new AppError('EMAIL_ALREADY_REGISTERED');
  await recordAuditEvent(tx, ctx, null, {
    action: 'auth.signup',
    actor: { type: 'user', id: user.id },
    target: { type: 'user', id: user.id },
  });
  return { user: presentUser(user), epoch: 0 };
}

/** Before any lookup: the per-address login limit and the email's lockout (docs/security.md 6-7). */
export async function assertLoginAllowed(ctx: RequestContext, email: string, deps: LimitsDep): Promise<void> {
  await deps.limits.assertLoginAllowed(ctx.ip);
  const lockedForMs = await deps.limits.lockout.lockedForMs(email);
  if (lockedForMs > 0) {
    throw new AppError('AUTH_LOCKED', { headers: { 'Retry-After': String(Math.ceil(lockedForMs / 1000)) } });
  }
}

/** The outcome of checking a password, before the transaction that records it. */
export type LoginCheck =
  | { ok: true; user: UserWithSecret; rehash: string | null }
  | { ok: false; user: UserWithSecret | null; lockedNowMs: number };

/**
 * Verifies the password against the user found by email (outside any transaction). The
 * unknown-email path runs the same Argon2 work against a dummy hash, so timing does not reveal
 * which emails have accounts. A failure counts towards the limits and the lockout.
 */
export async function verifyLogin(
  ctx: RequestContext,
  password: string,
  user: UserWithSecret | null,
  email: string,
  deps: LimitsDep & HasherDep,
): Promise<LoginCheck> {
  const ok = user ? await deps.hasher.verify(user.password_hash, password) : await deps.hasher.verifyDummy(password);
  if (!user || !ok) {
    await deps.limits.recordLoginFailure(ctx.ip);
    return { ok: false, user, lockedNowMs: await deps.limits.lockout.recordFailure(email) };
  }
  await deps.limits.lockout.reset(email);
  return { ok: true, user, rehash: PasswordHasher.needsRehash(user.password_hash) ? await deps.hasher.hash(password) : null };
}

/**
 * Records the attempt (audit rows, metrics) and, on success, the new hash and the user's latest
 * tenant. A failure returns null: its rows commit and the route then refuses the sign-in.
 */
export async function recordLogin(
  tx: Queryable,
  ctx: RequestContext,
  check: LoginCheck,
): Promise<{ user: PresentedUser; epoch: number; activeTenant: TenantRef | null } | null> {
  const { user } = check;
  if (!check.ok) {
    const actor = user ? { type: 'user' as const, id: user.id } : { type: 'anonymous' as const, id: null };
    const target = user ? { type: 'user', id: user.id } : null;
    await recordAuditEvent(tx, ctx, null, {
      action: 'auth.login.failed',
      actor,
      target,
      metadata: { reason: user ? 'wrong_password' : 'unknown_email' },
    });
    countLoginAttempt(tx, 'failed');
    if (check.lockedNowMs > 0) {
      await recordAuditEvent(tx, ctx, null, {
        action: 'auth.login.locked',
        actor,
        target,
        metadata: { lockedForSeconds: Math.ceil(check.lockedNowMs / 1000) },
      });
      countLockout(tx);
    }
    return null;
  }
  if (check.rehash) await updatePasswordHash(tx, check.user.id, check.rehash, false);
  await recordAuditEvent(tx, ctx, null, {
    action: 'auth.login.succeeded',
    actor: { type: 'user', id: check.user.id },
    target: { type: 'user', id: check.user.id },
    metadata: check.rehash ? { rehashed: true } : {},
  });
  countLoginAttempt(tx, 'succeeded');
  const tenant = await findLatestMembership(tx, check.user.id);
  return { user: presentUser(check.user), epoch: check.user.session_epoch, activeTenant: tenant };
}

export async function recordLogout(tx: Queryable, ctx: RequestContext, userId: string): Promise<void> {
  await recordAuditEvent(tx, ctx, null, { action: 'auth.logout', actor: { type: 'user', id: userId }, target: { type: 'user', id: userId } });
}

/** The signed-in user and their active tenant (null when no longer a member). */
export async function currentAccount(
  tx: Queryable,
  userId: string,
  activeTenantId: string | null,
): Promise<{ user: PresentedUser | null; activeTenant: TenantRef | null }> {
  const user = await findUserById(tx, userId);
  const activeTenant = activeTenantId ? await findOwnMembership(tx, userId, activeTenantId) : null;
  return { user: user ? presentUser(user) : null, activeTenant };
}

export const RESET_TOKEN_LIFETIME_MS = 30 * 60_000;
/** 32 random bytes in base64url: exactly 43 characters from that alphabet. */
const RESET_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** Only this digest is stored (docs/security.md 21); the token itself exists in the mail alone. */
function resetTokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Before a forgot-password answer: only the per-address limit. Whether the email has an account
 * decides nothing the caller can see, not even how long the answer takes: the route answers
 * first and runs issueResetLink after. Requests never touch the login lockout (docs/security.md 8).
 */
export async function limitResetRequests(ctx: RequestContext, deps: LimitsDep): Promise<void> {
  await deps.limits.consumeIp('forgot', ctx.ip);
}

/**
 * Issues a reset token for a known email and queues the mail with its link in the same
 * transaction, so a stored token always has its mail on the way (delivered by the mail worker
 * after the commit, even across a restart); an unknown email gets nothing. A new token voids the
 * older ones. Mails per email are capped (5 an hour).
 */
export async function issueResetLink(
  tx: Queryable,
  ctx: RequestContext,
  email: string,
  deps: LimitsDep & MailDep & { appBaseUrl: string },
): Promise<void> {
  const user = await findUserByEmail(tx, email);
  if (!user) return;
  const token = (await deps.limits.consumeResetMail(user.email)) ? randomBytes(32).toString('base64url') : null;
  if (token) {
    const expiresAt = new Date(ctx.now.getTime() + RESET_TOKEN_LIFETIME_MS);
    await voidResetTokens(tx, user.id, ctx.now);
    await insertResetToken(tx, { userId: user.id, tokenHash: resetTokenDigest(token), expiresAt, now: ctx.now });
    const mail = resetLinkMail(deps.appBaseUrl, user.email, token, RESET_TOKEN_LIFETIME_MS / 60_000);
    // A link delivered after the token expired is of no use: the row is given up on then.
    await deps.mail.enqueue(tx, { ...mail, purpose: 'password_reset', deliverBefore: expiresAt }, ctx.now);
  }
  await recordAuditEvent(tx, ctx, null, {
    action: 'auth.password_reset.requested',
    target: { type: 'user', id: user.id },
    metadata: { mailed: token !== null },
  });
}

/**
 * Before a reset's transaction: the policy, then the token (checked with `usable`, a short
 * lookup, before the expensive hash, so random tokens cannot burn Argon2 time), then the hash.
 */
export async function prepareReset(
  input: { token: string; password: string },
  usable: (tokenHash: string) => Promise<boolean>,
  deps: HasherDep,
): Promise<{ tokenHash: string; passwordHash: string }> {
  await assertPasswordPolicy(input.password);
  if (!RESET_TOKEN_RE.test(input.token)) throw new AppError('RESET_TOKEN_INVALID');
  const tokenHash = resetTokenDigest(input.token);
  if (!(await usable(tokenHash))) throw new AppError('RESET_TOKEN_INVALID');
  return { tokenHash, passwordHash: await deps.hasher.hash(input.password) };
}

/**
 * Sets the new password: the token is consumed atomically in this transaction; the epoch bump
 * ends every session of the user, and the lockout is lifted. The caller is not signed in.
 */
export async function resetPassword(
  tx: Queryable,
  ctx: RequestContext,
  input: { tokenHash: string; passwordHash: string },
  deps: LimitsDep & MailDep,
): Promise<void> {
  const userId = await consumeResetToken(tx, input.tokenHash, ctx.now);
  if (!userId) throw new AppError('RESET_TOKEN_INVALID');
  await updatePasswordHash(tx, userId, input.passwordHash, true);
  await voidResetTokens(tx, userId, ctx.now);
  const user = await findUserById(tx, userId);
  if (!user) throw new AppError('RESET_TOKEN_INVALID');
  await recordAuditEvent(tx, ctx, null, {
    action: 'auth.password_reset.completed',
    actor: { type: 'user', id: userId },
    target: { type: 'user', id: userId },
  });
  await deps.mail.enqueue(tx, { ...passwordChangedMail(user.email, 'reset'), purpose: 'password_changed' }, ctx.now);
  // Inside the transaction: if the lockout store is down the reset rolls back and the token
  // stays usable, rather than leaving a reset account still locked.
  await deps.limits.lockout.reset(user.email);
}

/** Before a password change's transaction: the policy, the current password, the new hash. */
export async function prepareChange(
  input: { currentPassword: string; newPassword: string },
  findUser: () => Promise<UserWithSecret | null>,
  deps: HasherDep,
): Promise<{ email: string; passwordHash: string }> {
  await assertPasswordPolicy(input.newPassword);
  const user = await findUser();
  if (!user) throw new AppError('AUTH_REQUIRED');
  if (!(await deps.hasher.verify(user.password_hash, input.currentPassword))) throw new AppError('AUTH_INVALID_CREDENTIALS');
  return { email: user.email, passwordHash: await deps.hasher.hash(input.newPassword) };
}

/**
 * Changes the signed-in user's password. Returns the new session epoch: every other session of
 * the user ends, the caller's session is carried over to it.
 */
export async function changePassword(
  tx: Queryable,
  ctx: RequestContext,
  input: { userId: string; email: string; passwordHash: string },
  deps: MailDep,
): Promise<number> {
  const next = await updatePasswordHash(tx, input.userId, input.passwordHash, true);
  await voidResetTokens(tx, input.userId, ctx.now);
  await recordAuditEvent(tx, ctx, null, { action: 'auth.password.changed', target: { type: 'user', id: input.userId } });
  await deps.mail.enqueue(tx, { ...passwordChangedMail(input.email, 'change'), purpose: 'password_changed' }, ctx.now);
  return next;
}
