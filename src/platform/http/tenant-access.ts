import type { Request } from 'express';
import type { Queryable, TxLookup, TxSettings } from '../db/database.js';
import type { Role, Scope } from '../rbac/roles.js';
import { destroySession } from '../session/session.js';
import { sessionOf, type Caller } from './caller.js';
import type { RequestContext } from './context.js';
import { AppError } from './errors.js';

export interface ApiKeyIdentity {
  tenantId: string;
  apiKeyId: string;
  serviceAccountId: string;
  scopes: readonly Scope[];
}

/** Supplied by the api-keys feature: a presented key's lookup and its authentication. */
export interface ApiKeyAuthority {
  /**
   * A key's public id for the transaction settings and the lookup of its row, which also switches
   * the transaction to the key's tenant. Throws API_KEY_INVALID for a malformed key.
   */
  opening(key: string): { apiKeyPublicId: string; lookup: TxLookup };
  /** Checks the key against the lookup's rows (secret, revocation, expiry); throws API_KEY_INVALID. */
  authenticate(tx: Queryable, key: string, now: Date, rows: readonly Record<string, unknown>[]): Promise<ApiKeyIdentity>;
}

export interface TenantAccessDeps {
  apiKeys: ApiKeyAuthority;
  /** Supplied by the tenants feature: the user's session epoch and role in the tenant, as one row. */
  membershipLookup(userId: string, tenantId: string): TxLookup;
}

/** A caller of a tenant route and the tenant it names (an API key names its own, found by its lookup). */
export type TenantCaller = { type: 'api_key'; key: string } | { type: 'user'; userId: string; tenantId: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Step: the tenant a request names: `:tenantId` in the path (a malformed one is 404), else the
 * session's active tenant. Without one, a session ended elsewhere is still 401 (as with a tenant
 * active), not an invitation to choose a tenant.
 */
export async function tenantCaller(
  req: Request,
  caller: Exclude<Caller, { type: 'anonymous' }>,
  mode: 'active' | 'path',
  sessionCurrent: (userId: string) => Promise<boolean>,
): Promise<TenantCaller> {
  let tenantId: string | undefined;
  if (mode === 'path') {
    tenantId = (req.params as Record<string, string | undefined>).tenantId;
    if (!tenantId || !UUID_RE.test(tenantId)) throw new AppError('NOT_FOUND');
  }
  if (caller.type === 'api_key') return caller;
  tenantId ??= sessionOf(req)?.activeTenantId ?? undefined;
  if (tenantId) return { type: 'user', userId: caller.userId, tenantId };
  if (!(await sessionCurrent(caller.userId))) throw new AppError('AUTH_REQUIRED');
  throw new AppError('TENANT_CONTEXT_REQUIRED');
}

/** The request transaction's settings, with the caller's identity lookup first among its lookups. */
export function identityOpening(caller: TenantCaller, deps: TenantAccessDeps): TxSettings {
  if (caller.type === 'api_key') {
    const { apiKeyPublicId, lookup } = deps.apiKeys.opening(caller.key);
    return { tenantId: null, userId: null, apiKeyPublicId, lookups: [lookup] };
  }
  return { tenantId: caller.tenantId, userId: caller.userId, lookups: [deps.membershipLookup(caller.userId, caller.tenantId)] };
}

/**
 * Step: identity, from the identity lookup's rows: the key's service account and tenant, or the
 * user's role in the tenant. Sets `ctx.principal` and `ctx.tenant`; returns the tenant id.
 */
export async function identify(
  tx: Queryable,
  rows: readonly Record<string, unknown>[],
  caller: TenantCaller,
  req: Request,
  mode: 'active' | 'path',
  deps: TenantAccessDeps,
  ctx: RequestContext,
): Promise<string> {
  if (caller.type === 'api_key') {
    const key = await deps.apiKeys.authenticate(tx, caller.key, ctx.now, rows);
    ctx.principal = { type: 'service_account', serviceAccountId: key.serviceAccountId, apiKeyId: key.apiKeyId, scopes: key.scopes };
    ctx.tenant = { id: key.tenantId, role: null };
    return key.tenantId;
  }
  ctx.principal = { type: 'user', userId: caller.userId };
  ctx.tenant = { id: caller.tenantId, role: await membershipRole(req, rows, mode) };
  return caller.tenantId;
}

/**
 * The user's role in the tenant: a stale epoch ends the session; no membership is 404 for a tenant
 * named in the path, and clears a stale active tenant otherwise.
 */
async function membershipRole(req: Request, rows: readonly Record<string, unknown>[], mode: 'active' | 'path'): Promise<Role> {
  const row = rows[0] as { role: Role | null; session_epoch: number } | undefined;
  if (!row || row.session_epoch !== req.session.epoch) {
    await destroySession(req);
    throw new AppError('AUTH_REQUIRED');
  }
  if (row.role === null) {
    if (mode === 'path') throw new AppError('NOT_FOUND');
    req.session.activeTenantId = null;
    throw new AppError('TENANT_CONTEXT_REQUIRED');
  }
  return row.role;
}
