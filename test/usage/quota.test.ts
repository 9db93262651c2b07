import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, countRows, createApiKey, ownerWithTenant } from '../support/factories.js';

const LIMIT = 5;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { DAILY_WRITE_QUOTA: String(LIMIT) } });
});
afterAll(async () => {
  await t.close();
});

const incident = { title: 'Payments degraded', severity: 'SEV3' };

interface UsageBody {
  quotas: { incidentWrites: { limit: number; used: number; remaining: number; resetAt: string } };
  history: { date: string; incidentWrites: number }[];
}

function nextMidnightUtc(): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
}

describe('daily write quota', () => {
  it(`when ${LIMIT} + 20 writes race, then exactly ${LIMIT} succeed and 20 get 429 QUOTA_EXCEEDED with Retry-After and details`, async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const { key } = await createApiKey(owner, tenantId, { scopes: ['write'] });

    const invalid = await t.request().post('/v1/incidents').set('x-api-key', key).send({ title: '', severity: 'SEV9' });
    expect(invalid.status).toBe(400);
    const before = (await owner.get('/v1/usage')).body as UsageBody;
    expect(before.quotas.incidentWrites.used).toBe(0);

    const results = await Promise.all(
      Array.from({ length: LIMIT + 20 }, (_, i) => t.request().post('/v1/incidents').set('x-api-key', key).send({ ...incident, title: `Race ${i}` })),
    );
    const ok = results.filter((r) => r.status === 201);
    const rejected = results.filter((r) => r.status === 429);
    // Nothing but success or quota refusal: a deadlock or conflict would show up here.
    const other = results.filter((r) => r.status !== 201 && r.status !== 429).map((r) => [r.status, r.body] as const);
    expect(other).toEqual([]);
    expect(ok).toHaveLength(LIMIT);
    expect(rejected).toHaveLength(20);
    const remaining = ok.map((r) => Number(r.headers['x-quota-remaining'])).sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4]);
    for (const r of ok) expect(r.headers['x-quota-limit']).toBe(String(LIMIT));
    for (const r of rejected) {
      expect(r.body).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { limit: LIMIT, used: LIMIT, resetAt: nextMidnightUtc() } });
      const retryAfter = Number(r.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(86_400);
    }
    expect(await countRows(t, 'incidents', 'tenant_id = $1', [tenantId])).toBe(LIMIT);
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'quota.exceeded'", [tenantId])).toBe(1);

    // A session write is refused as well, and still audited only once for the day.
    const session = await owner.post('/v1/incidents', incident);
    expect(session.status).toBe(429);
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'quota.exceeded'", [tenantId])).toBe(1);
  });

  it('when writes were made, then GET /v1/usage shows today, 30 days of history oldest first, and zeros elsewhere', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    for (let i = 0; i < 3; i += 1) expect((await owner.post('/v1/incidents', { ...incident, title: `W${i}` })).status).toBe(201);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await t.db.withSystemTx((tx) => tx.query('INSERT INTO usage_counters (tenant_id, day, incident_writes) VALUES ($1, $2::date, 7)', [tenantId, yesterday]));

    const res = await owner.get('/v1/usage');
    expect(res.status).toBe(200);
    const body = res.body as UsageBody;
    expect(body.quotas.incidentWrites).toEqual({ limit: LIMIT, used: 3, remaining: 2, resetAt: nextMidnightUtc() });
    expect(body.history).toHaveLength(30);
    const today = new Date().toISOString().slice(0, 10);
    expect(body.history[29]).toEqual({ date: today, incidentWrites: 3, alertEvents: 0 });
    expect(body.history[28]).toEqual({ date: yesterday, incidentWrites: 7, alertEvents: 0 });
    expect(body.history[0]?.date).toBe(new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10));
    expect(body.history.slice(0, 28).every((d) => d.incidentWrites === 0)).toBe(true);
  });

  it("when the tenant has its own limit, then it overrides DAILY_WRITE_QUOTA for writes and usage", async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    await t.db.withSystemTx((tx) => tx.query('UPDATE tenants SET daily_write_quota = 2 WHERE id = $1', [tenantId]));
    expect((await owner.post('/v1/incidents', incident)).status).toBe(201);
    expect((await owner.post('/v1/incidents', incident)).status).toBe(201);
    const third = await owner.post('/v1/incidents', incident);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ details: { limit: 2, used: 2 } });
    const usage = (await owner.get('/v1/usage')).body as UsageBody;
    expect(usage.quotas.incidentWrites).toMatchObject({ limit: 2, used: 2, remaining: 0 });
  });

  it('when a member without billing.read asks for usage, then 403; an admin may read it', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const admin = await addMember(t, tenantId, 'admin');
    const denied = await member.get('/v1/usage');
    expect(denied.status).toBe(403);
    expect((denied.body as { code: string }).code).toBe('FORBIDDEN');
    expect((await admin.get('/v1/usage')).status).toBe(200);
  });
});
