import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { usageReport } from './usage.service.js';

export function registerUsageRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.tenant({
    method: 'get',
    path: '/usage',
    action: 'billing.read',
    tenant: 'active',
    authorize: 'route',
    async handler({ ctx, tx, tenantId }) {
      return { status: 200, body: await usageReport(tx, tenantId, ctx.now, deps.config.dailyWriteQuota) };
    },
  });
}
