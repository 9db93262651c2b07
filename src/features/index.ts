import type { FeatureDeps } from '../app.js';
import type { RouteRegistry } from '../platform/http/route.js';
import { registerAuthRoutes } from './auth/auth.routes.js';
import { registerTenantRoutes } from './tenants/tenants.routes.js';

/** Every feature's routes, mounted under /v1. */
export function registerFeatureRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  registerAuthRoutes(routes, deps);
  registerTenantRoutes(routes, deps);
}
