import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { userIdOf, type RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import type { MailOutbox } from '../../platform/mail/outbox.js';
import type { Role } from '../../platform/rbac/roles.js';
import {
  consumeInvite,
  findInvite,
  findInviteByTokenHash,
  insertInvite,
  listPendingInvitePage,
  revokePendingInvite,
  userEmail,
  type InviteRole,
  type InviteRow,
} from './invites.queries.js';
import { isMemberByEmail } from './members.queries.js';
import { insertMembership, tenantName } from './tenants.queries.js';

export const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** 32 random bytes (256 bits), base64url: the only copy goes into the emailed link. */
function newInviteToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Only this digest is stored; a database leak yields no usable link. */
export function inviteTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function isPending(i: InviteRow, now: Date): boolean {
  return i.accepted_at === null && i.revoked_at === null && i.expires_at > now;
}

function presentInvite(i: InviteRow) {
  return {
    id: i.id,
    email: i.email,
    role: i.role,
    expiresAt: i.expires_at.toISOString(),
    createdAt: i.created_at.toISOString(),
    revokedAt: i.revoked_at ? i.revoked_at.toISOString() : null,
  };
}

/** POST invites (members.invite already enforced by the route): stores the hash, mails the link. */
export async function createInvite(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  input: { email: string; role: InviteRole },
  deps: { mail: Pick<MailOutbox, 'enqueue'>; appBaseUrl: string },
) {
  if (await isMemberByEmail(tx, tenantId, input.email)) throw new AppError('ALREADY_MEMBER');
  const token = newInviteToken();
  const invite = await insertInvite(tx, {
    tenantId,
    id: randomUUID(),
    email: input.email,
    role: input.role,
    tokenHash: inviteTokenHash(token),
    invitedBy: userIdOf(ctx.principal),
    expiresAt: new Date(ctx.now.getTime() + INVITE_TTL_MS),
    now: ctx.now,
  });
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'invite.created',
    target: { type: 'invite', id: invite.id },
    metadata: { email: invite.email, role: invite.role },
  });
  // The tenant name is user input; no control character may reach the mail's subject header.
  const name = ((await tenantName(tx, tenantId)) ?? 'a tenant').replace(/\p{Cc}+/gu, ' ');
  const link = `${deps.appBaseUrl}/accept-invite?token=${encodeURIComponent(token)}`;
  // A row in this transaction: a rolled-back invite sends nothing; the worker delivers it after
  // the commit.
  await deps.mail.enqueue(tx, {
    purpose: 'invite',
    deliverBefore: invite.expires_at,
    to: invite.email,
    subject: `You are invited to join ${name}`,
    text:
      `You have been invited to join ${name} as ${invite.role}.\n\n` +
      `Accept the invite (sign in with ${invite.email}):\n${link}\n\n` +
      `The link works once and expires on ${invite.expires_at.toISOString()}.`,
  }, ctx.now);
  return presentInvite(invite);
}

/** GET invites: pending only, at the request's clock. */
export async function listInvites(tx: Queryable, ctx: RequestContext, tenantId: string, query: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(query);
  return pageOf(await listPendingInvitePage(tx, tenantId, ctx.now, page), page, presentInvite);
}

/** Revoke: load (404), authorize (403), then revoke only a pending invite (else 410). */
export async function revokeInvite(tx: Queryable, ctx: RequestContext, tenantId: string, inviteId: string) {
  const invite = await findInvite(tx, tenantId, inviteId);
  if (!invite) throw new AppError('NOT_FOUND');
  enforce('members.invite', { tenantId }, ctx);
  const revoked = await revokePendingInvite(tx, tenantId, inviteId, ctx.now);
  if (!revoked) throw new AppError('INVITE_EXPIRED');
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'invite.revoked',
    target: { type: 'invite', id: inviteId },
    metadata: { email: revoked.email, role: revoked.role },
  });
  return presentInvite(revoked);
}

/**
 * Accept, first step: find the invite by its token hash (`tx` is the lookup transaction of the
 * one narrow cross-tenant policy, `inviteByTokenHash`) and check it is addressed to this account
 * and still pending. Returns the invite, whose tenant the accepting transaction opens in.
 */
export async function findAcceptableInvite(tx: Queryable, ctx: RequestContext, input: { userId: string; tokenHash: string }): Promise<InviteRow> {
  const [invite, email] = await Promise.all([findInviteByTokenHash(tx, input.tokenHash), userEmail(tx, input.userId)]);
  if (!invite) throw new AppError('NOT_FOUND');
  if (invite.email !== email) throw new AppError('INVITE_EMAIL_MISMATCH');
  if (!isPending(invite, ctx.now)) throw new AppError('INVITE_EXPIRED');
  return invite;
}

/**
 * Accept: consume the invite and create the membership (`tx` is in the invite's tenant). The
 * consuming UPDATE is the single point of truth under concurrency.
 */
export async function acceptInvite(tx: Queryable, ctx: RequestContext, input: { userId: string; invite: InviteRow }) {
  const { userId, invite } = input;
  const tenantId = invite.tenant_id;
  const consumed = await consumeInvite(tx, tenantId, invite.id, userId, ctx.now);
  if (!consumed) throw new AppError('INVITE_EXPIRED');
  const role: Role = consumed.role;
  // An existing member keeps their role; throwing rolls the consumption back, so the invite
  // stays pending.
  if (!(await insertMembership(tx, { tenantId, userId, role, now: ctx.now }))) throw new AppError('ALREADY_MEMBER');
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'invite.accepted',
    target: { type: 'invite', id: invite.id },
    metadata: { role },
  });
  const name = await tenantName(tx, tenantId);
  if (name === null) throw new AppError('NOT_FOUND');
  return { id: tenantId, name, role };
}
