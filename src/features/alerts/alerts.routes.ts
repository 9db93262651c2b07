import type { FeatureDeps } from '../../deps.js';
import { etagOf, parseIfMatch } from '../../platform/http/etag.js';
import { listQuery } from '../../platform/http/pagination.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { incidentParams, pageQuery } from '../incidents/incidents.schema.js';
import { presentAlertSource } from './alerts.presenters.js';
import { alertSourceParams, createAlertSourceBody, tenantPathParams, updateAlertSourceBody } from './alert-sources.schema.js';
import { createAlertSource, deleteAlertSource, listAlertSources, patchAlertSource, rotateAlertSourceKey } from './alert-sources.service.js';
import { alertParams, listAlertsQuery } from './alerts.schema.js';
import { getAlert, listAlerts, listIncidentAlerts } from './alerts.service.js';

/** Alert sources: session only, `alert_sources.manage`, tenant in the path. */
const manage = { tenant: 'path', action: 'alert_sources.manage' } as const;
/** Alert reads: session or API key, `incidents.read`, the active (or key's) tenant. */
const read = { tenant: 'active', apiKeys: true, action: 'incidents.read' } as const;

export function registerAlertRoutes(routes: RouteRegistry, _deps: FeatureDeps): void {
  routes.tenant({
    ...manage,
    method: 'get',
    path: '/tenants/:tenantId/alert-sources',
    authorize: 'route',
    params: tenantPathParams,
    query: listQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listAlertSources(tx, tenantId, query) };
    },
  });

  // The routing key is shown once: a replay answers the original body without it.
  routes.tenant({
    ...manage,
    method: 'post',
    path: '/tenants/:tenantId/alert-sources',
    authorize: 'route',
    idempotent: true,
    notReplayed: ['routingKey'],
    params: tenantPathParams,
    body: createAlertSourceBody,
    async handler({ ctx, tx, tenantId, body }) {
      const created = await createAlertSource(tx, ctx, tenantId, body);
      return { status: 201, body: created, headers: { ETag: etagOf(created.version), Location: `/v1/tenants/${tenantId}/alert-sources/${created.id}` } };
    },
  });

  routes.tenant({
    ...manage,
    method: 'patch',
    path: '/tenants/:tenantId/alert-sources/:sourceId',
    authorize: 'service',
    params: alertSourceParams,
    body: updateAlertSourceBody,
    async handler({ ctx, tx, tenantId, params, body, req }) {
      const row = await patchAlertSource(tx, ctx, tenantId, params.sourceId, body, parseIfMatch(req.get('if-match')));
      return { status: 200, body: presentAlertSource(row), headers: { ETag: etagOf(row.version) } };
    },
  });

  routes.tenant({
    ...manage,
    method: 'post',
    path: '/tenants/:tenantId/alert-sources/:sourceId/rotate-key',
    authorize: 'service',
    params: alertSourceParams,
    async handler({ ctx, tx, tenantId, params }) {
      return { status: 200, body: await rotateAlertSourceKey(tx, ctx, tenantId, params.sourceId) };
    },
  });

  routes.tenant({
    ...manage,
    method: 'delete',
    path: '/tenants/:tenantId/alert-sources/:sourceId',
    authorize: 'service',
    params: alertSourceParams,
    async handler({ ctx, tx, tenantId, params }) {
      await deleteAlertSource(tx, ctx, tenantId, params.sourceId);
      return { status: 204 };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/alerts',
    authorize: 'route',
    query: listAlertsQuery,
    async handler({ tx, tenantId, query }) {
      return { status: 200, body: await listAlerts(tx, tenantId, query) };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/alerts/:alertId',
    authorize: 'service',
    params: alertParams,
    async handler({ ctx, tx, tenantId, params }) {
      return { status: 200, body: await getAlert(tx, ctx, tenantId, params.alertId) };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents/:incidentId/alerts',
    authorize: 'service',
    params: incidentParams,
    query: pageQuery,
    async handler({ ctx, tx, tenantId, params, query }) {
      return { status: 200, body: await listIncidentAlerts(tx, ctx, tenantId, params.incidentId, query) };
    },
  });
}
