import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRowHash, recordAuditEvent, type AuditRow } from '../../src/platform/audit/audit.js';
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
});
