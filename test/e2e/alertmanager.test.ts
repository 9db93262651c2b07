/**
 * A real client end to end: Debian's Prometheus Alertmanager, configured with one receiver per
 * ingestion route (`webhook_configs` with bearer authorization, `pagerduty_configs` with `url`
 * and `routing_key`, the snippets of README "Sending alerts"), gets alerts on its own API
 * (`POST /api/v2/alerts`) and must open, group and, once the alerts are posted again with
 * `endsAt` in the past, auto-resolve incidents here. Waits poll for what must happen, never sleep.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { listenOnFreePort, type Listening } from '../support/listen.js';
import { createSource, incidentRows } from '../alerts/support.js';

/** The alertmanager binary: Debian installs it as prometheus-alertmanager. */
function findAlertmanager(): string | null {
  for (const name of ['alertmanager', 'prometheus-alertmanager']) {
    const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (which.status === 0 && which.stdout.trim() !== '') return which.stdout.trim();
  }
  return existsSync('/usr/bin/prometheus-alertmanager') ? '/usr/bin/prometheus-alertmanager' : null;
}

const BINARY = findAlertmanager();
if (BINARY === null) {
  process.stdout.write('SKIPPED the Alertmanager lane: no alertmanager binary (install Debian\'s prometheus-alertmanager; .ci/run does).\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function alertmanagerConfig(api: string, webhookKey: string, pagerdutyKey: string): string {
  return `route:
  receiver: incident-tracker-webhook
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: incident-tracker-webhook
      continue: true
    - receiver: incident-tracker-pagerduty
receivers:
  - name: incident-tracker-webhook
    webhook_configs:
      - url: ${api}/v1/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: ${webhookKey}
  - name: incident-tracker-pagerduty
    pagerduty_configs:
      - url: ${api}/v1/integrations/events-v2/enqueue
        routing_key: ${pagerdutyKey}
        severity: '{{ .CommonLabels.severity }}'
        send_resolved: true
`;
}

describe.skipIf(BINARY === null)('Prometheus Alertmanager end to end', () => {
  let t: TestApp;
  let server: Listening;
  let am: ChildProcess;
  let amUrl: string;
  let dir: string;
  let tenantId: string;
  let webhookSourceId: string;
  let pagerdutySourceId: string;
  let amLog = '';

  beforeAll(async () => {
    t = await createTestApp();
    server = await listenOnFreePort(t);
    const world = await ownerWithTenant(t);
    tenantId = world.tenantId;
    const webhook = await createSource(world.owner, tenantId, { name: 'Alertmanager webhook', kind: 'alertmanager' });
    const pagerduty = await createSource(world.owner, tenantId, { name: 'Alertmanager via PagerDuty', kind: 'events_v2' });
    webhookSourceId = webhook.id;
    pagerdutySourceId = pagerduty.id;
    dir = await mkdtemp(join(tmpdir(), 'alertmanager-e2e-'));
    await writeFile(join(dir, 'alertmanager.yml'), alertmanagerConfig(server.origin, webhook.routingKey, pagerduty.routingKey));
    const port = await freePort();
    amUrl = `http://127.0.0.1:${String(port)}`;
    am = spawn(BINARY as string, [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${String(port)}`, '--cluster.listen-address='], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    am.stdout?.on('data', (b: Buffer) => (amLog += b.toString()));
    am.stderr?.on('data', (b: Buffer) => (amLog += b.toString()));
    await until('alertmanager to be ready', async () => {
      try {
        return (await fetch(`${amUrl}/-/ready`)).ok ? true : null;
      } catch {
        return null;
      }
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${amLog}`);
    });
  });

  afterAll(async () => {
    am.kill('SIGTERM');
    await server.close();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function post(alerts: { instance: string; endsAt?: string }[]): Promise<void> {
    const res = await fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        alerts.map((a) => ({
          labels: { alertname: 'DiskFull', instance: a.instance, severity: 'critical' },
          annotations: { summary: `Disk full on ${a.instance}` },
          startsAt: new Date(Date.now() - 60_000).toISOString(),
          ...(a.endsAt ? { endsAt: a.endsAt } : {}),
        })),
      ),
    });
    expect(res.status).toBe(200);
  }

  async function alertsOf(sourceId: string) {
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ status: string; incident_id: string | null; event_count: number }>('SELECT status, incident_id, event_count FROM alerts WHERE tenant_id = $1 AND source_id = $2', [tenantId, sourceId]),
    );
    return rows;
  }

  it('opens one incident per group on each route, and resolves them when the alerts end', async () => {
    await post([{ instance: 'db-1' }, { instance: 'db-2' }]);

    // Webhook: one alert per Alertmanager alert (fingerprint), grouped into one incident.
    const webhookAlerts = await until('both webhook alerts on one incident', async () => {
      const rows = await alertsOf(webhookSourceId);
      return rows.length === 2 && rows.every((r) => r.incident_id !== null && r.incident_id === rows[0]?.incident_id) ? rows : null;
    });
    // PagerDuty: Alertmanager sends one event per group (its dedup key is the group's).
    const pagerdutyAlerts = await until('the PagerDuty-style alert', async () => {
      const rows = await alertsOf(pagerdutySourceId);
      return rows.length === 1 && rows[0]?.incident_id ? rows : null;
    });
    const incidents = await incidentRows(t, tenantId);
    expect(incidents).toHaveLength(2);
    expect(incidents.map((i) => i.severity)).toEqual(['SEV1', 'SEV1']);
    expect(new Set(incidents.map((i) => i.created_by_id))).toEqual(new Set([webhookSourceId, pagerdutySourceId]));
    expect(incidents.map((i) => i.id).sort()).toEqual([webhookAlerts[0]?.incident_id, pagerdutyAlerts[0]?.incident_id].sort());

    // Posted again with endsAt in the past: Alertmanager sends them resolved.
    const past = new Date(Date.now() - 1000).toISOString();
    await post([{ instance: 'db-1', endsAt: past }, { instance: 'db-2', endsAt: past }]);
    const resolved = await until('both incidents auto-resolved', async () => {
      const rows = await incidentRows(t, tenantId);
      return rows.every((r) => r.status === 'resolved') ? rows : null;
    });
    expect(resolved).toHaveLength(2);
    expect((await alertsOf(webhookSourceId)).map((a) => a.status)).toEqual(['resolved', 'resolved']);
    expect((await alertsOf(pagerdutySourceId)).map((a) => a.status)).toEqual(['resolved']);
  });
});
