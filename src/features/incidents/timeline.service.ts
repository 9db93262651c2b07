import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { recordEvent } from '../events/events.record.js';
import { presentTimelineEvent } from './incidents.presenters.js';
import type { PageQuery } from './incidents.schema.js';
import { loadIncident, writerOf } from './incidents.service.js';
import { insertTimelineEvent, listTimelineEventRows } from './timeline.queries.js';
import type { CreateTimelineEventInput } from './timeline.schema.js';

export async function listTimelineEvents(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, query: PageQuery) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.read');
  const page = pageRequest(query, { incidentId });
  return pageOf(await listTimelineEventRows(tx, tenantId, incidentId, page), page, presentTimelineEvent);
}

/** Adds a note; `occurredAt` may back-date what happened, `createdAt` is always now. */
export async function addNote(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, input: CreateTimelineEventInput) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write');
  const row = await insertTimelineEvent(tx, {
    tenantId,
    incidentId,
    type: 'note',
    message: input.message,
    occurredAt: input.occurredAt === undefined ? ctx.now : new Date(input.occurredAt),
    actor: writerOf(ctx),
    now: ctx.now,
  });
  const timelineEvent = presentTimelineEvent(row);
  await Promise.all([
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'timeline_event.created',
      target: { type: 'timeline_event', id: row.id },
      metadata: { incidentId, type: row.type },
    }),
    recordEvent(tx, ctx, tenantId, { type: 'timeline_event.created', incidentId, data: { timelineEvent } }),
  ]);
  return timelineEvent;
}
