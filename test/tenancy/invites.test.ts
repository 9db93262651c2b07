import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { addMember, countRows, ownerWithTenant, SessionClient, signUp, uniqueEmail } from '../support/factories.js';
import { auditEntries, inviteWithToken, MANY_USERS_ENV, memberRoles, signIn, userId, type InviteBody } from './support.js';

const DAY_MS = 24 * 60 * 60 * 1000;

let t: TestApp;
// Moving the clock ends every session older than the idle timeout; tests that move it sign in again.
const clock = new FakeClock();
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV, clock });
});
afterAll(async () => {
  await t.close();
});

async function inviteRow(id: string) {
  const { rows } = await t.db.withSystemTx((tx) => tx.query('SELECT * FROM invites WHERE id = $1', [id]));
  return rows[0];
}

describe('POST /v1/tenants/:tenantId/invites', () => {
  it('creates an invite expiring in 7 days, mails a 256-bit link, and stores only the token digest', async () => {
    const { owner, tenantId } = await ownerWithTenant(t, 'Initech');
    const email = uniqueEmail('invitee');
    const { invite, token, mail } = await inviteWithToken(t, owner, tenantId, email, 'viewer');
    expect(invite).toEqual({ id: expect.any(String) as string, email, role: 'viewer', expiresAt: expect.any(String) as string, createdAt: expect.any(String) as string, revokedAt: null });
    expect(Date.parse(invite.expiresAt) - Date.parse(invite.createdAt)).toBe(7 * DAY_MS);
    expect(mail.to).toBe(email);
    expect(mail.text).toContain(`http://app.test/accept-invite?token=${token}`);
    expect(mail.text).toContain('Initech');
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);

    const row = await inviteRow(invite.id);
    expect(row?.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(token);
    const audit = await auditEntries(t, tenantId, 'invite.created');
    expect(audit).toEqual([
      { action: 'invite.created', actor_id: userId(owner), target_type: 'invite', target_id: invite.id, metadata: { email, role: 'viewer' } },
    ]);
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it('lets an admin invite', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const admin = await addMember(t, tenantId, 'admin');
    await admin.post(`/v1/tenants/${tenantId}/invites`, { email: uniqueEmail(), role: 'admin' }).expect(201);
  });

  it.each(['member', 'viewer'] as const)('refuses a %s with 403 and creates nothing', async (role) => {
    const { tenantId } = await ownerWithTenant(t);
    const caller = await addMember(t, tenantId, role);
    const spy = vi.spyOn(t.mailer, 'send');
    const res = await caller.post(`/v1/tenants/${tenantId}/invites`, { email: uniqueEmail(), role: 'member' }).expect(403);
    expect((res.body as { code: string }).code).toBe('FORBIDDEN');
    await t.drain();
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
    expect(await countRows(t, 'invites', 'tenant_id = $1', [tenantId])).toBe(0);
  });

  it('rejects an owner invite and unknown fields with 400', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    await owner.post(`/v1/tenants/${tenantId}/invites`, { email: uniqueEmail(), role: 'owner' }).expect(400);
    await owner.post(`/v1/tenants/${tenantId}/invites`, { email: uniqueEmail(), role: 'member', tenantId }).expect(400);
    await owner.post(`/v1/tenants/${tenantId}/invites`, { email: 'not-an-email', role: 'member' }).expect(400);
    expect(await countRows(t, 'invites', 'tenant_id = $1', [tenantId])).toBe(0);
  });

  it('refuses inviting an existing member with 409 ALREADY_MEMBER', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const res = await owner.post(`/v1/tenants/${tenantId}/invites`, { email: member.user?.email.toUpperCase(), role: 'admin' }).expect(409);
    expect((res.body as { code: string }).code).toBe('ALREADY_MEMBER');
  });

  it('replays a retry with the same Idempotency-Key: same body, one invite, one mail', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const spy = vi.spyOn(t.mailer, 'send');
    const body = { email: uniqueEmail(), role: 'member' };
    const first = await owner.post(`/v1/tenants/${tenantId}/invites`).set('Idempotency-Key', 'invite-1').send(body).expect(201);
    const again = await owner.post(`/v1/tenants/${tenantId}/invites`).set('Idempotency-Key', 'invite-1').send(body).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    await t.drain();
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect(await countRows(t, 'invites', 'tenant_id = $1', [tenantId])).toBe(1);
  });
});

describe('GET /v1/tenants/:tenantId/invites', () => {
  it('lists only pending invites, newest first, and pages them', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const a = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    const b = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    const revoked = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    const acceptedEmail = uniqueEmail();
    const accepted = await inviteWithToken(t, owner, tenantId, acceptedEmail);
    await owner.post(`/v1/tenants/${tenantId}/invites/${revoked.invite.id}/revoke`).expect(200);
    const invitee = await signUp(t, { email: acceptedEmail });
    await invitee.post('/v1/tenants/invites/accept', { token: accepted.token }).expect(200);

    const page1 = await owner.get(`/v1/tenants/${tenantId}/invites?limit=1`).expect(200);
    const body1 = page1.body as { data: InviteBody[]; nextCursor: string | null };
    expect(body1.data.map((i) => i.id)).toEqual([b.invite.id]);
    const page2 = await owner.get(`/v1/tenants/${tenantId}/invites?limit=1&cursor=${body1.nextCursor ?? ''}`).expect(200);
    const body2 = page2.body as { data: InviteBody[]; nextCursor: string | null };
    expect(body2.data.map((i) => i.id)).toEqual([a.invite.id]);
    expect(body2.nextCursor).toBeNull();
  });

  it('refuses a member with 403', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    await member.get(`/v1/tenants/${tenantId}/invites`).expect(403);
  });
});

describe('POST /v1/tenants/:tenantId/invites/:inviteId/revoke', () => {
  it('revokes a pending invite, audits it, and a second revoke gets 410 INVITE_EXPIRED', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const { invite } = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    const res = await owner.post(`/v1/tenants/${tenantId}/invites/${invite.id}/revoke`).expect(200);
    expect(res.body).toEqual({ ...invite, revokedAt: expect.any(String) as string });
    const again = await owner.post(`/v1/tenants/${tenantId}/invites/${invite.id}/revoke`).expect(410);
    expect((again.body as { code: string }).code).toBe('INVITE_EXPIRED');
    expect((await auditEntries(t, tenantId, 'invite.revoked')).map((e) => e.target_id)).toEqual([invite.id]);
  });

  it('answers 410 for an accepted invite', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const email = uniqueEmail();
    const { invite, token } = await inviteWithToken(t, owner, tenantId, email);
    await (await signUp(t, { email })).post('/v1/tenants/invites/accept', { token }).expect(200);
    await owner.post(`/v1/tenants/${tenantId}/invites/${invite.id}/revoke`).expect(410);
  });

  it('refuses a member with 403 once the invite is known to exist, and leaves it pending', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const { invite } = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    await member.post(`/v1/tenants/${tenantId}/invites/${invite.id}/revoke`).expect(403);
    expect((await inviteRow(invite.id))?.revoked_at).toBeNull();
  });
});

describe('POST /v1/tenants/invites/accept', () => {
  it('joins with the invite role, makes the tenant active, and audits it', async () => {
    const { owner, tenantId } = await ownerWithTenant(t, 'Umbrella');
    const email = uniqueEmail();
    const { invite, token } = await inviteWithToken(t, owner, tenantId, email, 'admin');
    const invitee = await signUp(t, { email });
    const res = await invitee.post('/v1/tenants/invites/accept', { token }).expect(200);
    expect(res.body).toEqual({ activeTenant: { id: tenantId, name: 'Umbrella', role: 'admin' } });
    expect((await memberRoles(t, tenantId))[userId(invitee)]).toBe('admin');
    const me = await invitee.get('/v1/auth/me').expect(200);
    expect((me.body as { activeTenant: unknown }).activeTenant).toEqual({ id: tenantId, name: 'Umbrella', role: 'admin' });
    expect(await auditEntries(t, tenantId, 'invite.accepted')).toEqual([
      { action: 'invite.accepted', actor_id: userId(invitee), target_type: 'invite', target_id: invite.id, metadata: { role: 'admin' } },
    ]);
    const row = await inviteRow(invite.id);
    expect(row?.accepted_by).toBe(userId(invitee));
  });

  it('answers a second use with 410 INVITE_EXPIRED', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const email = uniqueEmail();
    const { token } = await inviteWithToken(t, owner, tenantId, email);
    const invitee = await signUp(t, { email });
    await invitee.post('/v1/tenants/invites/accept', { token }).expect(200);
    await invitee.delete(`/v1/tenants/${tenantId}/members/${userId(invitee)}`).expect(204);
    const res = await invitee.post('/v1/tenants/invites/accept', { token }).expect(410);
    expect((res.body as { code: string }).code).toBe('INVITE_EXPIRED');
    expect((await memberRoles(t, tenantId))[userId(invitee)]).toBeUndefined();
  });

  it('refuses another account with 403 INVITE_EMAIL_MISMATCH and leaves the invite pending', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const { invite, token } = await inviteWithToken(t, owner, tenantId, uniqueEmail());
    const other = await signUp(t);
    const res = await other.post('/v1/tenants/invites/accept', { token }).expect(403);
    expect((res.body as { code: string }).code).toBe('INVITE_EMAIL_MISMATCH');
    expect((await memberRoles(t, tenantId))[userId(other)]).toBeUndefined();
    expect((await inviteRow(invite.id))?.accepted_at).toBeNull();
  });

  it('answers an unknown token with 404 NOT_FOUND', async () => {
    const user = await signUp(t);
    const res = await user.post('/v1/tenants/invites/accept', { token: 'x'.repeat(43) }).expect(404);
    expect((res.body as { code: string }).code).toBe('NOT_FOUND');
  });

  it('answers a revoked invite with 410', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const email = uniqueEmail();
    const { invite, token } = await inviteWithToken(t, owner, tenantId, email);
    await owner.post(`/v1/tenants/${tenantId}/invites/${invite.id}/revoke`).expect(200);
    const invitee = await signUp(t, { email });
    await invitee.post('/v1/tenants/invites/accept', { token }).expect(410);
    expect((await memberRoles(t, tenantId))[userId(invitee)]).toBeUndefined();
  });

  it('answers an existing member with 409 ALREADY_MEMBER and leaves the invite pending', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const email = uniqueEmail();
    const { invite, token } = await inviteWithToken(t, owner, tenantId, email, 'admin');
    const invitee = await signUp(t, { email });
    await t.db.withSystemTx((tx) => tx.query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer')", [tenantId, userId(invitee)]));
    const res = await invitee.post('/v1/tenants/invites/accept', { token }).expect(409);
    expect((res.body as { code: string }).code).toBe('ALREADY_MEMBER');
    expect((await memberRoles(t, tenantId))[userId(invitee)]).toBe('viewer');
    expect((await inviteRow(invite.id))?.accepted_at).toBeNull();
  });

  it('refuses a signed-out caller with 401', async () => {
    const client = new SessionClient(t.request());
    await client.refreshCsrf();
    await client.post('/v1/tenants/invites/accept', { token: 'x'.repeat(43) }).expect(401);
  });

  it('when 10 accepts of one invite race, then exactly one succeeds and one membership exists', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const email = uniqueEmail();
    const { token } = await inviteWithToken(t, owner, tenantId, email);
    const invitee = await signUp(t, { email });
    const results = await Promise.all(Array.from({ length: 10 }, () => invitee.post('/v1/tenants/invites/accept', { token })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array<number>(9).fill(410)]);
    expect(await countRows(t, 'memberships', 'tenant_id = $1 AND user_id = $2', [tenantId, userId(invitee)])).toBe(1);
    expect(await auditEntries(t, tenantId, 'invite.accepted')).toHaveLength(1);
  });
});

describe('invite expiry (fake clock)', () => {
  it('accepts just before 7 days and refuses with 410 after, and drops expired invites from the list', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const early = uniqueEmail();
    const late = uniqueEmail();
    const ownerEmail = owner.user?.email ?? '';
    const first = await inviteWithToken(t, owner, tenantId, early);
    const second = await inviteWithToken(t, owner, tenantId, late);

    clock.advance(7 * DAY_MS - 60_000);
    const earlyUser = await signUp(t, { email: early });
    await earlyUser.post('/v1/tenants/invites/accept', { token: first.token }).expect(200);

    clock.advance(2 * 60_000);
    const lateUser = await signUp(t, { email: late });
    const res = await lateUser.post('/v1/tenants/invites/accept', { token: second.token }).expect(410);
    expect((res.body as { code: string }).code).toBe('INVITE_EXPIRED');
    expect((await memberRoles(t, tenantId))[userId(lateUser)]).toBeUndefined();

    const again = await signIn(t, ownerEmail);
    const list = await again.get(`/v1/tenants/${tenantId}/invites`).expect(200);
    expect((list.body as { data: unknown[] }).data).toEqual([]);
    await again.post(`/v1/tenants/${tenantId}/invites/${second.invite.id}/revoke`).expect(410);
  });
});
