import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, createTenant, ownerWithTenant, signUp } from '../support/factories.js';
import { auditEntries, MANY_USERS_ENV, memberRoles, userId } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

describe('tenants', () => {
  it('when a user creates a tenant, then they own it, it is active, and tenant.created is audited', async () => {
    const user = await signUp(t);
    const res = await user.post('/v1/tenants', { name: 'Hooli' }).expect(201);
    const tenant = res.body as { id: string; name: string; role: string };
    expect(tenant).toEqual({ id: expect.any(String) as string, name: 'Hooli', role: 'owner' });
    expect(await memberRoles(t, tenant.id)).toEqual({ [userId(user)]: 'owner' });
    const me = await user.get('/v1/auth/me').expect(200);
    expect((me.body as { activeTenant: unknown }).activeTenant).toEqual(tenant);
    expect(await auditEntries(t, tenant.id)).toEqual([
      { action: 'tenant.created', actor_id: userId(user), target_type: 'tenant', target_id: tenant.id, metadata: { name: 'Hooli' } },
    ]);
  });

  it('lists only the tenants the caller belongs to, with their role', async () => {
    const { owner, tenantId } = await ownerWithTenant(t, 'Mine');
    const { tenantId: foreign } = await ownerWithTenant(t, 'Theirs');
    const { tenantId: joined } = await ownerWithTenant(t, 'Joined');
    await t.db.withSystemTx((tx) => tx.query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')", [joined, userId(owner)]));
    const res = await owner.get('/v1/tenants').expect(200);
    const list = res.body as { data: { id: string; role: string }[]; nextCursor: null };
    expect(list.data.map((d) => [d.id, d.role]).sort()).toEqual([[tenantId, 'owner'], [joined, 'viewer']].sort());
    expect(list.data.map((d) => d.id)).not.toContain(foreign);
  });

  it('pages the caller\'s tenants with limit and cursor, and answers 400 for an invalid limit or cursor', async () => {
    const { owner, tenantId: first } = await ownerWithTenant(t, 'P1');
    const second = await createTenant(owner, 'P2');
    const third = await createTenant(owner, 'P3');
    const page1 = (await owner.get('/v1/tenants?limit=2').expect(200)).body as { data: { id: string }[]; nextCursor: string | null };
    expect(page1.data.map((d) => d.id)).toEqual([third, second]);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = (await owner.get(`/v1/tenants?limit=2&cursor=${page1.nextCursor ?? ''}`).expect(200)).body as { data: { id: string }[]; nextCursor: string | null };
    expect(page2).toEqual({ data: [expect.objectContaining({ id: first }) as unknown], nextCursor: null });
    for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'cursor=not-a-cursor', 'colour=blue']) {
      const res = await owner.get(`/v1/tenants?${bad}`);
      expect(res.status, bad).toBe(400);
      expect((res.body as { code: string }).code, bad).toBe('VALIDATION_FAILED');
    }
  });

  it('when a signed-in user with no active tenant calls a tenant route, then 409 TENANT_CONTEXT_REQUIRED says how to choose or create one', async () => {
    const user = await signUp(t);
    const res = await user.get('/v1/incidents').expect(409);
    const body = res.body as { code: string; message: string };
    expect(body.code).toBe('TENANT_CONTEXT_REQUIRED');
    expect(body.message).toContain('POST /v1/tenants/{tenantId}/switch');
    expect(body.message).toContain('POST /v1/tenants.');
  });

  it('when POST /v1/tenants is retried with the same Idempotency-Key, then one tenant exists and the 201 is replayed', async () => {
    const user = await signUp(t);
    const first = await user.post('/v1/tenants', { name: 'Once' }).set('Idempotency-Key', 'tenant-1');
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await user.post('/v1/tenants', { name: 'Once' }).set('Idempotency-Key', 'tenant-1');
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    const reused = await user.post('/v1/tenants', { name: 'Twice' }).set('Idempotency-Key', 'tenant-1');
    expect(reused.status).toBe(422);
    expect((reused.body as { code: string }).code).toBe('IDEMPOTENCY_KEY_REUSED');
    const mine = (await user.get('/v1/tenants').expect(200)).body as { data: { id: string }[] };
    expect(mine.data.map((d) => d.id)).toEqual([(first.body as { id: string }).id]);
    // Keys belong to the user: another user with the same key creates their own tenant.
    const other = await signUp(t);
    const theirs = await other.post('/v1/tenants', { name: 'Once' }).set('Idempotency-Key', 'tenant-1');
    expect(theirs.status).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect((theirs.body as { id: string }).id).not.toBe((first.body as { id: string }).id);
  });

  it('when tenant creates race with one Idempotency-Key, then exactly one tenant exists and the others are replays or 409 IDEMPOTENCY_IN_PROGRESS', async () => {
    const user = await signUp(t);
    const results = await Promise.all(Array.from({ length: 4 }, () => user.post('/v1/tenants', { name: 'Raced' }).set('Idempotency-Key', 'race')));
    const ids = new Set(results.filter((r) => r.status === 201).map((r) => (r.body as { id: string }).id));
    expect(ids.size).toBe(1);
    for (const r of results.filter((x) => x.status !== 201)) expect([r.status, (r.body as { code: string }).code]).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
    expect(((await user.get('/v1/tenants').expect(200)).body as { data: unknown[] }).data).toHaveLength(1);
  });

  it('switches to a tenant the caller belongs to, and answers 404 for any other', async () => {
    const { owner, tenantId } = await ownerWithTenant(t, 'First');
    const second = await createTenant(owner, 'Second');
    const { tenantId: foreign } = await ownerWithTenant(t);
    const res = await owner.post(`/v1/tenants/${tenantId}/switch`).expect(200);
    expect(res.body).toEqual({ activeTenant: { id: tenantId, name: 'First', role: 'owner' } });
    await owner.post(`/v1/tenants/${foreign}/switch`).expect(404);
    await owner.post(`/v1/tenants/${randomUUID()}/switch`).expect(404);
    await owner.post('/v1/tenants/not-a-uuid/switch').expect(404);
    const me = await owner.get('/v1/auth/me').expect(200);
    expect((me.body as { activeTenant: { id: string } }).activeTenant.id).toBe(tenantId);
    expect(second).not.toBe(tenantId);
  });

  it('ignores no tenant fields in bodies: an unknown field on create is rejected with 400', async () => {
    const user = await signUp(t);
    const res = await user.post('/v1/tenants', { name: 'X', role: 'owner', tenantId: randomUUID() }).expect(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it('a member switching in gets their own role, not the owner one', async () => {
    const { tenantId } = await ownerWithTenant(t, 'Roles');
    const viewer = await addMember(t, tenantId, 'viewer');
    const res = await viewer.post(`/v1/tenants/${tenantId}/switch`).expect(200);
    expect(res.body).toEqual({ activeTenant: { id: tenantId, name: 'Roles', role: 'viewer' } });
  });
});
