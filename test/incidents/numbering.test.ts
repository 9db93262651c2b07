import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { MANY_USERS_ENV, type IncidentBody } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  // A real pool (not the tiny default) so the creates truly race for the tenant row, and a
  // connect timeout long enough that queueing for a connection is not mistaken for an outage.
  t = await createTestApp({ env: { ...MANY_USERS_ENV, DATABASE_CONNECTION_TIMEOUT_MS: '30000' }, poolMax: 10 });
});
afterAll(async () => {
  await t.close();
});

describe('per-tenant incident numbers', () => {
  it('when 50 incidents are created concurrently in one tenant, then they get numbers 1..50 exactly', async () => {
    const { owner } = await ownerWithTenant(t);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => owner.post('/v1/incidents', { title: `Concurrent ${i}`, severity: 'SEV3' })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 201));
    const numbers = responses.map((r) => (r.body as IncidentBody).number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('when two tenants create incidents at the same time, then each counts from 1 on its own', async () => {
    const a = await ownerWithTenant(t, 'A');
    const b = await ownerWithTenant(t, 'B');
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a.owner : b.owner).post('/v1/incidents', { title: `T ${i}`, severity: 'SEV4' })),
    );
    const numbersOf = (even: boolean) =>
      responses
        .filter((_, i) => (i % 2 === 0) === even)
        .map((r) => (r.body as IncidentBody).number)
        .sort((x, y) => x - y);
    expect(numbersOf(true)).toEqual([1, 2, 3, 4, 5]);
    expect(numbersOf(false)).toEqual([1, 2, 3, 4, 5]);
  });

  it('when a create is refused after numbering (quota), then the number is not used up', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const setQuota = (n: number) => t.db.withSystemTx((tx) => tx.query('UPDATE tenants SET daily_write_quota = $2 WHERE id = $1', [tenantId, n]));
    await setQuota(1);
    const first = await owner.post('/v1/incidents', { title: 'One', severity: 'SEV4' });
    expect((first.body as IncidentBody).number).toBe(1);
    // The quota is checked after the handler numbered the incident; the rollback returns the number.
    const refused = await owner.post('/v1/incidents', { title: 'Refused', severity: 'SEV4' });
    expect(refused.status).toBe(429);
    await setQuota(10);
    const second = await owner.post('/v1/incidents', { title: 'Two', severity: 'SEV4' });
    expect((second.body as IncidentBody).number).toBe(2);
  });
});
