import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, oneRow } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { ActorRef } from './incidents.queries.js';
import type { TimelineEventType } from './timeline.schema.js';

export interface TimelineEventRow {
  id: string;
  type: TimelineEventType;
  message: string;
  occurred_at: Date;
  actor_type: ActorRef['type'];
  actor_id: string;
  created_at: Date;
}

const COLUMNS = columnsOf<TimelineEventRow>()('id', 'type', 'message', 'occurred_at', 'actor_type', 'actor_id', 'created_at');

export interface NewTimelineEvent {
  tenantId: string;
  incidentId: string;
  type: TimelineEventType;
  message: string;
  occurredAt: Date;
  actor: ActorRef;
  now: Date;
}

const INSERT_TIMELINE_EVENT_SQL = `INSERT INTO timeline_events (tenant_id, incident_id, type, message, occurred_at, actor_type, actor_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

function timelineEventParams(e: NewTimelineEvent): unknown[] {
  return [e.tenantId, e.incidentId, e.type, e.message, e.occurredAt, e.actor.type, e.actor.id, e.now];
}

export async function insertTimelineEvent(tx: Queryable, e: NewTimelineEvent): Promise<TimelineEventRow> {
  return oneRow(await tx.query<TimelineEventRow>(`${INSERT_TIMELINE_EVENT_SQL} RETURNING ${COLUMNS}`, timelineEventParams(e)), 'timeline event insert');
}

/** Inserts an event whose row the caller does not need. */
export async function appendTimelineEvent(tx: Queryable, e: NewTimelineEvent): Promise<void> {
  await tx.query(INSERT_TIMELINE_EVENT_SQL, timelineEventParams(e));
}

const PAGE = keyset('oldest first', 3);
const LIST_TIMELINE_SQL = `SELECT ${COLUMNS}, ${PAGE.key} FROM timeline_events
      WHERE tenant_id = $1 AND incident_id = $2 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** A page of the incident's timeline, oldest first. */
export async function listTimelineEventRows(tx: Queryable, tenantId: string, incidentId: string, page: PageRequest): Promise<(TimelineEventRow & KeyedRow)[]> {
  const { rows } = await tx.query<TimelineEventRow & KeyedRow>(LIST_TIMELINE_SQL, [tenantId, incidentId, ...keysetParams(page, 'oldest first')]);
  return rows;
}
