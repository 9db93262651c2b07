import { expect } from 'vitest';
import type { TestApp } from '../support/app.js';
import type { SessionClient } from '../support/factories.js';

export interface SourceBody {
  id: string;
  name: string;
  kind: 'events_v2' | 'alertmanager';
  routingKey: string;
  version: number;
}

export interface AlertBody {
  id: string;
  sourceId: string;
  dedupKey: string;
  status: string;
  summary: string;
  severity: string;
  source: string;
  details: unknown;
  incidentId: string | null;
  eventCount: number;
  firstSeenAt: string;
  lastSeenAt: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
}

/** Creates an alert source as `owner` (owner of `tenantId`) and returns it with its routing key. */
export async function createSource(owner: SessionClient, tenantId: string, body: Record<string, unknown> = {}): Promise<SourceBody> {
  const res = await owner.post(`/v1/tenants/${tenantId}/alert-sources`, { name: 'Prometheus', kind: 'events_v2', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as SourceBody;
}

/** A PagerDuty Events API v2 trigger for `routingKey`. */
export function trigger(routingKey: string, dedupKey: string | undefined, payload: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    ...(dedupKey === undefined ? {} : { dedup_key: dedupKey }),
    payload: { summary: `Disk full on ${dedupKey ?? 'host'}`, source: 'db-1', severity: 'critical', ...payload },
  };
}

export function sendEvent(t: TestApp, body: unknown) {
  return t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(JSON.stringify(body));
}

export function sendAlertmanager(t: TestApp, routingKey: string | null, body: unknown) {
  const req = t.request().post('/v1/integrations/alertmanager').set('content-type', 'application/json');
  return (routingKey === null ? req : req.set('authorization', `Bearer ${routingKey}`)).send(JSON.stringify(body));
}

/** An Alertmanager webhook (version 4) for one group. */
export function amPayload(groupKey: string, alerts: { fingerprint: string; status?: 'firing' | 'resolved'; labels?: Record<string, string>; summary?: string }[]) {
  return {
    version: '4',
    groupKey,
    status: alerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
    receiver: 'incident-tracker',
    groupLabels: { alertname: 'HighLatency' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.test',
    truncatedAlerts: 0,
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: { alertname: 'HighLatency', ...a.labels },
      annotations: { summary: a.summary ?? `Latency high on ${a.fingerprint}` },
      startsAt: '2026-01-01T00:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.test/graph',
      fingerprint: a.fingerprint,
    })),
  };
}

/** Every alert of the tenant (newest first), read through the system path. */
export async function alertRows(t: TestApp, tenantId: string) {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ id: string; dedup_key: string; status: string; event_count: number; incident_id: string | null; source_id: string }>(
      'SELECT id, dedup_key, status, event_count, incident_id, source_id FROM alerts WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC',
      [tenantId],
    ),
  );
  return rows;
}

export async function incidentRows(t: TestApp, tenantId: string) {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ id: string; status: string; title: string; severity: string; created_by_type: string; created_by_id: string; acknowledged_at: Date | null }>(
      'SELECT id, status, title, severity, created_by_type, created_by_id, acknowledged_at FROM incidents WHERE tenant_id = $1 ORDER BY number',
      [tenantId],
    ),
  );
  return rows;
}

/** Counts of everything ingestion may write, across all tenants: "no database write" compares two of these. */
export async function writeCounts(t: TestApp) {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query(
      `SELECT (SELECT count(*)::int FROM alerts) AS alerts,
              (SELECT coalesce(sum(event_count), 0)::int FROM alerts) AS alert_events,
              (SELECT count(*)::int FROM incidents) AS incidents,
              (SELECT count(*)::int FROM timeline_events) AS timeline_events,
              (SELECT count(*)::int FROM audit_log_events) AS audit_rows,
              (SELECT coalesce(sum(incident_writes), 0)::int FROM usage_counters) AS quota_used,
              (SELECT coalesce(sum(alert_events), 0)::int FROM alert_event_counters) AS alert_event_counters,
              (SELECT coalesce(max(last_event_at), 'epoch')::text FROM alert_sources) AS last_event`,
    ),
  );
  return rows[0];
}
