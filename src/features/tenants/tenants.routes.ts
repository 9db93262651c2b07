import type { FeatureDeps } from '../../deps.js';
import { listQuery } from '../../platform/http/pagination.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { createTenantBody, tenantParams } from './tenants.schema.js';
import { createTenant, listTenants, newTenantId, tenantRef } from './tenants.service.js';
import { registerInviteRoutes } from './invites.routes.js';
import { registerMemberRoutes } from './members.routes.js';

export function registerTenantRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.account({
    method: 'get',
    path: '/tenants',
    action: 'signed_in',
    query: listQuery,
    async handler({ tx, ctx, query }) {
      const userId = ctx.principal.type === 'user' ? ctx.principal.userId : '';
      return { status: 200, body: await listTenants(tx, userId, query) };
    },
  });

  routes.account({
    method: 'post',
    path: '/tenants',
    action: 'signed_in',
    idempotent: true,
    body: createTenantBody,
    // The transaction opens in the new tenant, whose rows it writes.
    prepare: () => Promise.resolve({ tenantId: newTenantId() }),
    opensAs: ({ tenantId }) => ({ tenantId }),
    async handler({ tx, ctx, body, prepared }) {
      const userId = ctx.principal.type === 'user' ? ctx.principal.userId : '';
      return { status: 201, body: await createTenant(tx, ctx, { id: prepared.tenantId, userId, name: body.name }) };
    },
    respond({ req, answer }) {
      req.session.activeTenantId = answer.body.id;
      return Promise.resolve(answer);
    },
  });

  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/switch',
    action: 'tenants.access',
    tenant: 'path',
    authorize: 'route',
    params: tenantParams,
    async handler({ ctx, tx, tenantId, req }) {
      const activeTenant = await tenantRef(tx, ctx, tenantId);
      req.session.activeTenantId = tenantId;
      return { status: 200, body: { activeTenant } };
    },
  });

  registerMemberRoutes(routes);
  registerInviteRoutes(routes, deps);
}
