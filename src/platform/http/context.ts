import type { Role, Scope } from '../rbac/roles.js';

export type Principal =
  | { type: 'anonymous' }
  | { type: 'user'; userId: string }
  | { type: 'service_account'; serviceAccountId: string; apiKeyId: string; scopes: readonly Scope[] };

export interface TenantContext {
  id: string;
  /** The caller's membership role; null for a service account (its scopes decide). */
  role: Role | null;
}

/** What a service needs to know about the caller. Services never see Express types. */
export interface RequestContext {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
  principal: Principal;
  tenant: TenantContext | null;
  now: Date;
  /** Actions authorised during this request; the route wrapper checks the declared one is here. */
  authorized: Set<string>;
}

export interface Actor {
  type: 'user' | 'service_account' | 'anonymous' | 'system' | 'alert_source';
  id: string | null;
}

export function actorOf(principal: Principal): Actor {
  switch (principal.type) {
    case 'user':
      return { type: 'user', id: principal.userId };
    case 'service_account':
      return { type: 'service_account', id: principal.serviceAccountId };
    case 'anonymous':
      return { type: 'anonymous', id: null };
  }
}

/** The user id of a signed-in caller, for RLS's app.user_id; null for keys and anonymous. */
export function userIdOf(principal: Principal): string | null {
  return principal.type === 'user' ? principal.userId : null;
}
