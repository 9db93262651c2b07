import { randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import type { TenantRef } from '../auth/auth.service.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { insertMembership, insertTenant, listMyTenants, tenantName } from './tenants.queries.js';

export async function listTenants(tx: Queryable, userId: string, query: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(query);
  const rows = await listMyTenants(tx, userId, page);
  return pageOf(rows, page, (r) => ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at.toISOString() }));
}

/** A new tenant's id, chosen before its transaction, which opens in that tenant. */
export function newTenantId(): string {
  return randomUUID();
}

/** Creates a tenant with the caller as its owner, with its audit row (`tx` is in tenant `id`). */
export async function createTenant(
  tx: Queryable,
  ctx: RequestContext,
  input: { id: string; userId: string; name: string },
): Promise<TenantRef> {
  const { id, userId, name } = input;
  await insertTenant(tx, { id, name, now: ctx.now });
  await insertMembership(tx, { tenantId: id, userId, role: 'owner', now: ctx.now });
  await recordAuditEvent(tx, ctx, id, { action: 'tenant.created', target: { type: 'tenant', id }, metadata: { name } });
  return { id, name, role: 'owner' };
}

/** The caller's TenantRef for a tenant they belong to (membership already checked by the route). */
export async function tenantRef(tx: Queryable, ctx: RequestContext, tenantId: string) {
  const name = await tenantName(tx, tenantId);
  if (name === null || !ctx.tenant?.role) throw new AppError('NOT_FOUND');
  return { id: tenantId, name, role: ctx.tenant.role };
}
