import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { recordEvent } from '../events/events.record.js';
import { presentIncident, presentStatusUpdate } from './incidents.presenters.js';
import type { PageQuery } from './incidents.schema.js';
import { acknowledgeLockedIncident, appendSystemEvent, changeIncident, loadIncident, writerOf } from './incidents.service.js';
import { insertStatusUpdate, listStatusUpdateRows } from './status-updates.queries.js';
import type { CreateStatusUpdateInput } from './status-updates.schema.js';

export async function listStatusUpdates(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, query: PageQuery) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.read');
  const page = pageRequest(query, { incidentId });
  return pageOf(await listStatusUpdateRows(tx, tenantId, incidentId, page), page, presentStatusUpdate);
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
  // The status update is the mutation's one event, so the incident change records none of its own.
  const change = status === null ? null : await changeIncident(tx, ctx, tenantId, incident, { status }, { event: false });
  let after = change === null ? incident : change.after;
  const changes: Record<string, unknown> = { ...change?.changes };
  if (after.acknowledged_at === null) {
    after = (await acknowledgeLockedIncident(tx, ctx, tenantId, after, writerOf(ctx), 'Acknowledged by a status update.', { implicit: true })) ?? after;
    changes.acknowledgedAt = { from: null, to: ctx.now.toISOString() };
  }
  const actor = writerOf(ctx);
  const [row] = await Promise.all([
    insertStatusUpdate(tx, { tenantId, incidentId, message: input.message, status, visibility: input.visibility, actor, now: ctx.now }),
    appendSystemEvent(tx, ctx, tenantId, incidentId, 'status_update_posted', `${input.visibility === 'public' ? 'Public' : 'Internal'} status update posted.`),
    change?.row,
  ]);
  const statusUpdate = presentStatusUpdate(row);
  await Promise.all([
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'status_update.created',
      target: { type: 'status_update', id: row.id },
      metadata: { incidentId, visibility: row.visibility, status: row.status },
    }),
    recordEvent(tx, ctx, tenantId, {
      type: 'status_update.created',
      incidentId,
      data: Object.keys(changes).length === 0 ? { statusUpdate, incident: presentIncident(after) } : { statusUpdate, incident: presentIncident(after), changes },
    }),
  ]);
  return statusUpdate;
}
