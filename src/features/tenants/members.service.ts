import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import type { Role } from '../../platform/rbac/roles.js';
import { deleteMember, findMemberForUpdate, listMemberPage, lockOwners, updateMemberRole, type MemberRow } from './members.queries.js';

function presentMember(m: MemberRow) {
  return {
    user: { id: m.user_id, email: m.email, name: m.name, createdAt: m.user_created_at.toISOString() },
    role: m.role,
    joinedAt: m.created_at.toISOString(),
  };
}

/** GET members: the route has already enforced members.read on the path tenant. */
export async function listMembers(tx: Queryable, tenantId: string, query: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(query);
  return pageOf(await listMemberPage(tx, tenantId, page), page, presentMember);
}

/**
 * Loads the target membership for a change (404 when it is not in this tenant, the same answer
 * as for a random id), after locking the tenant's owner rows so the last-owner rule cannot be
 * raced. Returns the target and whether any owner other than the target remains.
 */
async function loadTarget(tx: Queryable, tenantId: string, userId: string): Promise<{ target: MemberRow; otherOwners: boolean }> {
  const owners = await lockOwners(tx, tenantId);
  const target = await findMemberForUpdate(tx, tenantId, userId);
  if (!target) throw new AppError('NOT_FOUND');
  return { target, otherOwners: owners.some((id) => id !== userId) };
}

/** PATCH a member's role: admins may not touch owners nor make owners; an owner must remain. */
export async function changeMemberRole(tx: Queryable, ctx: RequestContext, tenantId: string, userId: string, role: Role) {
  const { target, otherOwners } = await loadTarget(tx, tenantId, userId);
  enforce('members.manage', { tenantId, targetRole: target.role, newRole: role }, ctx);
  if (target.role === role) return presentMember(target);
  if (target.role === 'owner' && !otherOwners) throw new AppError('LAST_OWNER');
  await updateMemberRole(tx, tenantId, userId, role);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'member.role_changed',
    target: { type: 'user', id: userId },
    metadata: { from: target.role, to: role },
  });
  return presentMember({ ...target, role });
}

/**
 * DELETE a member: members.manage (admins not on owners), or any member removing themself. The
 * removed user's sessions lose the tenant on their next request (the route wrapper re-checks
 * membership every time).
 */
export async function removeMember(tx: Queryable, ctx: RequestContext, tenantId: string, userId: string): Promise<void> {
  const { target, otherOwners } = await loadTarget(tx, tenantId, userId);
  const self = ctx.principal.type === 'user' && ctx.principal.userId === userId;
  if (self) {
    // Leaving is open to every role (docs/api-guide.md: members may remove others, or leave themselves). Membership of this
    // tenant is what the decision rests on, so it goes through the role table as tenants.access,
    // and the declared members.manage is then satisfied by the self rule.
    enforce('tenants.access', { tenantId }, ctx);
    ctx.authorized.add('members.manage');
  } else {
    enforce('members.manage', { tenantId, targetRole: target.role }, ctx);
  }
  if (target.role === 'owner' && !otherOwners) throw new AppError('LAST_OWNER');
  await deleteMember(tx, tenantId, userId);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'member.removed',
    target: { type: 'user', id: userId },
    metadata: { role: target.role, selfRemoval: self },
  });
}
