import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { listQuery } from '../../platform/http/pagination.js';
import { acceptInvite, createInvite, listInvites, revokeInvite } from './invites.service.js';
import { acceptInviteBody, createInviteBody, inviteParams, tenantParams } from './tenants.schema.js';

export function registerInviteRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/invites',
    action: 'members.invite',
    tenant: 'path',
    authorize: 'route',
    idempotent: true,
    params: tenantParams,
    body: createInviteBody,
    async handler({ ctx, tx, tenantId, body }) {
      return { status: 201, body: await createInvite(deps, tx, ctx, tenantId, body) };
    },
  });

  routes.tenant({
    method: 'get',
    path: '/tenants/:tenantId/invites',
    action: 'members.invite',
    tenant: 'path',
    authorize: 'route',
    params: tenantParams,
    query: listQuery,
    async handler({ ctx, tx, tenantId, query }) {
      return { status: 200, body: await listInvites(tx, ctx, tenantId, query) };
    },
  });

  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/invites/:inviteId/revoke',
    action: 'members.invite',
    tenant: 'path',
    authorize: 'service',
    params: inviteParams,
    async handler({ ctx, tx, tenantId, params }) {
      return { status: 200, body: await revokeInvite(tx, ctx, tenantId, params.inviteId) };
    },
  });

  routes.account({
    method: 'post',
    path: '/tenants/invites/accept',
    action: 'signed_in',
    body: acceptInviteBody,
    async handler({ ctx, body, req }) {
      const userId = ctx.principal.type === 'user' ? ctx.principal.userId : '';
      const activeTenant = await acceptInvite(deps, ctx, userId, body.token);
      req.session.activeTenantId = activeTenant.id;
      return { status: 200, body: { activeTenant } };
    },
  });
}
