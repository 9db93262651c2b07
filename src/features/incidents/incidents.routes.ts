import type { FeatureDeps } from '../../deps.js';
import { etagOf, parseIfMatch } from '../../platform/http/etag.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { whenAnswered } from '../../platform/http/result.js';
import { createIncidentBody, incidentParams, listIncidentsQuery, pageQuery, updateIncidentBody } from './incidents.schema.js';
import { acknowledgeIncident, createIncident, incidentResult, listIncidents, loadIncident, patchIncident } from './incidents.service.js';
import { presentTask } from './incidents.presenters.js';
import { createStatusUpdateBody } from './status-updates.schema.js';
import { listStatusUpdates, postStatusUpdate } from './status-updates.service.js';
import { createTaskBody, taskParams, updateTaskBody } from './tasks.schema.js';
import { createTask, listTasks, patchTask } from './tasks.service.js';
import { createTimelineEventBody } from './timeline.schema.js';
import { addNote, listTimelineEvents } from './timeline.service.js';

/**
 * Incidents and their timeline, tasks and status updates: session or API key, the active (or
 * key's) tenant. Collection routes authorise up front; id routes load the object first (404)
 * and then authorise (403). Every write is metered; every POST accepts Idempotency-Key.
 */
const read = { tenant: 'active', apiKeys: true, action: 'incidents.read' } as const;
const write = { tenant: 'active', apiKeys: true, action: 'incidents.write', metered: true } as const;

export function registerIncidentRoutes(routes: RouteRegistry, _deps: FeatureDeps): void {
  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents',
    authorize: 'route',
    query: listIncidentsQuery,
    handler({ tx, tenantId, query }) {
      // The page is presented once its rows arrive, with the COMMIT in the same round trip.
      return Promise.resolve(whenAnswered(listIncidents(tx, tenantId, query), (page) => ({ status: 200, body: page })));
    },
  });

  routes.tenant({
    ...write,
    method: 'post',
    path: '/incidents',
    authorize: 'route',
    idempotent: true,
    body: createIncidentBody,
    async handler({ ctx, tx, tenantId, body }) {
      const row = await createIncident(tx, ctx, tenantId, body);
      return incidentResult(row, 201, { Location: `/v1/incidents/${row.id}` });
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents/:incidentId',
    authorize: 'service',
    params: incidentParams,
    async handler({ ctx, tx, tenantId, params }) {
      return incidentResult(await loadIncident(tx, ctx, tenantId, params.incidentId, 'incidents.read'), 200);
    },
  });

  routes.tenant({
    ...write,
    method: 'patch',
    path: '/incidents/:incidentId',
    authorize: 'service',
    params: incidentParams,
    body: updateIncidentBody,
    async handler({ ctx, tx, tenantId, params, body, req }) {
      const change = await patchIncident(tx, ctx, tenantId, params.incidentId, body, parseIfMatch(req.get('if-match')));
      // The UPDATE, its timeline events and audit row are answered with the COMMIT, in one round trip.
      return whenAnswered(change.row, (row) => incidentResult(row, 200));
    },
  });

  routes.tenant({
    ...write,
    method: 'post',
    path: '/incidents/:incidentId/acknowledge',
    authorize: 'service',
    params: incidentParams,
    async handler({ ctx, tx, tenantId, params }) {
      return incidentResult(await acknowledgeIncident(tx, ctx, tenantId, params.incidentId), 200);
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents/:incidentId/timeline-events',
    authorize: 'service',
    params: incidentParams,
    query: pageQuery,
    async handler({ ctx, tx, tenantId, params, query }) {
      return { status: 200, body: await listTimelineEvents(tx, ctx, tenantId, params.incidentId, query) };
    },
  });

  routes.tenant({
    ...write,
    method: 'post',
    path: '/incidents/:incidentId/timeline-events',
    authorize: 'service',
    idempotent: true,
    params: incidentParams,
    body: createTimelineEventBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      return { status: 201, body: await addNote(tx, ctx, tenantId, params.incidentId, body) };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents/:incidentId/tasks',
    authorize: 'service',
    params: incidentParams,
    query: pageQuery,
    async handler({ ctx, tx, tenantId, params, query }) {
      return { status: 200, body: await listTasks(tx, ctx, tenantId, params.incidentId, query) };
    },
  });

  routes.tenant({
    ...write,
    method: 'post',
    path: '/incidents/:incidentId/tasks',
    authorize: 'service',
    idempotent: true,
    params: incidentParams,
    body: createTaskBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      const task = await createTask(tx, ctx, tenantId, params.incidentId, body);
      return { status: 201, body: presentTask(task), headers: { ETag: etagOf(task.version) } };
    },
  });

  routes.tenant({
    ...write,
    method: 'patch',
    path: '/incidents/:incidentId/tasks/:taskId',
    authorize: 'service',
    params: taskParams,
    body: updateTaskBody,
    async handler({ ctx, tx, tenantId, params, body, req }) {
      const task = await patchTask(tx, ctx, tenantId, params, body, parseIfMatch(req.get('if-match')));
      return { status: 200, body: presentTask(task), headers: { ETag: etagOf(task.version) } };
    },
  });

  routes.tenant({
    ...read,
    method: 'get',
    path: '/incidents/:incidentId/status-updates',
    authorize: 'service',
    params: incidentParams,
    query: pageQuery,
    async handler({ ctx, tx, tenantId, params, query }) {
      return { status: 200, body: await listStatusUpdates(tx, ctx, tenantId, params.incidentId, query) };
    },
  });

  routes.tenant({
    ...write,
    method: 'post',
    path: '/incidents/:incidentId/status-updates',
    authorize: 'service',
    idempotent: true,
    params: incidentParams,
    body: createStatusUpdateBody,
    async handler({ ctx, tx, tenantId, params, body }) {
      return { status: 201, body: await postStatusUpdate(tx, ctx, tenantId, params.incidentId, body) };
    },
  });
}
