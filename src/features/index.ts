import type { FeatureDeps } from '../deps.js';
import type { RouteRegistry } from '../platform/http/route.js';
import { registerAuthRoutes } from './auth/auth.routes.js';
import { registerIncidentRoutes } from './incidents/incidents.routes.js';
import { registerTenantRoutes } from './tenants/tenants.routes.js';
import { registerApiKeyRoutes } from './api-keys/api-keys.routes.js';
import { registerAuditLogRoutes } from './audit-logs/audit-logs.routes.js';
import { registerUsageRoutes } from './usage/usage.routes.js';
import { registerAlertRoutes } from './alerts/alerts.routes.js';
import { registerAnalyticsRoutes } from './analytics/analytics.routes.js';
import { registerEventRoutes } from './events/events.routes.js';

/** Every feature's routes, mounted under /v1. */
export function registerFeatureRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  registerAuthRoutes(routes, deps);
  registerTenantRoutes(routes, deps);
  registerIncidentRoutes(routes, deps);
  registerApiKeyRoutes(routes, deps);
  registerUsageRoutes(routes, deps);
  registerAuditLogRoutes(routes, deps);
  registerAlertRoutes(routes, deps);
  registerAnalyticsRoutes(routes, deps);
  registerEventRoutes(routes, deps);
}
