import { expect } from 'vitest';
import type { TestApp } from '../support/app.js';
import type { SessionClient } from '../support/factories.js';

export interface IncidentBody {
  id: string;
  number: number;
  title: string;
  description: string | null;
  severity: string;
  status: string;
  allowedTransitions: string[];
  commanderId: string | null;
  createdBy: { type: string; id: string };
  acknowledgedAt: string | null;
  acknowledgedBy: { type: string; id: string } | null;
  startedAt: string;
  identifiedAt: string | null;
  monitoringAt: string | null;
  resolvedAt: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface TaskBody {
  id: string;
  incidentId: string;
  title: string;
  status: string;
  assigneeId: string | null;
  dueAt: string | null;
  version: number;
}

export interface TimelineEventBody {
  id: string;
  type: string;
  message: string;
  occurredAt: string;
  actor: { type: string; id: string };
  createdAt: string;
}

export interface ListBody<T> {
  data: T[];
  nextCursor: string | null;
}

export async function openIncident(client: SessionClient, body: Record<string, unknown> = {}): Promise<IncidentBody> {
  const res = await client.post('/v1/incidents', { title: 'Checkout 502s', severity: 'SEV2', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as IncidentBody;
}

export async function createTaskFor(client: SessionClient, incidentId: string, body: Record<string, unknown> = {}): Promise<TaskBody> {
  const res = await client.post(`/v1/incidents/${incidentId}/tasks`, { title: 'Roll back', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as TaskBody;
}

/** Every timeline event of an incident, oldest first, walking all pages. */
export async function timelineOf(client: SessionClient, incidentId: string): Promise<TimelineEventBody[]> {
  const events: TimelineEventBody[] = [];
  let cursor: string | null = null;
  do {
    const res = await client.get(`/v1/incidents/${incidentId}/timeline-events?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    const body = res.body as ListBody<TimelineEventBody>;
    events.push(...body.data);
    cursor = body.nextCursor;
  } while (cursor);
  return events;
}

export function auditCount(t: TestApp, tenantId: string, action: string): Promise<number> {
  return countAudit(t, 'tenant_id = $1 AND action = $2', [tenantId, action]);
}

async function countAudit(t: TestApp, where: string, params: unknown[]): Promise<number> {
  const { rows } = await t.db.withSystemTx((tx) => tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log_events WHERE ${where}`, params));
  return rows[0]?.n ?? 0;
}

/** All audit actions of a tenant in order, for "exactly these rows" assertions. */
export async function auditActions(t: TestApp, tenantId: string): Promise<string[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ action: string }>('SELECT action FROM audit_log_events WHERE tenant_id = $1 ORDER BY seq', [tenantId]),
  );
  return rows.map((r) => r.action);
}

/** A snapshot of everything the incident feature writes for a tenant, to prove "nothing changed". */
export async function tenantState(t: TestApp, tenantId: string) {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query(
      `SELECT (SELECT count(*)::int FROM incidents WHERE tenant_id = $1) AS incidents,
              (SELECT coalesce(sum(version), 0)::int FROM incidents WHERE tenant_id = $1) AS incident_versions,
              (SELECT count(*)::int FROM timeline_events WHERE tenant_id = $1) AS timeline_events,
              (SELECT count(*)::int FROM tasks WHERE tenant_id = $1) AS tasks,
              (SELECT coalesce(sum(version), 0)::int FROM tasks WHERE tenant_id = $1) AS task_versions,
              (SELECT count(*)::int FROM status_updates WHERE tenant_id = $1) AS status_updates,
              (SELECT count(*)::int FROM audit_log_events WHERE tenant_id = $1) AS audit_rows,
              (SELECT coalesce(sum(incident_writes), 0)::int FROM usage_counters WHERE tenant_id = $1) AS quota_used`,
      [tenantId],
    ),
  );
  return rows[0];
}

/** Incident tests sign many users up from one address; the per-IP auth throttles are not under test here. */
export const MANY_USERS_ENV = { SIGNUP_IP_LIMIT_PER_HOUR: '1000000', LOGIN_IP_LIMIT_PER_15_MIN: '1000000' };
