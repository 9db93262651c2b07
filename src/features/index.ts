import type { FeatureDeps } from '../deps.js';
import type { RouteDeps, RouteRegistry } from '../platform/http/route.js';
import { apiKeyAuthority } from './api-keys/api-key.auth.js';
import { membershipLookup } from './tenants/members.queries.js';
import { incidentWriteQuota } from './usage/usage.quota.js';
import type { JobQueue } from '../platform/jobs/runner.js';
import { registerAuthRoutes } from './auth/auth.routes.js';
import { registerIncidentRoutes } from './incidents/incidents.routes.js';
import { registerTenantRoutes } from './tenants/tenants.routes.js';
import { registerApiKeyRoutes } from './api-keys/api-keys.routes.js';
import { registerAuditLogRoutes } from './audit-logs/audit-logs.routes.js';
import { registerUsageRoutes } from './usage/usage.routes.js';
import { registerAlertRoutes } from './alerts/alerts.routes.js';
import { registerAnalyticsRoutes } from './analytics/analytics.routes.js';
import { registerEventRoutes } from './events/events.routes.js';
import { registerWebhookRoutes, webhookDeliveryQueue } from './webhooks/webhooks.routes.js';

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
  registerWebhookRoutes(routes, deps);
}

/** What the route pipeline takes from the features: API keys, the membership lookup, the write quota. */
export function featureRouteDeps(deps: FeatureDeps): Pick<RouteDeps, 'apiKeys' | 'membershipLookup' | 'quota'> {
  return { apiKeys: apiKeyAuthority, membershipLookup, quota: incidentWriteQuota(deps.config.dailyWriteQuota) };
}

/**
 * Every feature's background work, run by the JobRunner of each process with workers (besides
 * the platform's mail queue). A feature that writes rows for a worker to deliver adds its
 * JobQueue here.
 */
export function featureJobQueues(deps: FeatureDeps): JobQueue[] {
  return deps.webhookDelivery ? [webhookDeliveryQueue(deps)] : [];
}
