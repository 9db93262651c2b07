/**
 * Exactness under concurrency (docs/api-guide.md "Alerts"). On PostgreSQL the requests really
 * overlap (a pool of 8 connections, one HTTP server), so the unique open-alert index, ON CONFLICT
 * and the row locks are what make the figures exact: 1,000 triggers, as the contract states. The
 * embedded PGlite runs one transaction at a time, so there the same tests run a tenth of the load.
 */
const STORM = onPostgres ? 1000 : 100;
const KEYS = onPostgres ? 50 : 5;
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { listenOnFreePort, type Listening } from '../support/listen.js';
import { onPostgres } from '../support/backend.js';
import { MANY_USERS_ENV } from '../incidents/helpers.js';
import { alertRows, createSource, incidentRows, trigger } from './support.js';

let t: TestApp;
let server: Listening;
beforeAll(async () => {
  t = await createTestApp({ env: { ...MANY_USERS_ENV, ALERT_EVENTS_PER_MINUTE: '100000', DATABASE_CONNECTION_TIMEOUT_MS: '120000' }, poolMax: 8 });
  server = await listenOnFreePort(t);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

/**
 * Sends every body at once over up to 100 keep-alive sockets (more would overflow the listen
 * backlog); the server holds them all in flight, the database pool (8) runs 8 at a time.
 */
async function fire(bodies: unknown[]): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 100 });
  try {
    return await Promise.all(
      bodies.map(
        (body) =>
          new Promise<number>((resolve, reject) => {
            const req = request(`${server.origin}/v1/integrations/events-v2/enqueue`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
              res.resume();
              res.on('end', () => {
                resolve(res.statusCode ?? 0);
              });
            });
            req.on('error', reject);
            req.end(JSON.stringify(body));
          }),
      ),
    );
  } finally {
    agent.destroy();
  }
}

describe('concurrent triggers', { timeout: 300_000 }, () => {
  it(`${String(STORM)} concurrent triggers with one dedup key make one alert with eventCount ${String(STORM)} and one incident`, async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const statuses = await fire(Array.from({ length: STORM }, () => trigger(source.routingKey, 'storm')));
    expect(statuses.filter((s) => s !== 202)).toEqual([]);
    const alerts = await alertRows(t, tenantId);
    expect(alerts.map((a) => [a.dedup_key, a.event_count])).toEqual([['storm', STORM]]);
    expect(await incidentRows(t, tenantId)).toHaveLength(1);
    const usage = (await owner.get('/v1/usage').expect(200)).body as { quotas: { incidentWrites: { used: number } }; alertEvents: { today: number } };
    expect(usage.quotas.incidentWrites.used).toBe(1);
    expect(usage.alertEvents.today).toBe(STORM - 1);
  });

  it(`${String(STORM)} concurrent triggers over ${String(KEYS)} dedup keys make ${String(KEYS)} alerts of 20 events each, ${String(KEYS)} incidents`, async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const statuses = await fire(Array.from({ length: STORM }, (_, i) => trigger(source.routingKey, `key-${String(i % KEYS)}`)));
    expect(statuses.filter((s) => s !== 202)).toEqual([]);
    const alerts = await alertRows(t, tenantId);
    expect(alerts).toHaveLength(KEYS);
    expect(alerts.every((a) => a.event_count === 20)).toBe(true);
    expect(new Set(alerts.map((a) => a.incident_id)).size).toBe(KEYS);
    expect(await incidentRows(t, tenantId)).toHaveLength(KEYS);
  });

  it('50 new keys at once inside one grouping window all join one incident', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { groupingWindowSeconds: 3600 });
    const statuses = await fire(Array.from({ length: 50 }, (_, i) => trigger(source.routingKey, `g-${String(i)}`)));
    expect(statuses.filter((s) => s !== 202)).toEqual([]);
    expect(await incidentRows(t, tenantId)).toHaveLength(1);
    expect(new Set((await alertRows(t, tenantId)).map((a) => a.incident_id)).size).toBe(1);
  });

  it('resolving the 50 alerts of one incident at once resolves the incident exactly once', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { groupingWindowSeconds: 3600 });
    await fire(Array.from({ length: 50 }, (_, i) => trigger(source.routingKey, `r-${String(i)}`)));
    const statuses = await fire(Array.from({ length: 50 }, (_, i) => ({ routing_key: source.routingKey, event_action: 'resolve', dedup_key: `r-${String(i)}` })));
    expect(statuses.filter((s) => s !== 202)).toEqual([]);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['resolved']);
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log_events WHERE tenant_id = $1 AND action = 'incident.updated'", [tenantId]),
    );
    expect(rows[0]?.n).toBe(1);
  });
});
