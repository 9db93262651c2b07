import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/platform/audit/audit.js';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { addMember, countRows, createApiKey, createServiceAccount, ownerWithTenant, type SessionClient } from '../support/factories.js';

const clock = new FakeClock();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => {
  await t.close();
});

interface Entry {
  id: string;
  action: string;
  actor: { type: string; id: string | null };
  target: { type: string | null; id: string | null };
  metadata: Record<string, unknown>;
  createdAt: string;
}
interface Page {
  data: Entry[];
  nextCursor: string | null;
}

const STEP_MS = 10 * 60_000;

async function walk(client: SessionClient, query: string, limit: number): Promise<Entry[]> {
  const all: Entry[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages += 1) {
    const sep = query ? '&' : '';
    const res = await client.get(`/v1/audit-logs?${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    const page = res.body as Page;
    expect(page.data.length).toBeLessThanOrEqual(limit);
    all.push(...page.data);
    if (page.nextCursor === null) return all;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

async function tamper(id: string): Promise<void> {
  await t.db.withSystemTx(async (tx) => {
    // Superuser only: disables the append-only trigger for this transaction.
    await tx.query('SET LOCAL session_replication_role = replica');
    await tx.query(`UPDATE audit_log_events SET metadata = '{"tampered": true}'::jsonb WHERE id = $1`, [id]);
  });
}

/** A tenant with audit rows at three distinct times by two actors. */
async function scenario() {
  const { owner, tenantId } = await ownerWithTenant(t);
  const t0 = clock.now();
  clock.advance(STEP_MS);
  const t1 = clock.now();
  for (const name of ['a', 'b', 'c']) await createServiceAccount(owner, tenantId, name);
  const admin = await addMember(t, tenantId, 'admin');
  clock.advance(STEP_MS);
  const t2 = clock.now();
  const key = await createApiKey(admin, tenantId);
  expect((await owner.post(`/v1/tenants/${tenantId}/api-keys/${key.id}/revoke`)).status).toBe(200);
  return { owner, admin, tenantId, key, t0, t1, t2 };
}

describe('GET /v1/audit-logs', () => {
  it('when walking pages, then every tenant row appears once, newest first, and nothing else', async () => {
    const s = await scenario();
    await ownerWithTenant(t);
    const entries = await walk(s.owner, '', 2);
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ id: string }>('SELECT id FROM audit_log_events WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC', [s.tenantId]),
    );
    expect(rows.length).toBeGreaterThanOrEqual(7);
    expect(entries.map((e) => e.id)).toEqual(rows.map((r) => r.id));
    expect(entries[entries.length - 1]?.action).toBe('tenant.created');
    expect(entries[0]).toMatchObject({ action: 'api_key.revoked', actor: { type: 'user', id: s.owner.user?.id }, target: { type: 'api_key', id: s.key.id } });
  });

  it('filters by action, actor, target and time', async () => {
    const s = await scenario();
    const byAction = await walk(s.owner, 'action=service_account.created', 25);
    expect(byAction).toHaveLength(4);
    expect(byAction.every((e) => e.action === 'service_account.created')).toBe(true);

    const byActor = await walk(s.owner, `actorId=${s.admin.user?.id ?? ''}`, 25);
    expect(byActor.map((e) => e.action)).toEqual(['api_key.created', 'service_account.created']);

    const byTarget = await walk(s.owner, `targetType=api_key&targetId=${s.key.id}`, 25);
    expect(byTarget.map((e) => e.action)).toEqual(['api_key.revoked', 'api_key.created']);
    expect(JSON.stringify(byTarget)).not.toContain(s.key.key.slice(37, 60));

    const since = await walk(s.owner, `since=${encodeURIComponent(s.t2.toISOString())}`, 25);
    expect(since.map((e) => e.action).sort()).toEqual(['api_key.created', 'api_key.revoked', 'service_account.created'].sort());
    const until = await walk(s.owner, `until=${encodeURIComponent(s.t1.toISOString())}`, 25);
    expect(until.map((e) => e.action)).toEqual(['tenant.created']);
    const window = await walk(s.owner, `since=${encodeURIComponent(s.t1.toISOString())}&until=${encodeURIComponent(s.t2.toISOString())}&action=service_account.created`, 25);
    expect(window).toHaveLength(3);
    expect(s.t0.getTime()).toBeLessThan(s.t1.getTime());
  });

  it('never shows account-level rows or another tenant', async () => {
    const s = await scenario();
    const other = await scenario();
    expect(await walk(s.owner, 'action=auth.signup', 25)).toEqual([]);
    expect(await countRows(t, 'audit_log_events', "tenant_id IS NULL AND action = 'auth.signup' AND actor_id = $1", [s.owner.user?.id])).toBe(1);
    const ids = new Set((await walk(s.owner, '', 100)).map((e) => e.id));
    const otherIds = (await walk(other.owner, '', 100)).map((e) => e.id);
    expect(otherIds.length).toBeGreaterThan(0);
    expect(otherIds.filter((id) => ids.has(id))).toEqual([]);
  });

  it('when a cursor is reused with different filters, then 400 VALIDATION_FAILED rather than another list\'s page', async () => {
    const s = await scenario();
    const first = (await s.owner.get('/v1/audit-logs?action=service_account.created&limit=1').expect(200)).body as Page;
    expect(first.nextCursor).not.toBeNull();
    const cursor = first.nextCursor ?? '';
    expect((await s.owner.get(`/v1/audit-logs?action=service_account.created&limit=1&cursor=${cursor}`)).status).toBe(200);
    for (const other of ['', 'action=tenant.created', 'action=service_account.created&targetType=tenant']) {
      const res = await s.owner.get(`/v1/audit-logs?${other}&limit=1&cursor=${cursor}`);
      expect(res.status, other).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    }
  });

  it('when a member asks, then 403; a bad cursor, date or unknown parameter is 400', async () => {
    const s = await scenario();
    const member = await addMember(t, s.tenantId, 'member');
    expect((await member.get('/v1/audit-logs')).status).toBe(403);
    expect((await member.get('/v1/audit-logs/verify')).status).toBe(403);
    for (const q of ['cursor=not-a-cursor', 'since=yesterday', 'actorId=nope', 'limit=0', 'bogus=1']) {
      const res = await s.owner.get(`/v1/audit-logs?${q}`);
      expect(res.status, q).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('GET /v1/audit-logs/verify', () => {
  it('when the chain is intact, then valid; after a superuser edits one row, then that exact row is reported', async () => {
    const s = await scenario();
    const total = await countRows(t, 'audit_log_events', 'tenant_id = $1', [s.tenantId]);
    const ok = await s.owner.get('/v1/audit-logs/verify');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ valid: true, checked: total, firstInvalidId: null });

    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ id: string }>('SELECT id FROM audit_log_events WHERE tenant_id = $1 AND seq = 3', [s.tenantId]),
    );
    const victim = rows[0]?.id ?? '';
    await tamper(victim);
    const bad = await s.owner.get('/v1/audit-logs/verify');
    expect(bad.status).toBe(200);
    expect(bad.body).toEqual({ valid: false, checked: 3, firstInvalidId: victim });

    // Another tenant's chain is untouched by the edit.
    const other = await scenario();
    expect(((await other.owner.get('/v1/audit-logs/verify')).body as { valid: boolean }).valid).toBe(true);
  });

  it('when the chain spans several verification batches, then a change deep in it is still found', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const ctx = { principal: { type: 'anonymous' as const }, ip: null, userAgent: null, requestId: 'bulk-seed', now: clock.now() };
    await t.db.withAppTx({ tenantId, userId: null }, async (tx) => {
      for (let i = 0; i < 2100; i += 1) await recordAuditEvent(tx, ctx, tenantId, { action: 'test.seeded', metadata: { i } });
    });
    const ok = await owner.get('/v1/audit-logs/verify');
    expect(ok.body).toEqual({ valid: true, checked: 2101, firstInvalidId: null });

    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ id: string }>('SELECT id FROM audit_log_events WHERE tenant_id = $1 AND seq = 2050', [tenantId]),
    );
    await tamper(rows[0]?.id ?? '');
    expect((await owner.get('/v1/audit-logs/verify')).body).toEqual({ valid: false, checked: 2050, firstInvalidId: rows[0]?.id });
  });

  it('when the app role tries to UPDATE or DELETE audit rows, then the database refuses', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const before = await countRows(t, 'audit_log_events', 'tenant_id = $1', [tenantId]);
    await expect(
      t.db.withAppTx({ tenantId, userId: owner.user?.id ?? null }, (tx) => tx.query(`UPDATE audit_log_events SET action = 'x.y' WHERE tenant_id = $1`, [tenantId])),
    ).rejects.toThrow();
    await expect(
      t.db.withAppTx({ tenantId, userId: owner.user?.id ?? null }, (tx) => tx.query('DELETE FROM audit_log_events WHERE tenant_id = $1', [tenantId])),
    ).rejects.toThrow();
    expect(await countRows(t, 'audit_log_events', 'tenant_id = $1', [tenantId])).toBe(before);
    expect(((await owner.get('/v1/audit-logs/verify')).body as { valid: boolean }).valid).toBe(true);
  });
});
