import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { auditLogQuery } from './audit-logs.schema.js';
import { listAuditLogs, verifyAuditChain } from './audit-logs.service.js';

/** The active tenant's audit chain only; the account-level chain is never exposed here. */
export function registerAuditLogRoutes(routes: RouteRegistry, _deps: FeatureDeps): void {
  routes.tenant({
    method: 'get',
    path: '/audit-logs',
    action: 'audit_log.read',
    tenant: 'active',
    authorize: 'route',
    query: auditLogQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listAuditLogs(tx, tenantId, query) };
    },
  });

  routes.tenant({
    method: 'get',
    path: '/audit-logs/verify',
    action: 'audit_log.read',
    tenant: 'active',
    authorize: 'route',
    async handler({ tx, tenantId }) {
      return { status: 200, body: await verifyAuditChain(tx, tenantId) };
    },
  });
}
