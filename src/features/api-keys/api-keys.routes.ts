import type { FeatureDeps } from '../../deps.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { apiKeyParams, createApiKeyBody, createServiceAccountBody, listParamsQuery, tenantPathParams } from './api-keys.schema.js';
import { createApiKey, createServiceAccount, listApiKeys, listServiceAccounts, revokeApiKey } from './api-keys.service.js';

/** Service accounts and API keys: session only (no `apiKeys`), `api_keys.manage`, tenant in the path. */
export function registerApiKeyRoutes(routes: RouteRegistry, _deps: FeatureDeps): void {
  routes.tenant({
    method: 'get',
    path: '/tenants/:tenantId/service-accounts',
    action: 'api_keys.manage',
    tenant: 'path',
    authorize: 'route',
    params: tenantPathParams,
    query: listParamsQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listServiceAccounts(tx, tenantId, query) };
    },
  });

  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/service-accounts',
    action: 'api_keys.manage',
    tenant: 'path',
    authorize: 'route',
    idempotent: true,
    params: tenantPathParams,
    body: createServiceAccountBody,
    async handler({ ctx, tx, tenantId, body }) {
      return { status: 201, body: await createServiceAccount(tx, ctx, tenantId, body) };
    },
  });

  routes.tenant({
    method: 'get',
    path: '/tenants/:tenantId/api-keys',
    action: 'api_keys.manage',
    tenant: 'path',
    authorize: 'route',
    params: tenantPathParams,
    query: listParamsQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listApiKeys(tx, tenantId, query) };
    },
  });

  // A replay answers the original status and body without `key`: the secret is shown once, never stored.
  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/api-keys',
    action: 'api_keys.manage',
    tenant: 'path',
    authorize: 'route',
    idempotent: true,
    notReplayed: ['key'],
    params: tenantPathParams,
    body: createApiKeyBody,
    async handler({ ctx, tx, tenantId, body }) {
      return { status: 201, body: await createApiKey(tx, ctx, tenantId, body) };
    },
  });

  routes.tenant({
    method: 'post',
    path: '/tenants/:tenantId/api-keys/:apiKeyId/revoke',
    action: 'api_keys.manage',
    tenant: 'path',
    authorize: 'service',
    params: apiKeyParams,
    async handler({ ctx, tx, tenantId, params }) {
      return { status: 200, body: await revokeApiKey(tx, ctx, tenantId, params.apiKeyId) };
    },
  });
}
