import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { decodeCursor, pageOf } from '../../platform/http/pagination.js';
import { presentStatusUpdate } from './incidents.presenters.js';
import type { PageQuery } from './incidents.schema.js';
import { acknowledgeLockedIncident, appendSystemEvent, changeIncident, loadIncident, writerOf } from './incidents.service.js';
import { insertStatusUpdate, listStatusUpdateRows } from './status-updates.queries.js';
import type { CreateStatusUpdateInput } from './status-updates.schema.js';

export async function listStatusUpdates(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, query: PageQuery) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.read');
  const rows = await listStatusUpdateRows(tx, tenantId, incidentId, decodeCursor(query.cursor, { incidentId }), query.limit + 1);
  return pageOf(rows, query.limit, presentStatusUpdate, { incidentId });
}

/**
 * Posts a status update. A `status` moves the incident through the same state machine as a
 * PATCH (with its stamps, `status_changed` event and `incident.updated` audit row) in this
 * transaction, so a refused transition writes nothing at all.
 */
export async function postStatusUpdate(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, input: CreateStatusUpdateInput) {
  const status = input.status ?? null;
  // Posting a status update is a response: it acknowledges an unacknowledged incident, so the
  // incident is locked whenever it may change.
  const incident = await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write', { forUpdate: true });
  if (status !== null) {
    const change = await changeIncident(tx, ctx, tenantId, incident, { status });
    // Leaving investigating acknowledged it already; otherwise the update itself does.
    if (incident.acknowledged_at === null && (await change.row).acknowledged_at === null) {
      await acknowledgeLockedIncident(tx, ctx, tenantId, await change.row, writerOf(ctx), 'Acknowledged by a status update.');
    }
  } else {
    await acknowledgeLockedIncident(tx, ctx, tenantId, incident, writerOf(ctx), 'Acknowledged by a status update.');
  }
  const actor = writerOf(ctx);
  const row = await insertStatusUpdate(tx, { tenantId, incidentId, message: input.message, status, visibility: input.visibility, actor, now: ctx.now });
  appendSystemEvent(tx, ctx, tenantId, incidentId, 'status_update_posted', `${input.visibility === 'public' ? 'Public' : 'Internal'} status update posted.`);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'status_update.created',
    target: { type: 'status_update', id: row.id },
    metadata: { incidentId, visibility: row.visibility, status: row.status },
  });
  return presentStatusUpdate(row);
}
