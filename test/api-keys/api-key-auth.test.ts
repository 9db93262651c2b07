import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { issueApiKey } from '../../src/features/api-keys/api-key.token.js';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { createApiKey, ownerWithTenant } from '../support/factories.js';

const clock = new FakeClock();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(async () => {
  await t.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const incident = { title: 'Checkout is down', severity: 'SEV2' };

function withKey(key: string) {
  return {
    get: (path: string) => t.request().get(path).set('x-api-key', key),
    post: (path: string, body: object) => t.request().post(path).set('x-api-key', key).send(body),
    patch: (path: string, body: object) => t.request().patch(path).set('x-api-key', key).send(body),
  };
}

function codeOf(res: { body: unknown }): string {
  return (res.body as { code: string }).code;
}

describe('API key authentication', () => {
  it('when a write key is used, then it reads and writes incidents without CSRF, as its service account, and lastUsedAt is recorded', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId, { scopes: ['write'] });
    const api = withKey(issued.key);
    expect((await api.get('/v1/incidents')).status).toBe(200);
    const created = await api.post('/v1/incidents', incident);
    expect(created.status).toBe(201);
    expect((created.body as { createdBy: unknown }).createdBy).toEqual({ type: 'service_account', id: issued.serviceAccountId });
    const list = await owner.get(`/v1/tenants/${tenantId}/api-keys`);
    const listed = (list.body as { data: { id: string; lastUsedAt: string | null }[] }).data.find((k) => k.id === issued.id);
    expect(listed?.lastUsedAt).not.toBeNull();
  });

  it('when a key is revoked, then the very next request with it is 401 API_KEY_INVALID', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId);
    const api = withKey(issued.key);
    expect((await api.get('/v1/incidents')).status).toBe(200);
    expect((await owner.post(`/v1/tenants/${tenantId}/api-keys/${issued.id}/revoke`)).status).toBe(200);
    const after = await api.get('/v1/incidents');
    expect(after.status).toBe(401);
    expect(codeOf(after)).toBe('API_KEY_INVALID');
  });

  it('when a key passes its expiry, then the next request with it is 401 API_KEY_INVALID', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId, { expiresAt: new Date(clock.now().getTime() + 10 * 60_000).toISOString() });
    const api = withKey(issued.key);
    expect((await api.get('/v1/incidents')).status).toBe(200);
    clock.advance(10 * 60_000 + 1000);
    const after = await api.get('/v1/incidents');
    expect(after.status).toBe(401);
    expect(codeOf(after)).toBe('API_KEY_INVALID');
  });

  it('when the key is malformed or its checksum is wrong, then 401 without any database transaction', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId);
    const last = issued.key.slice(-1);
    const badChecksum = issued.key.slice(0, -1) + (last === '0' ? '1' : '0');
    const mistypedSecret = issued.key.slice(0, 40) + (issued.key[40] === 'a' ? 'b' : 'a') + issued.key.slice(41);
    // The background workers poll the database too: stopped, so that only the requests count.
    await t.built.jobs.stop();
    const appTx = vi.spyOn(t.db, 'withAppTx');
    const systemTx = vi.spyOn(t.db, 'withSystemTx');
    for (const key of ['itk_nope', issued.key.slice(0, -2), `${issued.key}0`, issued.key.toUpperCase(), badChecksum, mistypedSecret]) {
      const res = await withKey(key).get('/v1/incidents');
      expect(res.status, key).toBe(401);
      expect(codeOf(res)).toBe('API_KEY_INVALID');
    }
    t.built.jobs.start();
    expect(appTx).not.toHaveBeenCalled();
    expect(systemTx).not.toHaveBeenCalled();
  });

  it('when a well-formed key was never issued, then 401 API_KEY_INVALID after the lookup', async () => {
    const res = await withKey(issueApiKey().key).get('/v1/incidents');
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe('API_KEY_INVALID');
  });

  it('when an invalid x-api-key comes with a valid session cookie, then 401: the cookie is ignored', async () => {
    const { owner } = await ownerWithTenant(t);
    expect((await owner.get('/v1/incidents')).status).toBe(200);
    const res = await owner.get('/v1/incidents').set('x-api-key', issueApiKey().key);
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe('API_KEY_INVALID');
  });

  it('when a key is sent in the query string, then 401 even if it is valid', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId);
    const res = await t.request().get(`/v1/incidents?api_key=${issued.key}`);
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe('API_KEY_INVALID');
  });

  it('when a key is used outside /v1/incidents, /v1/alerts and /v1/analytics, then 403 SESSION_REQUIRED', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const api = withKey((await createApiKey(owner, tenantId)).key);
    for (const res of [
      await api.get('/v1/tenants'),
      await api.get(`/v1/tenants/${tenantId}/api-keys`),
      await api.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'x' }),
      await api.get('/v1/audit-logs'),
      await api.get('/v1/usage'),
      await api.get(`/v1/tenants/${tenantId}/alert-sources`),
      await api.post(`/v1/tenants/${tenantId}/alert-sources`, { name: 'x', kind: 'events_v2' }),
    ]) {
      expect(res.status).toBe(403);
      expect(codeOf(res)).toBe('SESSION_REQUIRED');
    }
  });

  it('when a read key reads alerts and analytics, then 200 with the key tenant\'s data', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const api = withKey((await createApiKey(owner, tenantId, { scopes: ['read'] })).key);
    const alerts = await api.get('/v1/alerts');
    expect(alerts.status).toBe(200);
    expect(alerts.body).toEqual({ data: [], nextCursor: null });
    const analytics = await api.get('/v1/analytics/incidents');
    expect(analytics.status).toBe(200);
    expect((analytics.body as { interval: string }).interval).toBe('day');
  });

  it('when a read key reads, then 200; when it writes (POST or PATCH), then 403 INSUFFICIENT_SCOPE and nothing changes', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const made = await owner.post('/v1/incidents', incident);
    expect(made.status).toBe(201);
    const incidentId = (made.body as { id: string }).id;
    const api = withKey((await createApiKey(owner, tenantId, { scopes: ['read'] })).key);

    expect((await api.get('/v1/incidents')).status).toBe(200);
    expect((await api.get(`/v1/incidents/${incidentId}`)).status).toBe(200);
    const post = await api.post('/v1/incidents', incident);
    expect(post.status).toBe(403);
    expect(codeOf(post)).toBe('INSUFFICIENT_SCOPE');
    const patch = await api.patch(`/v1/incidents/${incidentId}`, { title: 'Changed' });
    expect(patch.status).toBe(403);
    expect(codeOf(patch)).toBe('INSUFFICIENT_SCOPE');
    const after = await owner.get(`/v1/incidents/${incidentId}`);
    expect((after.body as { title: string }).title).toBe(incident.title);
    expect((await owner.get('/v1/incidents')).body).toMatchObject({ data: [{ id: incidentId }] });
  });

  it("when tenant A's key asks for tenant B's incident, then 404 as for a random id", async () => {
    const a = await ownerWithTenant(t);
    const b = await ownerWithTenant(t);
    const made = await b.owner.post('/v1/incidents', incident);
    expect(made.status).toBe(201);
    const incidentId = (made.body as { id: string }).id;
    const api = withKey((await createApiKey(a.owner, a.tenantId)).key);
    const get = await api.get(`/v1/incidents/${incidentId}`);
    expect(get.status).toBe(404);
    expect(codeOf(get)).toBe('NOT_FOUND');
    expect((await api.patch(`/v1/incidents/${incidentId}`, { title: 'x' })).status).toBe(404);
    const listed = (await api.get('/v1/incidents')).body as { data: { id: string }[] };
    expect(listed.data.map((i) => i.id)).not.toContain(incidentId);
  });
});

describe('Authorization: Bearer', () => {
  function withBearer(key: string) {
    return {
      get: (path: string) => t.request().get(path).set('Authorization', `Bearer ${key}`),
      post: (path: string, body: object) => t.request().post(path).set('Authorization', `Bearer ${key}`).send(body),
    };
  }

  it('when a key is sent as Authorization: Bearer, then it works exactly like x-api-key, without CSRF', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId, { scopes: ['write'] });
    const api = withBearer(issued.key);
    const created = await api.post('/v1/incidents', incident);
    expect(created.status).toBe(201);
    expect((created.body as { createdBy: unknown }).createdBy).toEqual({ type: 'service_account', id: issued.serviceAccountId });
    expect((await api.get('/v1/incidents')).status).toBe(200);
    // The scheme name is case-insensitive (RFC 9110 11.1).
    expect((await t.request().get('/v1/incidents').set('Authorization', `bearer ${issued.key}`)).status).toBe(200);
    const elsewhere = await api.get('/v1/tenants');
    expect(elsewhere.status).toBe(403);
    expect(codeOf(elsewhere)).toBe('SESSION_REQUIRED');
  });

  it('when both x-api-key and Authorization: Bearer are sent, then 400 VALIDATION_FAILED and nothing is written', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId, { scopes: ['write'] });
    const res = await t.request().post('/v1/incidents').set('x-api-key', issued.key).set('Authorization', `Bearer ${issued.key}`).send(incident);
    expect(res.status).toBe(400);
    expect(codeOf(res)).toBe('VALIDATION_FAILED');
    expect(((await owner.get('/v1/incidents')).body as { data: unknown[] }).data).toEqual([]);
  });

  it('when the Bearer token is not an itk_ key (or a revoked one), then 401 API_KEY_INVALID', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const revoked = await createApiKey(owner, tenantId);
    expect((await owner.post(`/v1/tenants/${tenantId}/api-keys/${revoked.id}/revoke`)).status).toBe(200);
    for (const token of ['0123456789abcdef0123456789abcdef', 'eyJhbGciOiJIUzI1NiJ9.e30.x', '', issueApiKey().key, revoked.key]) {
      const res = await t.request().get('/v1/incidents').set('Authorization', `Bearer ${token}`);
      expect(res.status, token).toBe(401);
      expect(codeOf(res), token).toBe('API_KEY_INVALID');
    }
  });

  it('when an invalid Bearer key comes with a valid session cookie, then 401: the cookie is ignored', async () => {
    const { owner } = await ownerWithTenant(t);
    expect((await owner.get('/v1/incidents')).status).toBe(200);
    const res = await owner.get('/v1/incidents').set('Authorization', `Bearer ${issueApiKey().key}`);
    expect(res.status).toBe(401);
    expect(codeOf(res)).toBe('API_KEY_INVALID');
  });
});
