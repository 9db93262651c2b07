import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { incidentAnalyticsQuery } from './analytics.schema.js';
import { incidentAnalytics } from './analytics.service.js';

/** Incident analytics: session or API key, read with `incidents.read`. */
export function registerAnalyticsRoutes(routes: RouteRegistry, _deps: FeatureDeps): void {
  routes.tenant({
    method: 'get',
    path: '/analytics/incidents',
    action: 'incidents.read',
    tenant: 'active',
    apiKeys: true,
    authorize: 'route',
    query: incidentAnalyticsQuery,
    async handler({ ctx, tx, tenantId, query }) {
      return { status: 200, body: await incidentAnalytics(tx, tenantId, ctx.now, query) };
    },
  });
}
