import type { FeatureDeps } from '../../app.js';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import { withAccountTx } from '../../platform/db/tx.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { PasswordHasher, assertPasswordPolicy } from './auth.passwords.js';
import { findLatestMembership, findUserByEmail, findUserById, insertUser, updatePasswordHash } from './auth.queries.js';
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
  assertPasswordPolicy(input.password);
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
 * Verifies credentials with the lockout rules of SECURITY.md 6-7. The password hash is checked
 * outside any transaction (it takes tens of milliseconds), and the unknown-email path runs the
 * same Argon2 work against a dummy hash so timing does not reveal which emails have accounts.
 */
export async function logIn(
  deps: FeatureDeps,
  ctx: RequestContext,
  input: { email: string; password: string },
): Promise<{ user: PresentedUser; epoch: number; activeTenant: TenantRef | null }> {
  await deps.limits.consumeIp('login', ctx.ip);
  const lockedForMs = await deps.limits.lockout.lockedForMs(input.email);
  if (lockedForMs > 0) {
    throw new AppError('AUTH_LOCKED', { headers: { 'Retry-After': String(Math.ceil(lockedForMs / 1000)) } });
  }
  const user = await withAccountTx(deps.db, null, (tx) => findUserByEmail(tx, input.email));
  const ok = user ? await deps.hasher.verify(user.password_hash, input.password) : await deps.hasher.verifyDummy(input.password);

  if (!user || !ok) {
    const lockedNowMs = await deps.limits.lockout.recordFailure(input.email);
    await withAccountTx(deps.db, null, async (tx) => {
      await recordAuditEvent(tx, ctx, null, {
        action: 'auth.login.failed',
        actor: user ? { type: 'user', id: user.id } : { type: 'anonymous', id: null },
        target: user ? { type: 'user', id: user.id } : null,
        metadata: { reason: user ? 'wrong_password' : 'unknown_email' },
      });
      if (lockedNowMs > 0) {
        await recordAuditEvent(tx, ctx, null, {
          action: 'auth.login.locked',
          actor: user ? { type: 'user', id: user.id } : { type: 'anonymous', id: null },
          target: user ? { type: 'user', id: user.id } : null,
          metadata: { lockedForSeconds: Math.ceil(lockedNowMs / 1000) },
        });
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
    const tenant = await findLatestMembership(tx, user.id);
    return { user: presentUser(user), epoch: user.session_epoch, activeTenant: tenant };
  });
}

export async function recordLogout(deps: FeatureDeps, ctx: RequestContext, userId: string): Promise<void> {
  await withAccountTx(deps.db, userId, (tx) =>
    recordAuditEvent(tx, ctx, null, { action: 'auth.logout', actor: { type: 'user', id: userId }, target: { type: 'user', id: userId } }),
  );
}

export async function currentUser(deps: FeatureDeps, userId: string): Promise<PresentedUser | null> {
  const user = await withAccountTx(deps.db, userId, (tx) => findUserById(tx, userId));
  return user ? presentUser(user) : null;
}
