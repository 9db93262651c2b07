import type autocannon from 'autocannon';
import { proxyHeaders } from './flows.js';
import { measureVariants, ProbeError, roundRatios, type Log, type VariantDef } from './measure.js';
import type { BenchOptions } from './options.js';
import type { GroupResult, Proc } from './scenarios.js';
import { ANALYTICS_FROM, ANALYTICS_TO, DEDUP_KEYS, type AlertFixture } from './setup-alerts.js';
import { withClient, type BenchData, type TenantFixture } from './setup.js';

/**
 * P14 and P15 (docs/performance.md). Each P14 connection keeps its own tenant and alert source and
 * its own share of the 1,000 dedup keys (key k goes to connection k mod connections), looping over
 * them: after the first pass (probe and warm-up) every event adds to an open alert, the steady state
 * of a noisy monitor. Variants send the same events on the same rows.
 */

function eventBody(routingKey: string, k: number): string {
  return JSON.stringify({
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: `bench-alert-${String(k)}`,
    payload: {
      summary: `Disk usage above 90% on db-${String(k % 50)}`,
      source: `db-${String(k % 50)}.bench.example`,
      severity: 'warning',
      custom_details: { used_percent: 91.5, mount: '/var/lib/postgresql' },
    },
  });
}

function keysOf(conn: number, connections: number): number[] {
  const keys: number[] = [];
  for (let k = conn; k < DEDUP_KEYS; k += connections) keys.push(k);
  return keys;
}

function alertOf(alerts: readonly AlertFixture[], conn: number): AlertFixture {
  const a = alerts[conn % alerts.length];
  if (!a) throw new Error('no alert source for connection');
  return a;
}

/** The app: events-v2 triggers, routing key in the body, as a PagerDuty client sends them. */
export function appTriggers(alerts: readonly AlertFixture[], connections: number) {
  return (conn: number): autocannon.Request[] => {
    const a = alertOf(alerts, conn);
    return keysOf(conn, connections).map((k) => ({
      method: 'POST',
      path: '/v1/integrations/events-v2/enqueue',
      headers: { 'content-type': 'application/json', ...proxyHeaders(conn) },
      body: eventBody(a.routingKey, k),
    }));
  };
}

/** B-alert: the same bodies, the tenant and source in the path. */
export function baselineTriggers(alerts: readonly AlertFixture[], connections: number) {
  return (conn: number): autocannon.Request[] => {
    const a = alertOf(alerts, conn);
    return keysOf(conn, connections).map((k) => ({
      method: 'POST',
      path: `/alerts/${a.tenant.id}/${a.sourceId}`,
      headers: { 'content-type': 'application/json' },
      body: eventBody(a.routingKey, k),
    }));
  };
}

/** The open bench alerts and the events they counted (1,000 alerts whatever the number of runs). */
async function openAlerts(data: BenchData): Promise<{ alerts: number; events: number }> {
  return withClient(data.databaseUrl, async (c) => {
    const { rows } = await c.query<{ alerts: number; events: string }>(
      `SELECT count(*)::int AS alerts, COALESCE(sum(event_count), 0)::text AS events FROM alerts
        WHERE tenant_id = ANY($1::uuid[]) AND source_id = ANY($2::uuid[]) AND status <> 'resolved'`,
      [data.alertTenants.map((a) => a.tenant.id), data.alertTenants.map((a) => a.sourceId)],
    );
    return { alerts: rows[0]?.alerts ?? 0, events: Number(rows[0]?.events ?? 0) };
  });
}

/**
 * Sends every dedup key once through the app (one worker per connection), so that the measured
 * rounds see the steady state: 1,000 open alerts, each event adding to one. The first run on a
 * fresh database opens the alerts and their incidents here; later runs only add events.
 */
async function prime(port: number, data: BenchData, connections: number): Promise<number> {
  const alerts = data.alertTenants;
  const { alerts: before } = await openAlerts(data);
  const workers = Array.from({ length: connections }, async (_, conn) => {
    for (const req of appTriggers(alerts, connections)(conn)) {
      const res = await fetch(`http://127.0.0.1:${String(port)}${req.path ?? '/'}`, {
        method: 'POST',
        headers: req.headers as Record<string, string>,
        body: req.body as string,
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.status !== 202) throw new ProbeError(`App events-v2 trigger: POST /v1/integrations/events-v2/enqueue answered ${String(res.status)}`);
    }
  });
  await Promise.all(workers);
  return (await openAlerts(data)).alerts - before;
}

/** P14: events-v2 trigger ingestion against B-alert's bare upsert, interleaved. */
export async function alertIngestGroup(opts: BenchOptions, data: BenchData, procs: { bAlert: Proc; app: Proc }, log: Log): Promise<GroupResult> {
  const variants: VariantDef[] = [
    { key: 'balert', name: 'B-alert bare upsert', port: procs.bAlert.port, requests: baselineTriggers(data.alertTenants, opts.connections), pid: procs.bAlert.pid },
    { key: 'app', name: 'App events-v2 trigger', port: procs.app.port, requests: appTriggers(data.alertTenants, opts.connections), pid: procs.app.pid },
  ];
  const primed = await prime(procs.app.port, data, opts.connections);
  log(`  P14 primed: every dedup key sent once through the app (${String(primed)} new alerts)`);
  const before = await openAlerts(data);
  const results = await measureVariants(opts, 'P14', variants, log);
  const after = await openAlerts(data);
  // Every key was sent many times; the events must have been added to the 1,000 open alerts, not opened new ones.
  if (after.alerts !== DEDUP_KEYS) throw new ProbeError(`expected ${String(DEDUP_KEYS)} open bench alerts, found ${String(after.alerts)}`);
  log(`  P14: ${String(after.alerts)} open alerts, ${String(after.events - before.events)} events added to them in this run`);
  return {
    variants: results,
    ratios: { P14: roundRatios(results, 'app', 'balert') },
    extra: { openAlerts: after.alerts, eventsCounted: after.events - before.events, alertTenants: data.alertTenants.length, dedupKeys: DEDUP_KEYS },
  };
}

const ANALYTICS_QUERY = `from=${encodeURIComponent(ANALYTICS_FROM)}&to=${encodeURIComponent(ANALYTICS_TO)}&interval=week&groupBy=severity`;

function analyticsRequest(path: string, headers: Record<string, string>) {
  return (): autocannon.Request[] => [{ method: 'GET', path, headers }];
}

/** P15: the app's analytics of the big tenant (a year by week, by severity) against B-analytics. */
export async function analyticsGroup(opts: BenchOptions, data: BenchData, procs: { bAnalytics: Proc; app: Proc }, log: Log): Promise<GroupResult> {
  const big: TenantFixture = data.bigTenant;
  const variants: VariantDef[] = [
    { key: 'banalytics', name: 'B-analytics bare aggregate', port: procs.bAnalytics.port, requests: analyticsRequest(`/analytics?tenant=${big.id}&${ANALYTICS_QUERY}`, {}), pid: procs.bAnalytics.pid },
    {
      key: 'app',
      name: 'App GET /v1/analytics/incidents',
      port: procs.app.port,
      requests: analyticsRequest(`/v1/analytics/incidents?${ANALYTICS_QUERY}`, { 'x-api-key': big.apiKey, ...proxyHeaders(0) }),
      pid: procs.app.pid,
    },
  ];
  // As many connections as the pool has: an aggregate over 100,000 rows takes a good part of a
  // second of database time, and 16 connections would queue past the pool's checkout timeout, so
  // the rounds would measure 503s instead of the query.
  const connections = Math.min(opts.connections, opts.poolMax);
  const results = await measureVariants({ ...opts, connections }, 'P15', variants, log);
  return { variants: results, ratios: { P15: roundRatios(results, 'app', 'banalytics') }, extra: { connections } };
}
