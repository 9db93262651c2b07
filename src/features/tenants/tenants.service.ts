import { randomUUID } from 'node:crypto';
import type { FeatureDeps } from '../../deps.js';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { withAccountTx, withTenantTx } from '../../platform/db/tx.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import type { TenantRef } from '../auth/auth.service.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { insertMembership, insertTenant, listMyTenants, tenantName } from './tenants.queries.js';

export async function listTenants(deps: FeatureDeps, userId: string, query: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(query);
  const rows = await withAccountTx(deps.db, userId, (tx) => listMyTenants(tx, userId, page));
  return pageOf(rows, page, (r) => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at.toISOString() }));
}

/**
 * Creates a tenant with the caller as its owner, in one transaction with its audit row and
 * whatever `alsoInTx` writes (the idempotent response).
 */
export async function createTenant(
  deps: FeatureDeps,
  ctx: RequestContext,
  userId: string,
  input: { name: string },
  alsoInTx: (tx: Queryable, created: TenantRef) => Promise<void>,
): Promise<TenantRef> {
  const id = randomUUID();
  return withTenantTx(deps.db, { tenantId: id, userId }, async (tx) => {
    await insertTenant(tx, { id, name: input.name, now: ctx.now });
    await insertMembership(tx, { tenantId: id, userId, role: 'owner', now: ctx.now });
    await recordAuditEvent(tx, ctx, id, { action: 'tenant.created', target: { type: 'tenant', id }, metadata: { name: input.name } });
    const created = { id, name: input.name, role: 'owner' as const };
    await alsoInTx(tx, created);
    return created;
  });
}

/** The caller's TenantRef for a tenant they belong to (membership already checked by the route). */
export async function tenantRef(tx: Queryable, ctx: RequestContext, tenantId: string) {
  const name = await tenantName(tx, tenantId);
  if (name === null || !ctx.tenant?.role) throw new AppError('NOT_FOUND');
  return { id: tenantId, name, role: ctx.tenant.role };
}
