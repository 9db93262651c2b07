import type { Queryable } from '../../platform/db/database.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';

export interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  event_seq: number | string | null;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_response_status: number | null;
  created_at: Date;
}

export interface AttemptRow {
  attempt: number;
  at: Date;
  duration_ms: number;
  response_status: number | null;
  response_body_excerpt: string | null;
  error: string | null;
}

const DELIVERY_COLUMNS = 'id, event_id, event_type, event_seq, status, attempts, next_attempt_at, last_attempt_at, last_response_status, created_at';

const DELIVERY_PAGE = keyset('newest first', 4);
const LIST_DELIVERIES_SQL = `SELECT ${DELIVERY_COLUMNS}, ${DELIVERY_PAGE.key} FROM webhook_deliveries
      WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3) AND ${DELIVERY_PAGE.after}
      ${DELIVERY_PAGE.orderAndLimit}`;

/** One keyset page of an endpoint's deliveries, newest first, optionally of one status. */
export async function listDeliveryRows(tx: Queryable, tenantId: string, endpointId: string, status: string | null, page: PageRequest): Promise<(DeliveryRow & KeyedRow)[]> {
  const { rows } = await tx.query<DeliveryRow & KeyedRow>(LIST_DELIVERIES_SQL, [tenantId, endpointId, status, ...keysetParams(page, 'newest first')]);
  return rows;
}

export async function findDelivery(tx: Queryable, tenantId: string, endpointId: string, id: string): Promise<DeliveryRow | null> {
  const { rows } = await tx.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3`,
    [tenantId, endpointId, id],
  );
  return rows[0] ?? null;
}

export async function attemptRows(tx: Queryable, tenantId: string, deliveryId: string): Promise<AttemptRow[]> {
  const { rows } = await tx.query<AttemptRow>(
    `SELECT attempt, at, duration_ms, response_status, response_body_excerpt, error FROM webhook_delivery_attempts
      WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempt`,
    [tenantId, deliveryId],
  );
  return rows;
}

/**
 * One more attempt, due now. A finished delivery is allowed exactly one more (it ends succeeded or
 * failed after it); a pending one keeps its schedule and is only brought forward.
 */
export async function markForRedelivery(tx: Queryable, tenantId: string, id: string, now: Date): Promise<void> {
  await tx.query(
    `UPDATE webhook_deliveries
        SET max_attempts = CASE WHEN status = 'pending' THEN max_attempts ELSE attempts + 1 END,
            status = 'pending', next_attempt_at = $3
      WHERE tenant_id = $1 AND id = $2`,
    [tenantId, id, now],
  );
}

/** A webhook.test delivery: its body is stored, since the event is not in the record. */
export async function insertTestDelivery(
  tx: Queryable,
  d: { tenantId: string; id: string; endpointId: string; eventId: string; payload: unknown; traceParent: string | null; now: Date },
): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, payload, max_attempts, next_attempt_at, trace_parent, created_at)
     VALUES ($1, $2, $3, $4, 'webhook.test', $5, 1, $6, $7, $6)`,
    [d.tenantId, d.id, d.endpointId, d.eventId, JSON.stringify(d.payload), d.now, d.traceParent],
  );
}

/**
 * Replay: new deliveries of the endpoint's matching events after `afterSeq`, up to the ones its
 * cursor has already passed (later events reach it anyway), first `max` in seq order. Each keeps
 * its event's id as webhook-id. Returns how many were queued.
 */
export async function insertReplayDeliveries(tx: Queryable, tenantId: string, endpointId: string, afterSeq: number, max: number, now: Date): Promise<number> {
  const { rows } = await tx.query<{ queued: number }>(
    `WITH endpoint AS (SELECT cursor_seq, event_types FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2),
     queued AS (
       INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_seq, event_type, next_attempt_at, created_at)
       SELECT $1, gen_random_uuid(), $2, ev.id, ev.seq, ev.type, $5, $5
         FROM endpoint, LATERAL (
           SELECT id, seq, type FROM events ev
            WHERE ev.tenant_id = $1 AND ev.seq > $3 AND ev.seq <= endpoint.cursor_seq
              AND (endpoint.event_types = '{*}' OR ev.type = ANY (endpoint.event_types))
            ORDER BY ev.seq LIMIT $4) ev
       RETURNING 1)
     SELECT count(*)::int AS queued FROM queued`,
    [tenantId, endpointId, afterSeq, max, now],
  );
  return rows[0]?.queued ?? 0;
}
