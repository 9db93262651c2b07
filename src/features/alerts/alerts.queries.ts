import type { Queryable } from '../../platform/db/database.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';

export const ALERT_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export const ALERT_STATUSES = ['triggered', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export interface AlertRow {
  id: string;
  source_id: string;
  dedup_key: string;
  status: AlertStatus;
  summary: string;
  severity: AlertSeverity;
  source: string;
  details: unknown;
  group_key: string | null;
  incident_id: string | null;
  event_count: number;
  first_seen_at: Date;
  last_seen_at: Date;
  acknowledged_at: Date | null;
  resolved_at: Date | null;
  created_at: Date;
}

const COLUMNS = `id, source_id, dedup_key, status, summary, severity, source, details, group_key, incident_id, event_count,
  first_seen_at, last_seen_at, acknowledged_at, resolved_at, created_at`;

export interface IncomingAlert {
  tenantId: string;
  sourceId: string;
  dedupKey: string;
  summary: string;
  severity: AlertSeverity;
  source: string;
  /** Stored as JSON text, never interpreted. */
  detailsJson: string;
  groupKey: string | null;
  now: Date;
}

const UPSERT_SQL = `INSERT INTO alerts AS a (tenant_id, source_id, dedup_key, status, summary, severity, source, details, group_key,
       first_seen_at, last_seen_at, created_at)
     VALUES ($1, $2, $3, 'triggered', $4, $5, $6, $7::jsonb, $8, $9, $9, $9)
     ON CONFLICT (tenant_id, source_id, dedup_key) WHERE status <> 'resolved'
     DO UPDATE SET event_count = a.event_count + 1, last_seen_at = GREATEST(a.last_seen_at, EXCLUDED.last_seen_at),
       summary = EXCLUDED.summary, severity = EXCLUDED.severity, source = EXCLUDED.source, details = EXCLUDED.details
     RETURNING ${COLUMNS}, (xmax = 0) AS inserted`;

const upsertParams = (a: IncomingAlert): unknown[] => [a.tenantId, a.sourceId, a.dedupKey, a.summary, a.severity, a.source, a.detailsJson, a.groupKey, a.now];

/**
 * A trigger: inserts a new alert, or adds to the open one with the same source and dedup key.
 * Concurrent triggers meet on the `alerts_open_dedup_key` unique index: exactly one inserts, every
 * other waits for it and then updates it, so 1,000 at once make one alert with event_count 1,000.
 * `inserted` tells the two apart.
 */
export async function upsertTriggeredAlert(tx: Queryable, a: IncomingAlert): Promise<AlertRow & { inserted: boolean }> {
  const { rows } = await tx.query<AlertRow & { inserted: boolean }>(UPSERT_SQL, upsertParams(a));
  return rows[0] as AlertRow & { inserted: boolean };
}

/**
 * `upsertTriggeredAlert` and, when the trigger only added to an open alert, the tenant's
 * `alertEvents` count for `day` (`countAlertEventUsage`), in one statement: the alert's row is
 * locked before the counter's, the order every ingestion transaction takes them in.
 */
export async function triggerAlert(tx: Queryable, a: IncomingAlert, day: string): Promise<AlertRow & { inserted: boolean }> {
  const { rows } = await tx.query<AlertRow & { inserted: boolean }>(
    `WITH alert AS (${UPSERT_SQL}),
     counted AS (
       INSERT INTO alert_event_counters AS c (tenant_id, day, alert_events)
       SELECT $1, $10::date, 1 FROM alert WHERE NOT alert.inserted
       ON CONFLICT (tenant_id, day) DO UPDATE SET alert_events = c.alert_events + 1)
     SELECT * FROM alert`,
    [...upsertParams(a), day],
  );
  return rows[0] as AlertRow & { inserted: boolean };
}

/**
 * A trigger for an alert that is already open: adds the event to it (as `upsertTriggeredAlert`'s
 * update does) and counts it as an alert event for `day`, in one statement; false, changing
 * nothing, when the source has no open alert with this dedup key (one may be opening in a
 * transaction not yet committed: then the caller goes on with `triggerAlert`, which waits for it).
 */
export async function addToOpenAlert(tx: Queryable, a: IncomingAlert, day: string): Promise<boolean> {
  const { rows } = await tx.query<{ added: number }>(
    `WITH alert AS (
       UPDATE alerts SET event_count = event_count + 1, last_seen_at = GREATEST(last_seen_at, $9),
              summary = $4, severity = $5, source = $6, details = $7::jsonb
        WHERE tenant_id = $1 AND source_id = $2 AND dedup_key = $3 AND status <> 'resolved'
        RETURNING id),
     counted AS (
       INSERT INTO alert_event_counters AS c (tenant_id, day, alert_events)
       SELECT $1, $8::date, 1 FROM alert
       ON CONFLICT (tenant_id, day) DO UPDATE SET alert_events = c.alert_events + 1)
     SELECT count(*)::int AS added FROM alert`,
    [a.tenantId, a.sourceId, a.dedupKey, a.summary, a.severity, a.source, a.detailsJson, day, a.now],
  );
  return (rows[0]?.added ?? 0) > 0;
}

/** The open alert of the source with this dedup key, locked, or null. */
export async function findOpenAlert(tx: Queryable, tenantId: string, sourceId: string, dedupKey: string): Promise<AlertRow | null> {
  const { rows } = await tx.query<AlertRow>(
    `SELECT ${COLUMNS} FROM alerts WHERE tenant_id = $1 AND source_id = $2 AND dedup_key = $3 AND status <> 'resolved' FOR UPDATE`,
    [tenantId, sourceId, dedupKey],
  );
  return rows[0] ?? null;
}

export async function setAlertIncident(tx: Queryable, tenantId: string, alertId: string, incidentId: string): Promise<void> {
  await tx.query('UPDATE alerts SET incident_id = $3 WHERE tenant_id = $1 AND id = $2', [tenantId, alertId, incidentId]);
}

/** Moves an open alert to acknowledged or resolved (one more event on it); the row must be locked. */
export async function moveAlert(tx: Queryable, tenantId: string, alertId: string, to: 'acknowledged' | 'resolved', now: Date): Promise<AlertRow> {
  const { rows } = await tx.query<AlertRow>(
    `UPDATE alerts SET status = $3, event_count = event_count + 1, last_seen_at = GREATEST(last_seen_at, $4),
       acknowledged_at = CASE WHEN $3 = 'acknowledged' THEN COALESCE(acknowledged_at, $4) ELSE acknowledged_at END,
       resolved_at = CASE WHEN $3 = 'resolved' THEN $4 ELSE resolved_at END
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tenantId, alertId, to, now],
  );
  return rows[0] as AlertRow;
}

/** Adds one event to an open alert that changes nothing else (an acknowledge of an acknowledged alert). */
export async function countAlertEvent(tx: Queryable, tenantId: string, alertId: string, now: Date): Promise<AlertRow> {
  const { rows } = await tx.query<AlertRow>(
    `UPDATE alerts SET event_count = event_count + 1, last_seen_at = GREATEST(last_seen_at, $3)
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [tenantId, alertId, now],
  );
  return rows[0] as AlertRow;
}

/** Whether the incident still has an alert that is not resolved. */
export async function incidentHasOpenAlerts(tx: Queryable, tenantId: string, incidentId: string): Promise<boolean> {
  const { rows } = await tx.query(
    "SELECT 1 FROM alerts WHERE tenant_id = $1 AND incident_id = $2 AND status <> 'resolved' LIMIT 1",
    [tenantId, incidentId],
  );
  return rows.length > 0;
}

/**
 * The open incident a new alert joins, locked: for an Alertmanager group, the one an alert of the
 * same source and groupKey is on; otherwise the newest one the source opened within its grouping
 * window. Under READ COMMITTED, FOR UPDATE re-checks `status` on the committed row it waited for,
 * so an incident resolved meanwhile is not joined.
 */
export async function findIncidentToJoin(
  tx: Queryable,
  q: { tenantId: string; sourceId: string; groupKey: string | null; windowSeconds: number; now: Date },
): Promise<string | null> {
  if (q.groupKey !== null) {
    const { rows } = await tx.query<{ id: string }>(
      `SELECT i.id FROM incidents i
        WHERE i.tenant_id = $1 AND i.status <> 'resolved'
          AND i.id IN (SELECT incident_id FROM alerts WHERE tenant_id = $1 AND source_id = $2 AND group_key = $3 AND incident_id IS NOT NULL)
        ORDER BY i.started_at DESC LIMIT 1 FOR UPDATE OF i`,
      [q.tenantId, q.sourceId, q.groupKey],
    );
    return rows[0]?.id ?? null;
  }
  if (q.windowSeconds === 0) return null;
  const { rows } = await tx.query<{ id: string }>(
    `SELECT id FROM incidents
      WHERE tenant_id = $1 AND created_by_type = 'alert_source' AND created_by_id = $2 AND status <> 'resolved'
        AND started_at > $3::timestamptz - make_interval(secs => $4)
      ORDER BY started_at DESC LIMIT 1 FOR UPDATE`,
    [q.tenantId, q.sourceId, q.now, q.windowSeconds],
  );
  return rows[0]?.id ?? null;
}

/** Counts one event that only added to an alert (GET /v1/usage `alertEvents`). */
export async function countAlertEventUsage(tx: Queryable, tenantId: string, day: string): Promise<void> {
  await tx.query(
    `INSERT INTO alert_event_counters AS c (tenant_id, day, alert_events) VALUES ($1, $2::date, 1)
     ON CONFLICT (tenant_id, day) DO UPDATE SET alert_events = c.alert_events + 1`,
    [tenantId, day],
  );
}

export interface AlertFilter {
  status?: AlertStatus | undefined;
  sourceId?: string | undefined;
  incidentId?: string | undefined;
}

/** A page of alerts newest first, keyset on (created_at, id); `limit` is the page size plus one. */
const ALERT_PAGE = keyset('newest first', 5);
const LIST_ALERTS_SQL = `SELECT ${COLUMNS}, ${ALERT_PAGE.key} FROM alerts
      WHERE tenant_id = $1
        AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR source_id = $3) AND ($4::uuid IS NULL OR incident_id = $4)
        AND ${ALERT_PAGE.after}
      ${ALERT_PAGE.orderAndLimit}`;

/** One keyset page of the tenant's alerts, newest first, with optional filters. */
export async function listAlertRows(tx: Queryable, tenantId: string, filter: AlertFilter, page: PageRequest): Promise<(AlertRow & KeyedRow)[]> {
  const { rows } = await tx.query<AlertRow & KeyedRow>(LIST_ALERTS_SQL, [
    tenantId,
    filter.status ?? null,
    filter.sourceId ?? null,
    filter.incidentId ?? null,
    ...keysetParams(page, 'newest first'),
  ]);
  return rows;
}

export async function findAlert(tx: Queryable, tenantId: string, id: string): Promise<AlertRow | null> {
  const { rows } = await tx.query<AlertRow>(`SELECT ${COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
  return rows[0] ?? null;
}
