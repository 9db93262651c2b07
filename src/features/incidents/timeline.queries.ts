import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';
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

const COLUMNS = 'id, type, message, occurred_at, actor_type, actor_id, created_at';

export interface NewTimelineEvent {
  tenantId: string;
  incidentId: string;
  type: TimelineEventType;
  message: string;
  occurredAt: Date;
  actor: ActorRef;
  now: Date;
}

const INSERT_SQL = `INSERT INTO timeline_events (tenant_id, incident_id, type, message, occurred_at, actor_type, actor_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

function insertParams(e: NewTimelineEvent): unknown[] {
  return [e.tenantId, e.incidentId, e.type, e.message, e.occurredAt, e.actor.type, e.actor.id, e.now];
}

export async function insertTimelineEvent(tx: Queryable, e: NewTimelineEvent): Promise<TimelineEventRow> {
  const { rows } = await tx.query<TimelineEventRow>(`${INSERT_SQL} RETURNING ${COLUMNS}`, insertParams(e));
  return rows[0] as TimelineEventRow;
}

/** Inserts an event whose row the caller does not need: sent without waiting (see `Queryable.send`). */
export function sendTimelineEvent(tx: Queryable, e: NewTimelineEvent): void {
  void tx.send(INSERT_SQL, insertParams(e));
}

/** A page of the incident's timeline, oldest first, keyset on (created_at, id). */
export async function listTimelineEventRows(
  tx: Queryable,
  tenantId: string,
  incidentId: string,
  cursor: Cursor | null,
  limit: number,
): Promise<TimelineEventRow[]> {
  const { rows } = await tx.query<TimelineEventRow>(
    `SELECT ${COLUMNS} FROM timeline_events
      WHERE tenant_id = $1 AND incident_id = $2
        AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::uuid))
      ORDER BY created_at ASC, id ASC LIMIT $5`,
    [tenantId, incidentId, cursor?.createdAt ?? null, cursor?.id ?? null, limit],
  );
  return rows;
}
