import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, countRows, createApiKey, ownerWithTenant } from '../support/factories.js';
import { createEndpoint } from './support.js';

let t: TestApp;
beforeAll(async () => {
  // The default: private networks refused.
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const path = (tenantId: string, rest = '') => `/v1/tenants/${tenantId}/webhook-endpoints${rest}`;

describe('webhook endpoints', () => {
  it('when an owner creates an endpoint, then the secret is shown once, never listed, stored only encrypted, and the creation is audited without it', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await owner.post(path(tenantId), { url: 'https://hooks.example.com/in?token=abc', description: 'ops', eventTypes: ['incident.created', 'task.created'] });
    expect(res.status).toBe(201);
    expect(res.headers.etag).toBe('"1"');
    const body = res.body as { id: string; secret: string };
    expect(body).toMatchObject({ url: 'https://hooks.example.com/in?token=abc', description: 'ops', eventTypes: ['incident.created', 'task.created'], enabled: true, disabledReason: null, version: 1 });
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(body.secret.slice(6), 'base64')).toHaveLength(32);

    const list = await owner.get(path(tenantId));
    expect(JSON.stringify(list.body)).not.toContain(body.secret);
    expect(JSON.stringify((await owner.get(path(tenantId, `/${body.id}`))).body)).not.toContain('secret');
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ dump: string }>(
        `SELECT (SELECT string_agg(s::text, '') FROM webhook_endpoint_secrets s WHERE tenant_id = $1) ||
                (SELECT string_agg(a::text, '') FROM audit_log_events a WHERE tenant_id = $1) AS dump`,
        [tenantId],
      ),
    );
    const dump = rows[0]?.dump ?? '';
    expect(dump).toContain('webhook_endpoint.created');
    expect(dump).not.toContain(body.secret.slice(6));
    expect(dump).not.toContain(Buffer.from(body.secret.slice(6), 'base64').toString('hex'));
    // The audit row names the origin, never the path or query, which may carry a receiver's token.
    expect(dump).not.toContain('token=abc');
  });

  it.each([
    ['not a url', /absolute URL/],
    ['ftp://example.com/x', /http or https/],
    ['https://user:pass@example.com/x', /credentials/],
    ['http://127.0.0.1:8080/x', /loopback/],
    ['http://localhost:8080/x', /loopback/],
    ['http://[::ffff:10.0.0.1]/x', /private/],
    ['http://169.254.169.254/latest', /link-local/],
  ])('when the url is %s, then 400 VALIDATION_FAILED names the url and nothing is created', async (url, message) => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await owner.post(path(tenantId), { url, eventTypes: ['*'] });
    expect(res.status).toBe(400);
    expect((res.body as { details: { fields: { path: string; message: string }[] } }).details.fields[0]).toMatchObject({ path: 'url', message: expect.stringMatching(message) as string });
    expect(await countRows(t, 'webhook_endpoints', 'tenant_id = $1', [tenantId])).toBe(0);
  });

  it('when eventTypes is empty, unknown, or mixes "*" with types, then 400', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    for (const eventTypes of [[], ['incident.deleted'], ['*', 'task.created'], ['webhook.test']]) {
      expect((await owner.post(path(tenantId), { url: 'https://example.com/h', eventTypes })).status).toBe(400);
    }
  });

  it('when patched with a stale If-Match, then 412 and nothing changes; with the current one it applies, bumps the version and is audited', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const ep = await createEndpoint(owner, tenantId, { url: 'https://example.com/a' });
    expect((await owner.patch(path(tenantId, `/${ep.id}`), { description: 'x' }).set('If-Match', '"7"')).status).toBe(412);
    const ok = await owner.patch(path(tenantId, `/${ep.id}`), { url: 'https://example.com/b', enabled: false }).set('If-Match', '"1"');
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    expect(ok.body).toMatchObject({ url: 'https://example.com/b', enabled: false, disabledReason: 'Disabled through the API.', version: 2 });
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.updated'", [tenantId])).toBe(1);
  });

  it('when rotating with overlapSeconds over a week, then 400; a rotation is audited', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const ep = await createEndpoint(owner, tenantId, { url: 'https://example.com/a' });
    expect((await owner.post(path(tenantId, `/${ep.id}/rotate-secret`), { overlapSeconds: 604_801 })).status).toBe(400);
    const res = await owner.post(path(tenantId, `/${ep.id}/rotate-secret`));
    expect(res.status).toBe(200);
    expect((res.body as { secret: string }).secret).not.toBe(ep.secret);
    expect(await countRows(t, 'webhook_endpoint_secrets', 'tenant_id = $1 AND expires_at IS NOT NULL', [tenantId])).toBe(1);
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.secret_rotated'", [tenantId])).toBe(1);
  });

  it('when deleted, then 204, audited, and the id is 404 afterwards', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const ep = await createEndpoint(owner, tenantId, { url: 'https://example.com/a' });
    expect((await owner.delete(path(tenantId, `/${ep.id}`))).status).toBe(204);
    expect((await owner.get(path(tenantId, `/${ep.id}`))).status).toBe(404);
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.deleted'", [tenantId])).toBe(1);
  });

  it('when a member or viewer asks, then 403 on the collection and, for an existing endpoint, 403 after it is found; another tenant gets 404', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const ep = await createEndpoint(owner, tenantId, { url: 'https://example.com/a' });
    for (const role of ['member', 'viewer'] as const) {
      const user = await addMember(t, tenantId, role);
      expect((await user.get(path(tenantId))).status).toBe(403);
      expect((await user.get(path(tenantId, `/${ep.id}`))).status).toBe(403);
      expect((await user.post(path(tenantId, `/${ep.id}/test`))).status).toBe(403);
    }
    const admin = await addMember(t, tenantId, 'admin');
    expect((await admin.get(path(tenantId, `/${ep.id}`))).status).toBe(200);
    const other = await ownerWithTenant(t);
    const foreign = await other.owner.get(path(other.tenantId, `/${ep.id}`));
    const random = await other.owner.get(path(other.tenantId, '/6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f'));
    expect(foreign.status).toBe(404);
    expect({ ...foreign.body, traceId: null }).toEqual({ ...random.body, traceId: null });
  });

  it('when an API key is used, then 403 SESSION_REQUIRED', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const key = await createApiKey(owner, tenantId);
    const res = await t.request().get(path(tenantId)).set('x-api-key', key.key);
    expect(res.status).toBe(403);
    expect((res.body as { code: string }).code).toBe('SESSION_REQUIRED');
  });
});
