import { createHash, randomBytes } from 'node:crypto';
import type { FeatureDeps } from '../../deps.js';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import { withAccountTx } from '../../platform/db/tx.js';
import { countLockout, countLoginAttempt } from '../../platform/telemetry/metrics.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { PasswordHasher, assertPasswordPolicy } from './auth.passwords.js';
import { passwordChangedMail, resetLinkMail } from './auth.mails.js';
import { consumeResetToken, findLatestMembership, findOwnMembership, findUserByEmail, findUserById, insertResetToken, insertUser, resetTokenUsable, updatePasswordHash, voidResetTokens } from './auth.queries.js';
import { presentUser } from './auth.schema.js';

export type PresentedUser = ReturnType<typeof presentUser>;
export interface TenantRef {
  id: string;
  name: string;
  role: string;
}

export async function signUp(
  deps: FeatureDeps,
  ctx: RequestContext,
  input: { email: string; password: string; name: string },
): Promise<{ user: PresentedUser; epoch: number }> {
  await deps.limits.consumeIp('signup', ctx.ip);
  await assertPasswordPolicy(input.password);
  const passwordHash = await deps.hasher.hash(input.password);
  return withAccountTx(deps.db, null, async (tx) => {
    const user = await insertUser(tx, { email: input.email, name: input.name, passwordHash, now: ctx.now });
    if (!user) throw new AppError('EMAIL_ALREADY_REGISTERED');
    await recordAuditEvent(tx, ctx, null, {
      action: 'auth.signup',
      actor: { type: 'user', id: user.id },
      target: { type: 'user', id: user.id },
    });
    return { user: presentUser(user), epoch: 0 };
  });
}

/**
 * Verifies credentials with the lockout rules of docs/security.md 6-7. The password hash is checked
 * outside any transaction (it takes tens of milliseconds), and the unknown-email path runs the
 * same Argon2 work against a dummy hash so timing does not reveal which emails have accounts.
 */
export async function logIn(
  deps: FeatureDeps,
  ctx: RequestContext,
  input: { email: string; password: string },
): Promise<{ user: PresentedUser; epoch: number; activeTenant: TenantRef | null }> {
  await deps.limits.assertLoginAllowed(ctx.ip);
  const lockedForMs = await deps.limits.lockout.lockedForMs(input.email);
  if (lockedForMs > 0) {
    throw new AppError('AUTH_LOCKED', { headers: { 'Retry-After': String(Math.ceil(lockedForMs / 1000)) } });
  }
  const user = await withAccountTx(deps.db, null, (tx) => findUserByEmail(tx, input.email));
  const ok = user ? await deps.hasher.verify(user.password_hash, input.password) : await deps.hasher.verifyDummy(input.password);

  if (!user || !ok) {
    await deps.limits.recordLoginFailure(ctx.ip);
    const lockedNowMs = await deps.limits.lockout.recordFailure(input.email);
    await withAccountTx(deps.db, null, async (tx) => {
      await recordAuditEvent(tx, ctx, null, {
        action: 'auth.login.failed',
        actor: user ? { type: 'user', id: user.id } : { type: 'anonymous', id: null },
        target: user ? { type: 'user', id: user.id } : null,
        metadata: { reason: user ? 'wrong_password' : 'unknown_email' },
      });
      countLoginAttempt(tx, 'failed');
      if (lockedNowMs > 0) {
        await recordAuditEvent(tx, ctx, null, {
          action: 'auth.login.locked',
          actor: user ? { type: 'user', id: user.id } : { type: 'anonymous', id: null },
          target: user ? { type: 'user', id: user.id } : null,
          metadata: { lockedForSeconds: Math.ceil(lockedNowMs / 1000) },
        });
        countLockout(tx);
      }
    });
    throw new AppError('AUTH_INVALID_CREDENTIALS');
  }

  await deps.limits.lockout.reset(input.email);
  const rehash = PasswordHasher.needsRehash(user.password_hash) ? await deps.hasher.hash(input.password) : null;
  return withAccountTx(deps.db, user.id, async (tx) => {
    if (rehash) await updatePasswordHash(tx, user.id, rehash, false);
    await recordAuditEvent(tx, ctx, null, {
      action: 'auth.login.succeeded',
      actor: { type: 'user', id: user.id },
      target: { type: 'user', id: user.id },
      metadata: rehash ? { rehashed: true } : {},
    });
    countLoginAttempt(tx, 'succeeded');
    const tenant = await findLatestMembership(tx, user.id);
    return { user: presentUser(user), epoch: user.session_epoch, activeTenant: tenant };
  });
}

export async function recordLogout(deps: FeatureDeps, ctx: RequestContext, userId: string): Promise<void> {
  await withAccountTx(deps.db, userId, (tx) =>
    recordAuditEvent(tx, ctx, null, { action: 'auth.logout', actor: { type: 'user', id: userId }, target: { type: 'user', id: userId } }),
  );
}

/** The signed-in user and their active tenant (null when no longer a member), in one transaction. */
export async function currentAccount(
  deps: FeatureDeps,
  userId: string,
  activeTenantId: string | null,
): Promise<{ user: PresentedUser | null; activeTenant: TenantRef | null }> {
  return withAccountTx(deps.db, userId, async (tx) => {
    const user = await findUserById(tx, userId);
    const activeTenant = activeTenantId ? await findOwnMembership(tx, userId, activeTenantId) : null;
    return { user: user ? presentUser(user) : null, activeTenant };
  });
}

export const RESET_TOKEN_LIFETIME_MS = 30 * 60_000;
/** 32 random bytes in base64url: exactly 43 characters from that alphabet. */
const RESET_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** Only this digest is stored (docs/security.md 21); the token itself exists in the mail alone. */
function resetTokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Answers a forgot-password request. Only the per-address limit is checked before the answer:
 * whether the email has an account decides nothing the caller can see, not even how long the
 * answer takes, because the lookup, the token and the mail all come after it (issueResetLink). Mails per email are capped (5
 * an hour); requests never touch the login lockout (docs/security.md 8).
 */
export async function requestPasswordReset(deps: FeatureDeps, ctx: RequestContext, input: { email: string }): Promise<void> {
  await deps.limits.consumeIp('forgot', ctx.ip);
  deps.afterResponse.run('password reset request', () => issueResetLink(deps, ctx, input.email));
}

/**
 * Issues a reset token for a known email and queues the mail with its link in the same
 * transaction, so a stored token always has its mail on the way (delivered by the mail worker
 * after the commit, even across a restart); an unknown email gets nothing. A new token voids the
 * older ones. Mails per email are capped (5 an hour); requests never touch the login lockout
 * (docs/security.md 8).
 */
async function issueResetLink(deps: FeatureDeps, ctx: RequestContext, email: string): Promise<void> {
  const user = await withAccountTx(deps.db, null, (tx) => findUserByEmail(tx, email));
  if (!user) return;
  const token = (await deps.limits.consumeResetMail(user.email)) ? randomBytes(32).toString('base64url') : null;
  await withAccountTx(deps.db, null, async (tx) => {
    if (token) {
      const expiresAt = new Date(ctx.now.getTime() + RESET_TOKEN_LIFETIME_MS);
      await voidResetTokens(tx, user.id, ctx.now);
      await insertResetToken(tx, { userId: user.id, tokenHash: resetTokenDigest(token), expiresAt, now: ctx.now });
      const mail = resetLinkMail(deps.config.appBaseUrl, user.email, token, RESET_TOKEN_LIFETIME_MS / 60_000);
      // A link delivered after the token expired is of no use: the row is given up on then.
      await deps.mail.enqueue(tx, { ...mail, purpose: 'password_reset', deliverBefore: expiresAt }, ctx.now);
    }
    await recordAuditEvent(tx, ctx, null, {
      action: 'auth.password_reset.requested',
      target: { type: 'user', id: user.id },
      metadata: { mailed: token !== null },
    });
  });
}

/**
 * Sets a new password with an emailed token. The token is checked before the (expensive) hash so
 * random tokens cannot burn Argon2 time, then consumed atomically in the transaction that changes
 * the password; the epoch bump ends every session of the user, and the lockout is lifted. The
 * caller is not signed in.
 */
export async function resetPassword(deps: FeatureDeps, ctx: RequestContext, input: { token: string; password: string }): Promise<void> {
  await assertPasswordPolicy(input.password);
  if (!RESET_TOKEN_RE.test(input.token)) throw new AppError('RESET_TOKEN_INVALID');
  const tokenHash = resetTokenDigest(input.token);
  if (!(await withAccountTx(deps.db, null, (tx) => resetTokenUsable(tx, tokenHash, ctx.now)))) {
    throw new AppError('RESET_TOKEN_INVALID');
  }
  const passwordHash = await deps.hasher.hash(input.password);
  await withAccountTx(deps.db, null, async (tx) => {
    const userId = await consumeResetToken(tx, tokenHash, ctx.now);
    if (!userId) throw new AppError('RESET_TOKEN_INVALID');
    await updatePasswordHash(tx, userId, passwordHash, true);
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
  });
}

/**
 * Changes the signed-in user's password after checking the current one. Returns the new session
 * epoch: every other session of the user ends, the caller's session is carried over to it.
 */
export async function changePassword(
  deps: FeatureDeps,
  ctx: RequestContext,
  userId: string,
  input: { currentPassword: string; newPassword: string },
): Promise<number> {
  await assertPasswordPolicy(input.newPassword);
  const user = await withAccountTx(deps.db, userId, (tx) => findUserById(tx, userId));
  if (!user) throw new AppError('AUTH_REQUIRED');
  if (!(await deps.hasher.verify(user.password_hash, input.currentPassword))) throw new AppError('AUTH_INVALID_CREDENTIALS');
  const passwordHash = await deps.hasher.hash(input.newPassword);
  const epoch = await withAccountTx(deps.db, userId, async (tx) => {
    const next = await updatePasswordHash(tx, userId, passwordHash, true);
    await voidResetTokens(tx, userId, ctx.now);
    await recordAuditEvent(tx, ctx, null, { action: 'auth.password.changed', target: { type: 'user', id: userId } });
    await deps.mail.enqueue(tx, { ...passwordChangedMail(user.email, 'change'), purpose: 'password_changed' }, ctx.now);
    return next;
  });
  return epoch;
}
