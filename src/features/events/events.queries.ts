import type { Queryable } from '../../platform/db/database.js';
import { EVENT_COLUMNS, type EventRow } from './events.presenters.js';

export interface EventFilter {
  types?: readonly string[] | undefined;
  incidentId?: string | undefined;
}

/** The tenant's events after `afterSeq`, oldest first: one range scan of the primary key (or the incident index). */
export async function listEventRows(tx: Queryable, tenantId: string, filter: EventFilter, afterSeq: number, limit: number): Promise<EventRow[]> {
  const { rows } = await tx.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events
      WHERE tenant_id = $1 AND seq > $2
        AND ($3::text[] IS NULL OR type = ANY($3::text[]))
        AND ($4::uuid IS NULL OR incident_id = $4::uuid)
      ORDER BY seq LIMIT $5`,
    [tenantId, afterSeq, filter.types ?? null, filter.incidentId ?? null, limit],
  );
  return rows;
}

/** The tenant's newest seq (0 before its first event). */
export async function lastEventSeq(tx: Queryable, tenantId: string): Promise<number> {
  const { rows } = await tx.query<{ seq: number | string | null }>('SELECT max(seq) AS seq FROM events WHERE tenant_id = $1', [tenantId]);
  return Number(rows[0]?.seq ?? 0);
}
