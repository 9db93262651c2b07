import type { Database, Queryable } from '../../platform/db/database.js';
import { withWorkerTx } from '../../platform/db/tx.js';
import { EVENT_COLUMNS, type EventRow } from '../events/events.presenters.js';

/** The webhook worker's transactions (see migration 0011's worker policies). */
export function withWebhookWorkerTx<T>(db: Database, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return withWorkerTx(db, 'webhooks', fn);
}

/**
 * Fan-out, in one statement: locks up to `endpoints` endpoints with events after their cursor,
 * turns up to `events` of those events into deliveries (the subscribed types) and moves the cursor
 * past all it looked at. FOR UPDATE reads the newest cursor, so no event is handed out twice; seq
 * follows commit order, so the cursor never passes an event not yet visible.
 */
export async function fanOut(tx: Queryable, now: Date, endpoints: number, events: number, tenantId: string | null = null): Promise<number> {
  const { rows } = await tx.query<{ created: number }>(
    `WITH candidates AS (
       SELECT e.tenant_id, e.id FROM webhook_endpoints e
        WHERE e.enabled AND ($4::uuid IS NULL OR e.tenant_id = $4)
          AND EXISTS (SELECT 1 FROM events ev WHERE ev.tenant_id = e.tenant_id AND ev.seq > e.cursor_seq)
        LIMIT $2),
     locked AS (
       SELECT e.tenant_id, e.id, e.cursor_seq, e.event_types FROM webhook_endpoints e
         JOIN candidates c ON c.tenant_id = e.tenant_id AND c.id = e.id
        WHERE e.enabled
          FOR UPDATE OF e SKIP LOCKED),
     scanned AS (
       SELECT l.tenant_id, l.id AS endpoint_id, l.event_types, ev.seq, ev.id AS event_id, ev.type
         FROM locked l CROSS JOIN LATERAL (
           SELECT seq, id, type FROM events ev WHERE ev.tenant_id = l.tenant_id AND ev.seq > l.cursor_seq ORDER BY seq LIMIT $3) ev),
     created AS (
       INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_seq, event_type, next_attempt_at, created_at)
       SELECT tenant_id, gen_random_uuid(), endpoint_id, event_id, seq, type, $1, $1 FROM scanned
        WHERE event_types = '{*}' OR type = ANY (event_types)
       RETURNING 1),
     moved AS (
       UPDATE webhook_endpoints e SET cursor_seq = m.last_seq
         FROM (SELECT tenant_id, endpoint_id, max(seq) AS last_seq FROM scanned GROUP BY tenant_id, endpoint_id) m
        WHERE e.tenant_id = m.tenant_id AND e.id = m.endpoint_id
       RETURNING 1)
     SELECT (SELECT count(*) FROM created)::int AS created, (SELECT count(*) FROM moved)::int AS moved`,
    [now, endpoints, events, tenantId],
  );
  return rows[0]?.created ?? 0;
}

/** The tenants with at least one enabled endpoint (with `tenantId`, that tenant or none). */
export async function tenantsWithEndpoints(tx: Queryable, tenantId: string | null = null): Promise<string[]> {
  const { rows } = await tx.query<{ tenant_id: string }>(
    'SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE enabled AND ($1::uuid IS NULL OR tenant_id = $1)',
    [tenantId],
  );
  return rows.map((r) => r.tenant_id);
}

export interface ClaimedDelivery {
  tenant_id: string;
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: unknown;
  /** This attempt's number (1-based). */
  attempts: number;
  max_attempts: number;
  url: string;
  secrets: { id: string; ciphertext: string }[];
  trace_parent: string | null;
  /** The event's row; null for webhook.test, or when the event is no longer retained. */
  event: EventRow | null;
}

/**
 * Claims up to `limit` due deliveries under a lease and a fencing token, with what an attempt
 * needs (URL, signing secrets, event). A delivery whose lease ran out (its worker died mid-attempt)
 * is claimed again and its lost attempt logged as such.
 */
export async function claimDeliveries(
  tx: Queryable,
  now: Date,
  limit: number,
  lease: { until: Date; token: string },
  tenantId: string | null = null,
): Promise<ClaimedDelivery[]> {
  const { rows } = await tx.query<ClaimedDelivery & Record<string, unknown>>(
    `WITH due AS (
       SELECT d.tenant_id, d.id, d.attempts, d.last_attempt_at, d.lease_until FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
        WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
          AND (e.enabled OR d.event_type = 'webhook.test') AND ($5::uuid IS NULL OR d.tenant_id = $5)
        ORDER BY d.next_attempt_at
        LIMIT $2
          FOR UPDATE OF d SKIP LOCKED),
     lost AS (
       INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, at, duration_ms, error)
       SELECT tenant_id, id, attempts, coalesce(last_attempt_at, $1), 0, 'The worker stopped during this attempt (its lease ran out); the delivery was retried.'
         FROM due WHERE lease_until IS NOT NULL AND attempts > 0
       ON CONFLICT DO NOTHING),
     claimed AS (
       UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_until = $3, lease_token = $4, last_attempt_at = $1
         FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id
       RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.event_seq, d.event_type, d.payload, d.attempts, d.max_attempts, d.trace_parent)
     SELECT c.tenant_id, c.id, c.endpoint_id, c.event_id, c.event_type, c.payload, c.attempts, c.max_attempts,
            coalesce(c.trace_parent, ev.trace_parent) AS trace_parent, e.url,
            (SELECT coalesce(json_agg(json_build_object('id', s.id, 'ciphertext', s.secret_ciphertext) ORDER BY s.created_at), '[]'::json)
               FROM webhook_endpoint_secrets s
              WHERE s.tenant_id = c.tenant_id AND s.endpoint_id = c.endpoint_id AND (s.expires_at IS NULL OR s.expires_at > $1)) AS secrets,
            CASE WHEN ev.seq IS NULL THEN NULL ELSE json_build_object(${EVENT_COLUMNS.split(', ').map((col) => `'${col}', ev.${col}`).join(', ')}) END AS event
       FROM claimed c
       JOIN webhook_endpoints e ON e.tenant_id = c.tenant_id AND e.id = c.endpoint_id
       LEFT JOIN events ev ON ev.tenant_id = c.tenant_id AND ev.seq = c.event_seq`,
    [now, limit, lease.until, lease.token, tenantId],
  );
  // json_build_object hands the event's timestamp back as text.
  return rows.map((r) => (r.event ? { ...r, event: { ...r.event, occurred_at: new Date(r.event.occurred_at as unknown as string) } } : r));
}

export interface AttemptResult {
  tenantId: string;
  deliveryId: string;
  leaseToken: string;
  attempt: number;
  status: 'pending' | 'succeeded' | 'failed';
  nextAttemptAt: Date | null;
  at: Date;
  durationMs: number;
  responseStatus: number | null;
  responseBodyExcerpt: string | null;
  error: string | null;
}

/**
 * Writes an attempt's outcome: the log row, the delivery's state (only while this worker's lease
 * token is still the delivery's, so a worker that outlived its lease changes nothing), and the
 * endpoint's failure window (cleared by a success, started by the first failure after one; the row
 * is written only when that changes). Returns whether it was recorded and since when the endpoint
 * has been failing.
 */
export async function recordAttempt(tx: Queryable, r: AttemptResult): Promise<{ recorded: boolean; endpointId: string | null; failingSince: Date | null }> {
  const succeeded = r.status === 'succeeded';
  const { rows } = await tx.query<{ endpoint_id: string | null; failing_since: Date | null }>(
    `WITH d AS (
       UPDATE webhook_deliveries SET status = $4, next_attempt_at = coalesce($5, next_attempt_at), lease_until = NULL, lease_token = NULL,
              last_response_status = $7
        WHERE tenant_id = $1 AND id = $2 AND lease_token = $3
       RETURNING tenant_id, id, endpoint_id),
     logged AS (
       INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, at, duration_ms, response_status, response_body_excerpt, error)
       SELECT tenant_id, id, $6, $8, $9, $7, $10, $11 FROM d),
     failure_window AS (
       UPDATE webhook_endpoints ep SET failing_since = CASE WHEN $12 THEN NULL ELSE $8 END
         FROM d
        WHERE ep.tenant_id = d.tenant_id AND ep.id = d.endpoint_id
          AND (CASE WHEN $12 THEN ep.failing_since IS NOT NULL ELSE ep.failing_since IS NULL END))
     SELECT d.endpoint_id, ep.failing_since FROM d JOIN webhook_endpoints ep ON ep.tenant_id = d.tenant_id AND ep.id = d.endpoint_id`,
    [r.tenantId, r.deliveryId, r.leaseToken, r.status, r.nextAttemptAt, r.attempt, r.responseStatus, r.at, r.durationMs, r.responseBodyExcerpt, r.error, succeeded],
  );
  const row = rows[0];
  return { recorded: row !== undefined, endpointId: row?.endpoint_id ?? null, failingSince: row?.failing_since ?? null };
}
