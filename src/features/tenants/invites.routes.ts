import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { listQuery } from '../../platform/http/pagination.js';
import { acceptInvite, createInvite, findAcceptableInvite, inviteTokenHash, listInvites, revokeInvite } from './invites.service.js';
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
      return { status: 201, body: await createInvite(tx, ctx, tenantId, body, { mail: deps.mail, appBaseUrl: deps.config.appBaseUrl }) };
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
    // The invite is found through its one narrow cross-tenant policy; the accepting transaction
    // opens in the invite's tenant.
    async prepare({ ctx, body, lookup }) {
      const userId = ctx.principal.type === 'user' ? ctx.principal.userId : '';
      const tokenHash = inviteTokenHash(body.token);
      const invite = await lookup((tx) => findAcceptableInvite(tx, ctx, { userId, tokenHash }), { kind: 'inviteByTokenHash', tokenHash });
      return { userId, invite };
    },
    opensAs: ({ invite }) => ({ tenantId: invite.tenant_id }),
    handler: ({ tx, ctx, prepared }) => acceptInvite(tx, ctx, prepared),
    respond({ req, answer: activeTenant }) {
      req.session.activeTenantId = activeTenant.id;
      return Promise.resolve({ status: 200, body: { activeTenant } });
    },
  });
}
