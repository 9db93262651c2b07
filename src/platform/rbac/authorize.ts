import { AppError } from '../http/errors.js';
import type { RequestContext } from '../http/context.js';
import type { Action, Role, Scope } from './roles.js';

/**
 * The one role table (docs/api-guide.md, "Tenants, members and roles"). A role or scope absent from an action's
 * entry is denied: deny by default.
 */
const TABLE: Record<Action, { roles: readonly Role[]; scopes: readonly Scope[] }> = {
  // Being a member at all: switch to the tenant, list it.
  'tenants.access': { roles: ['owner', 'admin', 'member', 'viewer'], scopes: [] },
  'incidents.read': { roles: ['owner', 'admin', 'member', 'viewer'], scopes: ['read', 'write'] },
  'incidents.write': { roles: ['owner', 'admin', 'member'], scopes: ['write'] },
  'members.read': { roles: ['owner', 'admin', 'member', 'viewer'], scopes: [] },
  'members.invite': { roles: ['owner', 'admin'], scopes: [] },
  'members.manage': { roles: ['owner', 'admin'], scopes: [] },
  'api_keys.manage': { roles: ['owner', 'admin'], scopes: [] },
  'audit_log.read': { roles: ['owner', 'admin'], scopes: [] },
  'billing.read': { roles: ['owner', 'admin'], scopes: [] },
  'webhooks.manage': { roles: ['owner', 'admin'], scopes: [] },
  'alert_sources.manage': { roles: ['owner', 'admin'], scopes: [] },
};

/**
 * What the action is applied to. `tenantId` must be the caller's tenant (objects of other
 * tenants were already answered 404 by the loader). For members.manage, `targetRole` and
 * `newRole` let the table say that only owners touch owners.
 */
export interface Resource {
  tenantId: string;
  targetRole?: Role;
  newRole?: Role;
}

export interface AuthzSubject {
  kind: 'user' | 'service_account' | 'anonymous';
  tenantId: string | null;
  role: Role | null;
  scopes: readonly Scope[];
}

export type Decision =
  | { allowed: true; reason: string }
  | { allowed: false; reason: string; code: 'FORBIDDEN' | 'INSUFFICIENT_SCOPE' | 'AUTH_REQUIRED' };

/** Pure decision function over the role table. */
export function authorize(action: Action, resource: Resource, subject: AuthzSubject): Decision {
  const rule = TABLE[action] as (typeof TABLE)[Action] | undefined;
  // An action outside the table (only reachable through a cast) is denied, never thrown.
  if (!rule) return { allowed: false, reason: `unknown action ${action}`, code: 'FORBIDDEN' };
  if (subject.kind === 'anonymous') return { allowed: false, reason: 'not authenticated', code: 'AUTH_REQUIRED' };
  if (subject.tenantId === null || subject.tenantId !== resource.tenantId) {
    return { allowed: false, reason: 'resource is outside the caller tenant', code: 'FORBIDDEN' };
  }
  if (subject.kind === 'service_account') {
    const scope = subject.scopes.find((s) => rule.scopes.includes(s));
    return scope
      ? { allowed: true, reason: `scope ${scope} grants ${action}` }
      : { allowed: false, reason: `no scope of [${subject.scopes.join(', ')}] grants ${action}`, code: 'INSUFFICIENT_SCOPE' };
  }
  const role = subject.role;
  if (role === null || !rule.roles.includes(role)) {
    return { allowed: false, reason: `role ${role ?? 'none'} lacks ${action}`, code: 'FORBIDDEN' };
  }
  if (action === 'members.manage' && role !== 'owner' && (resource.targetRole === 'owner' || resource.newRole === 'owner')) {
    return { allowed: false, reason: 'only owners change or remove owners', code: 'FORBIDDEN' };
  }
  return { allowed: true, reason: `role ${role} grants ${action}` };
}

export function subjectOf(ctx: RequestContext): AuthzSubject {
  const p = ctx.principal;
  return {
    kind: p.type,
    tenantId: ctx.tenant?.id ?? null,
    role: ctx.tenant?.role ?? null,
    scopes: p.type === 'service_account' ? p.scopes : [],
  };
}

/** Authorises or throws the decision's 403; records the action as checked for the route audit. */
export function enforce(action: Action, resource: Resource, ctx: RequestContext): void {
  const decision = authorize(action, resource, subjectOf(ctx));
  ctx.authorized.add(action);
  if (!decision.allowed) throw new AppError(decision.code);
}
