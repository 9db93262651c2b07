import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRowHash, recordAuditEvent, type AuditRow } from '../../src/platform/audit/audit.js';
import { recordEvent } from '../../src/features/events/events.record.js';
import { loadIncident } from '../../src/features/incidents/incidents.service.js';
import type { RequestContext } from '../../src/platform/http/context.js';
import { createTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  // A real pool, so concurrent appends race in the database (PGlite runs them one at a time).
  t = await createTestApp({ env: { DATABASE_CONNECTION_TIMEOUT_MS: '30000' }, poolMax: 8 });
});
afterAll(async () => {
  await t.close();
});

function appendOne(tenantId: string, n: number): Promise<void> {
  return t.db.withAppTx({ tenantId, userId: null }, (tx) =>
    recordAuditEvent(tx, { principal: { type: 'anonymous' }, ip: null, userAgent: null, requestId: `req-${String(n)}`, now: new Date() }, tenantId, {
      action: 'probe.appended',
      metadata: { n },
    }),
  );
}

async function chainOf(tenantId: string): Promise<{ events: AuditRow[]; head: { seq: number; hash: string } | undefined }> {
  return t.db.withSystemTx(async (tx) => {
    const events = await tx.query<AuditRow>('SELECT * FROM audit_log_events WHERE tenant_id = $1 ORDER BY seq', [tenantId]);
    const head = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_chain_heads WHERE tenant_id = $1', [tenantId]);
    return { events: events.rows, head: head.rows[0] };
  });
}

describe('audit chain heads', () => {
  it('when a new chain gets 20 concurrent first appends, then it is one gapless chain and its head is the last event', async () => {
    const tenantId = randomUUID();
    await Promise.all(Array.from({ length: 20 }, (_, n) => appendOne(tenantId, n)));
    const { events, head } = await chainOf(tenantId);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    events.forEach((e, i) => {
      expect(e.prev_hash).toBe(i === 0 ? null : events[i - 1]?.hash);
      const { hash, ...rest } = e;
      expect(auditRowHash(rest)).toBe(hash);
    });
    expect(head).toEqual({ seq: 20, hash: events[19]?.hash });
    expect(new Set(events.map((e) => (e.metadata as { n: number }).n)).size).toBe(20);
  });

  it('when an append rolls back, then the head stays where the last committed event left it', async () => {
    const tenantId = randomUUID();
    await appendOne(tenantId, 1);
    const before = await chainOf(tenantId);
    await expect(
      t.db.withAppTx({ tenantId, userId: null }, async (tx) => {
        await recordAuditEvent(tx, { principal: { type: 'anonymous' }, ip: null, userAgent: null, requestId: 'r', now: new Date() }, tenantId, {
          action: 'probe.appended',
        });
        throw new Error('the request failed after auditing');
      }),
    ).rejects.toThrow('the request failed after auditing');
    await appendOne(tenantId, 2);
    const after = await chainOf(tenantId);
    expect(after.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(after.events[1]?.prev_hash).toBe(before.head?.hash);
    expect(after.head?.seq).toBe(2);
  });

  // As bench/lib/setup.ts seeds them: a tenant and an incident by SQL, with no chain head row.
  async function seededTenant(): Promise<{ tenantId: string; incidentId: string }> {
    const tenantId = randomUUID();
    const incidentId = randomUUID();
    await t.db.withSystemTx(async (tx) => {
      await tx.query("INSERT INTO tenants (id, name) VALUES ($1, 'Seeded by SQL')", [tenantId]);
      await tx.query(
        `INSERT INTO incidents (id, tenant_id, number, title, severity, status, created_by_type, created_by_id, started_at, created_at, updated_at)
         VALUES ($2, $1, 1, 'Seeded', 'SEV3', 'investigating', 'service_account', $3, now(), now(), now())`,
        [tenantId, incidentId, randomUUID()],
      );
    });
    return { tenantId, incidentId };
  }

  function headRows(tenantId: string): Promise<number> {
    return t.db.withSystemTx(async (tx) => (await tx.query('SELECT 1 FROM audit_chain_heads WHERE tenant_id = $1', [tenantId])).rows.length);
  }

  it('when a tenant seeded without a head row locks an incident and audits nothing, then the head is made inside its transaction', async () => {
    const { tenantId, incidentId } = await seededTenant();
    const ctx: RequestContext = {
      requestId: 'r',
      ip: null,
      userAgent: null,
      principal: { type: 'service_account', serviceAccountId: randomUUID(), apiKeyId: randomUUID(), scopes: ['write'] },
      tenant: { id: tenantId, role: null },
      now: new Date(),
      authorized: new Set(),
    };
    const lockAndFinish = (fail: boolean) =>
      t.db.withAppTx({ tenantId, userId: null }, async (tx) => {
        await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write', { forUpdate: true });
        if (fail) throw new Error('the request failed before changing anything');
        return 'unchanged';
      });
    // Rolled back: the head made for it goes too (it was never written outside the transaction).
    await expect(lockAndFinish(true)).rejects.toThrow('before changing anything');
    expect(await headRows(tenantId)).toBe(0);
    await expect(lockAndFinish(false)).resolves.toBe('unchanged');
    expect(await headRows(tenantId)).toBe(1);
    await appendOne(tenantId, 1);
    expect((await chainOf(tenantId)).events.map((e) => e.seq)).toEqual([1]);
  });
  it('when a tenant seeded with events by SQL and no head row gets 12 concurrent events, then they continue its seq with no gap and the head counts them', async () => {
    const { tenantId, incidentId } = await seededTenant();
    await t.db.withSystemTx((tx) =>
      tx.query(
        `INSERT INTO events (tenant_id, seq, id, type, incident_id, actor_type, actor_id, data, occurred_at)
         SELECT $1, n, gen_random_uuid(), 'incident.updated', $2, 'system', NULL, '{}', now() FROM generate_series(1, 3) AS n`,
        [tenantId, incidentId],
      ),
    );
    const ctx = { principal: { type: 'anonymous' as const }, now: new Date() };
    const recorded = await Promise.all(
      Array.from({ length: 12 }, () =>
        t.db.withAppTx({ tenantId, userId: null }, (tx) => recordEvent(tx, ctx, tenantId, { type: 'incident.updated', incidentId, data: {} })),
      ),
    );
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ seq: number | string; event_seq: number | string }>(
        'SELECT e.seq, h.event_seq FROM events e JOIN audit_chain_heads h ON h.tenant_id = e.tenant_id WHERE e.tenant_id = $1 ORDER BY e.seq',
        [tenantId],
      ),
    );
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(recorded.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 4));
    expect(Number(rows[0]?.event_seq)).toBe(15);
  });

  it('when an evented change rolls back, then its seq is not used up: the next event takes it', async () => {
    const { tenantId, incidentId } = await seededTenant();
    const ctx = { principal: { type: 'anonymous' as const }, now: new Date() };
    const record = () => t.db.withAppTx({ tenantId, userId: null }, (tx) => recordEvent(tx, ctx, tenantId, { type: 'incident.updated', incidentId, data: {} }));
    expect((await record()).seq).toBe(1);
    await expect(
      t.db.withAppTx({ tenantId, userId: null }, async (tx) => {
        await recordEvent(tx, ctx, tenantId, { type: 'incident.updated', incidentId, data: {} });
        throw new Error('the request failed after recording');
      }),
    ).rejects.toThrow('after recording');
    expect((await record()).seq).toBe(2);
  });
});
