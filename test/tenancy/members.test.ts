import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, ownerWithTenant, signUp } from '../support/factories.js';
import { auditEntries, MANY_USERS_ENV, memberRoles, userId } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

interface MemberBody {
  user: { id: string; email: string; name: string; createdAt: string };
  role: string;
  joinedAt: string;
}

describe('GET /v1/tenants/:tenantId/members', () => {
  it('lists every member with their user, role and join time, newest first', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    const viewer = await addMember(t, tenantId, 'viewer');
    const res = await owner.get(`/v1/tenants/${tenantId}/members`).expect(200);
    const body = res.body as { data: MemberBody[]; nextCursor: string | null };
    expect(body.nextCursor).toBeNull();
    expect(body.data.map((m) => [m.user.id, m.role])).toEqual([
      [userId(viewer), 'viewer'],
      [userId(admin), 'admin'],
      [userId(owner), 'owner'],
    ]);
    expect(body.data[2]?.user).toEqual({ ...owner.user, createdAt: expect.any(String) as string });
  });

  it('lets a viewer read the member list (members.read)', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const viewer = await addMember(t, tenantId, 'viewer');
    const res = await viewer.get(`/v1/tenants/${tenantId}/members`).expect(200);
    expect((res.body as { data: unknown[] }).data).toHaveLength(2);
  });

  it('pages with a keyset cursor without skipping or repeating members', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const added = [];
    for (let i = 0; i < 4; i++) added.push(userId(await addMember(t, tenantId, 'member')));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const res = await owner.get(`/v1/tenants/${tenantId}/members${q}`).expect(200);
      const body = res.body as { data: MemberBody[]; nextCursor: string | null };
      expect(body.data.length).toBeLessThanOrEqual(2);
      seen.push(...body.data.map((m) => m.user.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...added.reverse(), userId(owner)]);
  });

  it('rejects a malformed cursor with 400 VALIDATION_FAILED', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await owner.get(`/v1/tenants/${tenantId}/members?cursor=not-a-cursor`).expect(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
  });
});

describe('PATCH /v1/tenants/:tenantId/members/:userId', () => {
  it('when an owner promotes a member to admin, then the role changes, is audited and applies on the next request', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    await member.get(`/v1/tenants/${tenantId}/invites`).expect(403);
    const res = await owner.patch(`/v1/tenants/${tenantId}/members/${userId(member)}`, { role: 'admin' }).expect(200);
    expect(res.body).toMatchObject({ user: { id: userId(member) }, role: 'admin' });
    expect((await memberRoles(t, tenantId))[userId(member)]).toBe('admin');
    await member.get(`/v1/tenants/${tenantId}/invites`).expect(200);
    const audit = await auditEntries(t, tenantId, 'member.role_changed');
    expect(audit).toEqual([
      { action: 'member.role_changed', actor_id: userId(owner), target_type: 'user', target_id: userId(member), metadata: { from: 'member', to: 'admin' } },
    ]);
  });

  it('lets an owner make another owner', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    await owner.patch(`/v1/tenants/${tenantId}/members/${userId(admin)}`, { role: 'owner' }).expect(200);
    expect((await memberRoles(t, tenantId))[userId(admin)]).toBe('owner');
  });

  it('lets an admin change a non-owner', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    const member = await addMember(t, tenantId, 'member');
    await admin.patch(`/v1/tenants/${tenantId}/members/${userId(member)}`, { role: 'viewer' }).expect(200);
    expect((await memberRoles(t, tenantId))[userId(member)]).toBe('viewer');
  });

  it('refuses an admin changing an owner with 403 and changes nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    await addMember(t, tenantId, 'owner');
    const admin = await addMember(t, tenantId, 'admin');
    const before = await memberRoles(t, tenantId);
    const res = await admin.patch(`/v1/tenants/${tenantId}/members/${userId(owner)}`, { role: 'viewer' }).expect(403);
    expect((res.body as { code: string }).code).toBe('FORBIDDEN');
    expect(await memberRoles(t, tenantId)).toEqual(before);
  });

  it('refuses an admin making anyone an owner, themself included, with 403', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    const member = await addMember(t, tenantId, 'member');
    await admin.patch(`/v1/tenants/${tenantId}/members/${userId(member)}`, { role: 'owner' }).expect(403);
    await admin.patch(`/v1/tenants/${tenantId}/members/${userId(admin)}`, { role: 'owner' }).expect(403);
    const roles = await memberRoles(t, tenantId);
    expect([roles[userId(member)], roles[userId(admin)]]).toEqual(['member', 'admin']);
  });

  it.each(['member', 'viewer'] as const)('refuses a %s changing roles with 403', async (role) => {
    const { tenantId } = await ownerWithTenant(t);
    const caller = await addMember(t, tenantId, role);
    const other = await addMember(t, tenantId, 'viewer');
    await caller.patch(`/v1/tenants/${tenantId}/members/${userId(other)}`, { role: 'member' }).expect(403);
    await caller.patch(`/v1/tenants/${tenantId}/members/${userId(caller)}`, { role: 'admin' }).expect(403);
    expect((await memberRoles(t, tenantId))[userId(caller)]).toBe(role);
  });

  it('when the only owner demotes themself, then 409 LAST_OWNER and they stay owner', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    await addMember(t, tenantId, 'admin');
    const res = await owner.patch(`/v1/tenants/${tenantId}/members/${userId(owner)}`, { role: 'admin' }).expect(409);
    expect((res.body as { code: string }).code).toBe('LAST_OWNER');
    expect((await memberRoles(t, tenantId))[userId(owner)]).toBe('owner');
    expect(await auditEntries(t, tenantId, 'member.role_changed')).toEqual([]);
  });

  it('when two owners demote each other at once, then exactly one succeeds and an owner remains', async () => {
    const { owner: a, tenantId } = await ownerWithTenant(t);
    const b = await addMember(t, tenantId, 'owner');
    const results = await Promise.all([
      a.patch(`/v1/tenants/${tenantId}/members/${userId(b)}`, { role: 'member' }),
      b.patch(`/v1/tenants/${tenantId}/members/${userId(a)}`, { role: 'member' }),
    ]);
    const statuses = results.map((r) => r.status).sort();
    // The loser either counted one owner left (409) or was already demoted when its role loaded (403).
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    expect(Object.values(await memberRoles(t, tenantId)).filter((r) => r === 'owner')).toHaveLength(1);
  });

  it('rejects an owner role outside the enum and unknown fields like tenantId with 400', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    await owner.patch(`/v1/tenants/${tenantId}/members/${userId(member)}`, { role: 'superuser' }).expect(400);
    const res = await owner.patch(`/v1/tenants/${tenantId}/members/${userId(member)}`, { role: 'admin', tenantId }).expect(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    expect((await memberRoles(t, tenantId))[userId(member)]).toBe('member');
  });

  it('answers 404 for a user who is not a member of the tenant', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const stranger = await signUp(t);
    const res = await owner.patch(`/v1/tenants/${tenantId}/members/${userId(stranger)}`, { role: 'admin' }).expect(404);
    expect((res.body as { code: string }).code).toBe('NOT_FOUND');
  });
});

describe('DELETE /v1/tenants/:tenantId/members/:userId', () => {
  it('when an owner removes a member, then the membership is gone, audited, and the member loses the tenant', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    await owner.delete(`/v1/tenants/${tenantId}/members/${userId(member)}`).expect(204);
    expect(await memberRoles(t, tenantId)).toEqual({ [userId(owner)]: 'owner' });
    expect(await auditEntries(t, tenantId, 'member.removed')).toEqual([
      { action: 'member.removed', actor_id: userId(owner), target_type: 'user', target_id: userId(member), metadata: { role: 'member', selfRemoval: false } },
    ]);
    await member.get(`/v1/tenants/${tenantId}/members`).expect(404);
    // Any active-tenant route: the wrapper finds no membership and clears the session's tenant.
    const next = await member.get('/v1/incidents').expect(409);
    expect((next.body as { code: string }).code).toBe('TENANT_CONTEXT_REQUIRED');
    const me = await member.get('/v1/auth/me').expect(200);
    expect((me.body as { activeTenant: unknown }).activeTenant).toBeNull();
  });

  it('lets an admin remove a member but not an owner', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    const member = await addMember(t, tenantId, 'member');
    const res = await admin.delete(`/v1/tenants/${tenantId}/members/${userId(owner)}`).expect(403);
    expect((res.body as { code: string }).code).toBe('FORBIDDEN');
    await admin.delete(`/v1/tenants/${tenantId}/members/${userId(member)}`).expect(204);
    expect(Object.keys(await memberRoles(t, tenantId)).sort()).toEqual([userId(owner), userId(admin)].sort());
  });

  it('refuses a viewer removing someone else with 403 but lets them leave', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const viewer = await addMember(t, tenantId, 'viewer');
    const member = await addMember(t, tenantId, 'member');
    await viewer.delete(`/v1/tenants/${tenantId}/members/${userId(member)}`).expect(403);
    await viewer.delete(`/v1/tenants/${tenantId}/members/${userId(viewer)}`).expect(204);
    const roles = await memberRoles(t, tenantId);
    expect(roles[userId(viewer)]).toBeUndefined();
    expect(roles[userId(member)]).toBe('member');
    expect((await auditEntries(t, tenantId, 'member.removed'))[0]?.metadata).toEqual({ role: 'viewer', selfRemoval: true });
  });

  it('when the only owner leaves, then 409 LAST_OWNER; with a second owner they may', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await owner.delete(`/v1/tenants/${tenantId}/members/${userId(owner)}`).expect(409);
    expect((res.body as { code: string }).code).toBe('LAST_OWNER');
    await addMember(t, tenantId, 'owner');
    await owner.delete(`/v1/tenants/${tenantId}/members/${userId(owner)}`).expect(204);
    expect(Object.values(await memberRoles(t, tenantId))).toEqual(['owner']);
  });

  it('when two owners leave at once, then exactly one succeeds and an owner remains', async () => {
    const { owner: a, tenantId } = await ownerWithTenant(t);
    const b = await addMember(t, tenantId, 'owner');
    const results = await Promise.all([
      a.delete(`/v1/tenants/${tenantId}/members/${userId(a)}`),
      b.delete(`/v1/tenants/${tenantId}/members/${userId(b)}`),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
    expect(Object.values(await memberRoles(t, tenantId))).toEqual(['owner']);
  });
});
