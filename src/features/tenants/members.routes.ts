import type { RouteRegistry } from '../../platform/http/route.js';
import { listQuery } from '../../platform/http/pagination.js';
import { changeMemberRole, listMembers, removeMember } from './members.service.js';
import { memberParams, tenantParams, updateMemberBody } from './tenants.schema.js';

export function registerMemberRoutes(routes: RouteRegistry): void {
  routes.tenant({
    method: 'get',
    path: '/tenants/:tenantId/members',
    action: 'members.read',
    tenant: 'path',
    authorize: 'route',
    params: tenantParams,
    query: listQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listMembers(tx, tenantId, query) };
    },
  });

  routes.tenant({
    method: 'patch',
    path: '/tenants/:tenantId/members/:userId',
    action: 'members.manage',
    tenant: 'path',
    authorize: 'service',
    params: memberParams,
    body: updateMemberBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      return { status: 200, body: await changeMemberRole(tx, ctx, tenantId, params.userId, body.role) };
    },
  });

  routes.tenant({
    method: 'delete',
    path: '/tenants/:tenantId/members/:userId',
    action: 'members.manage',
    tenant: 'path',
    authorize: 'service',
    params: memberParams,
    async handler({ ctx, tx, tenantId, params }) {
      await removeMember(tx, ctx, tenantId, params.userId);
      return { status: 204 };
    },
  });
}
