// Must stay the first import: it starts the SDK before the app's modules load (see support.ts).
import { counterValue, histogramTotals } from './support.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../src/features/api-keys/api-key.token.js';
import { METRIC } from '../../src/platform/telemetry/metrics.js';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { onPostgres } from '../support/backend.js';
import { insertApiKey, ownerWithTenant, SessionClient, uniqueEmail } from '../support/factories.js';

const QUOTA = 2;
const clock = new FakeClock();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock, env: { DAILY_WRITE_QUOTA: String(QUOTA) } });
});
afterAll(async () => {
  await t.close();
});

/** How much each named reading moved while `action` ran. */
async function deltas<K extends string>(readings: Record<K, () => Promise<number>>, action: () => Promise<void>): Promise<Record<K, number>> {
  const names = Object.keys(readings) as K[];
  const before = await Promise.all(names.map((n) => readings[n]()));
  await action();
  const after = await Promise.all(names.map((n) => readings[n]()));
  return Object.fromEntries(names.map((n, i) => [n, (after[i] ?? 0) - (before[i] ?? 0)])) as Record<K, number>;
}

async function anonymousClient(): Promise<SessionClient> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  return client;
}

async function logIn(client: SessionClient, email: string, password: string): Promise<number> {
  return (await client.post('/v1/auth/login', { email, password })).status;
}

describe('metrics', () => {
  it('when a login fails, then login attempts with outcome failed moves by one and succeeded does not', async () => {
    const client = await anonymousClient();
    const moved = await deltas(
      {
        failed: () => counterValue(METRIC.loginAttempts, { outcome: 'failed' }),
        succeeded: () => counterValue(METRIC.loginAttempts, { outcome: 'succeeded' }),
        lockouts: () => counterValue(METRIC.lockouts),
        audited: () => counterValue(METRIC.auditEvents, { action: 'auth.login.failed' }),
      },
      async () => {
        expect(await logIn(client, uniqueEmail('nobody'), 'not the password at all')).toBe(401);
      },
    );
    expect(moved).toEqual({ failed: 1, succeeded: 0, lockouts: 0, audited: 1 });
  });

  it('when one email fails ten times in a row, then one lockout is counted', async () => {
    const client = await anonymousClient();
    const email = uniqueEmail('locked');
    const lockoutsBefore = await counterValue(METRIC.lockouts);
    const moved = await deltas(
      { failed: () => counterValue(METRIC.loginAttempts, { outcome: 'failed' }), lockouts: () => counterValue(METRIC.lockouts) },
      async () => {
        for (let i = 0; i < 9; i++) expect(await logIn(client, email, 'wrong password number one')).toBe(401);
        expect(await counterValue(METRIC.lockouts)).toBe(lockoutsBefore);
        expect(await logIn(client, email, 'wrong password number one')).toBe(401);
        // Refused while locked: not another lockout.
        expect(await logIn(client, email, 'wrong password number one')).toBe(429);
      },
    );
    expect(moved).toEqual({ failed: 10, lockouts: 1 });
  });

  it('when an incident is created, then incidents created and its audit action move by one', async () => {
    const { owner } = await ownerWithTenant(t);
    const moved = await deltas(
      { created: () => counterValue(METRIC.incidentsCreated), audited: () => counterValue(METRIC.auditEvents, { action: 'incident.created' }) },
      async () => {
        expect((await owner.post('/v1/incidents', { title: 'Queue backlog', severity: 'SEV3' })).status).toBe(201);
      },
    );
    expect(moved).toEqual({ created: 1, audited: 1 });
  });

  it('when a write is over the daily quota, then quota rejections moves and the refused incident is not counted as created', async () => {
    const { owner } = await ownerWithTenant(t);
    const moved = await deltas(
      { rejections: () => counterValue(METRIC.quotaRejections), created: () => counterValue(METRIC.incidentsCreated) },
      async () => {
        for (let i = 0; i < QUOTA; i++) expect((await owner.post('/v1/incidents', { title: `Write ${i}`, severity: 'SEV4' })).status).toBe(201);
        expect((await owner.post('/v1/incidents', { title: 'One too many', severity: 'SEV4' })).status).toBe(429);
      },
    );
    expect(moved).toEqual({ rejections: 1, created: QUOTA });
  });

  it('when an incident is resolved, then incidents resolved moves and its time to resolve is recorded', async () => {
    const { owner } = await ownerWithTenant(t);
    const created = await owner.post('/v1/incidents', { title: 'Login errors', severity: 'SEV2' });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const before = await histogramTotals(METRIC.incidentTimeToResolve);
    const resolvedBefore = await counterValue(METRIC.incidentsResolved);

    clock.advance(90_000);
    expect((await owner.patch(`/v1/incidents/${id}`, { status: 'resolved' })).status).toBe(200);

    expect((await counterValue(METRIC.incidentsResolved)) - resolvedBefore).toBe(1);
    const after = await histogramTotals(METRIC.incidentTimeToResolve);
    expect(after.count - before.count).toBe(1);
    expect(after.sum - before.sum).toBeGreaterThanOrEqual(90);
    expect(after.sum - before.sum).toBeLessThan(120);
  });

  it('counts API key checks by outcome: succeeded, malformed, invalid, revoked and expired', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const valid = await insertApiKey(t, tenantId, ['read']);
    const revoked = await insertApiKey(t, tenantId, ['read']);
    const expired = await insertApiKey(t, tenantId, ['read']);
    await t.db.withSystemTx(async (tx) => {
      await tx.query('UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND public_id = $2', [tenantId, revoked.split('_')[1]]);
      await tx.query("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE tenant_id = $1 AND public_id = $2", [tenantId, expired.split('_')[1]]);
    });
    const outcomes = ['succeeded', 'malformed', 'invalid', 'revoked', 'expired'] as const;
    const moved = await deltas(
      Object.fromEntries(outcomes.map((o) => [o, () => counterValue(METRIC.apiKeyAuthentications, { outcome: o })])) as Record<(typeof outcomes)[number], () => Promise<number>>,
      async () => {
        const get = (key: string) => t.request().get('/v1/incidents').set('x-api-key', key);
        expect((await get(valid)).status).toBe(200);
        expect((await get('itk_malformed')).status).toBe(401);
        expect((await get(issueApiKey().key)).status).toBe(401);
        expect((await get(revoked)).status).toBe(401);
        expect((await get(expired)).status).toBe(401);
      },
    );
    expect(moved).toEqual({ succeeded: 1, malformed: 1, invalid: 1, revoked: 1, expired: 1 });
  });

  it('when requests are served, then the HTTP duration is recorded per method, route and status, and each statement in the database duration', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const key = await insertApiKey(t, tenantId, ['read']);
    const count = (name: string, wanted: Record<string, string | number>) => async () => (await histogramTotals(name, wanted)).count;
    const moved = await deltas(
      {
        listed: count('http.server.request.duration', { 'http.request.method': 'GET', 'http.route': '/v1/incidents', 'http.response.status_code': 200 }),
        unknown: count('http.server.request.duration', { 'http.request.method': 'GET', 'http.response.status_code': 404 }),
        selects: count('db.client.operation.duration', { 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT' }),
      },
      async () => {
        expect((await t.request().get('/v1/incidents').set('x-api-key', key)).status).toBe(200);
        expect((await t.request().get('/v1/no-such-thing').set('x-api-key', key)).status).toBe(404);
      },
    );
    // The list's own SELECT and the key lookup at least.
    expect(moved.listed).toBe(1);
    expect(moved.unknown).toBe(1);
    expect(moved.selects).toBeGreaterThanOrEqual(2);
    const unmatched = await histogramTotals('http.server.request.duration', { 'http.response.status_code': 404 });
    expect(unmatched.sum).toBeGreaterThan(0);
  });

  it.runIf(onPostgres)('observes the pool: connections by state and waiting checkouts', async () => {
    expect((await t.request().get('/v1/incidents').set('x-api-key', await insertApiKey(t, (await ownerWithTenant(t)).tenantId, ['read']))).status).toBe(200);
    // The request's connection went back to the pool: at least one idle, none waiting.
    expect(await counterValue('db.client.connection.count', { 'db.client.connection.state': 'idle' })).toBeGreaterThanOrEqual(1);
    expect(await counterValue('db.client.connection.pending_requests')).toBe(0);
  });
});
