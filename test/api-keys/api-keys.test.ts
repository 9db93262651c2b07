import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/features/api-keys/api-key.token.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, countRows, createApiKey, createServiceAccount, ownerWithTenant } from '../support/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

interface ApiKeyBody {
  id: string;
  name: string;
  serviceAccountId: string;
  scopes: string[];
  prefix: string;
  key?: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

async function auditMetadata(tenantId: string, action: string): Promise<string[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ m: string }>('SELECT metadata::text AS m FROM audit_log_events WHERE tenant_id = $1 AND action = $2 ORDER BY seq', [tenantId, action]),
  );
  return rows.map((r) => r.m);
}

describe('service accounts', () => {
  it('when an owner creates a service account, then 201 with its fields, it is listed, and the creation is audited', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await owner.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'pagerduty', description: 'Opens incidents' });
    expect(res.status).toBe(201);
    const sa = res.body as { id: string; name: string; description: string | null; createdAt: string };
    expect(sa).toEqual({ id: expect.any(String) as string, name: 'pagerduty', description: 'Opens incidents', createdAt: expect.any(String) as string });

    const second = await owner.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'ci' });
    expect(second.status).toBe(201);
    expect((second.body as { description: unknown }).description).toBeNull();

    const list = await owner.get(`/v1/tenants/${tenantId}/service-accounts`);
    expect(list.status).toBe(200);
    const data = (list.body as { data: { id: string; name: string }[] }).data;
    expect(data.map((d) => d.name)).toEqual(['ci', 'pagerduty']);
    expect(await auditMetadata(tenantId, 'service_account.created')).toHaveLength(2);
  });

  it('when the same Idempotency-Key is sent twice, then one service account is created and the reply is replayed', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const first = await owner.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'once' }).set('Idempotency-Key', 'sa-1');
    const again = await owner.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'once' }).set('Idempotency-Key', 'sa-1');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await countRows(t, 'service_accounts', 'tenant_id = $1', [tenantId])).toBe(1);
  });

  it('when an API key create is retried with the same Idempotency-Key, then one key exists and the replay is the original 201 without the secret', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const serviceAccountId = await createServiceAccount(owner, tenantId);
    const body = { serviceAccountId, name: 'deploys', scopes: ['write'] };
    const first = await owner.post(`/v1/tenants/${tenantId}/api-keys`, body).set('Idempotency-Key', 'key-1');
    expect(first.status).toBe(201);
    const created = first.body as ApiKeyBody & { key: string };
    expect(created.key).toMatch(/^itk_/);
    const again = await owner.post(`/v1/tenants/${tenantId}/api-keys`, body).set('Idempotency-Key', 'key-1');
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(Object.fromEntries(Object.entries(created).filter(([k]) => k !== 'key')));
    expect(await countRows(t, 'api_keys', 'tenant_id = $1', [tenantId])).toBe(1);
    expect(await auditMetadata(tenantId, 'api_key.created')).toHaveLength(1);
    // The secret is not stored for replays either.
    expect(await countRows(t, 'idempotency_keys', 'tenant_id = $1 AND response_body::text LIKE $2', [tenantId, `%${created.key.slice(-12)}%`])).toBe(0);

    const reused = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { ...body, name: 'other' }).set('Idempotency-Key', 'key-1');
    expect(reused.status).toBe(422);
    expect((reused.body as { code: string }).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await countRows(t, 'api_keys', 'tenant_id = $1', [tenantId])).toBe(1);
  });

  it('when API key creates race with one Idempotency-Key, then exactly one key is issued and only its first answer shows the secret', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const serviceAccountId = await createServiceAccount(owner, tenantId);
    const body = { serviceAccountId, name: 'raced', scopes: ['read'] };
    const results = await Promise.all(Array.from({ length: 4 }, () => owner.post(`/v1/tenants/${tenantId}/api-keys`, body).set('Idempotency-Key', 'race')));
    const withSecret = results.filter((r) => r.status === 201 && typeof (r.body as { key?: unknown }).key === 'string');
    expect(withSecret).toHaveLength(1);
    for (const r of results) {
      if (r.status === 201) expect((r.body as ApiKeyBody).id).toBe((withSecret[0]?.body as ApiKeyBody).id);
      else expect([r.status, (r.body as { code: string }).code]).toEqual([409, 'IDEMPOTENCY_IN_PROGRESS']);
    }
    expect(await countRows(t, 'api_keys', 'tenant_id = $1', [tenantId])).toBe(1);
  });

  it('when a member or a non-member asks, then 403 for the member and 404 for the outsider', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const { owner: outsider } = await ownerWithTenant(t);
    expect((await member.get(`/v1/tenants/${tenantId}/service-accounts`)).status).toBe(403);
    expect((await member.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'x' })).status).toBe(403);
    expect((await outsider.get(`/v1/tenants/${tenantId}/service-accounts`)).status).toBe(404);
    expect((await outsider.get(`/v1/tenants/${tenantId}/api-keys`)).status).toBe(404);
    expect(await countRows(t, 'service_accounts', 'tenant_id = $1', [tenantId])).toBe(0);
  });
});

describe('API key management', () => {
  it('when a key is created, then the full key is returned once and neither it nor its hash is ever listed', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const serviceAccountId = await createServiceAccount(owner, tenantId);
    const res = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId, name: 'prod', scopes: ['write', 'read'] });
    expect(res.status).toBe(201);
    const created = res.body as ApiKeyBody;
    expect(created.key).toMatch(/^itk_[0-9a-f]{32}_[0-9a-f]{72}$/);
    const publicId = created.key?.slice(4, 36) ?? '';
    expect(created).toMatchObject({ name: 'prod', serviceAccountId, scopes: ['read', 'write'], prefix: `itk_${publicId.slice(0, 8)}`, lastUsedAt: null, expiresAt: null, revokedAt: null });

    const list = await owner.get(`/v1/tenants/${tenantId}/api-keys`);
    expect(list.status).toBe(200);
    const text = JSON.stringify(list.body);
    const key = created.key ?? '';
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(37));
    expect(text).not.toContain(hashApiKey(key));
    const listed = (list.body as { data: ApiKeyBody[] }).data;
    expect(listed).toHaveLength(1);
    expect(listed[0]).not.toHaveProperty('key');
    expect(listed[0]).toEqual({ ...created, key: undefined });

    const audit = await auditMetadata(tenantId, 'api_key.created');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toContain(created.prefix);
    expect(audit[0]).not.toContain(key.slice(37, 60));
  });

  it('when the service account is unknown or of another tenant, then 400 VALIDATION_FAILED on serviceAccountId', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const { owner: other, tenantId: otherTenant } = await ownerWithTenant(t);
    const foreign = await createServiceAccount(other, otherTenant);
    for (const serviceAccountId of [foreign, randomUUID()]) {
      const res = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId, name: 'k', scopes: ['read'] });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'serviceAccountId' }] } });
    }
    expect(await countRows(t, 'api_keys', 'tenant_id = $1', [tenantId])).toBe(0);
  });

  it('rejects empty or repeated scopes, an unknown scope, and a past expiry with 400', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const serviceAccountId = await createServiceAccount(owner, tenantId);
    const bad = [
      { scopes: [] },
      { scopes: ['read', 'read'] },
      { scopes: ['admin'] },
      { scopes: ['read'], expiresAt: new Date(Date.now() - 60_000).toISOString() },
      { scopes: ['read'], expiresAt: 'tomorrow' },
    ];
    for (const extra of bad) {
      const res = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId, name: 'k', ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    }
    expect(await countRows(t, 'api_keys', 'tenant_id = $1', [tenantId])).toBe(0);
  });

  it('when a key is revoked, then 200 with revokedAt, a second revoke keeps the first revokedAt, and one audit row names the prefix', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const issued = await createApiKey(owner, tenantId, { scopes: ['read'] });
    const first = await owner.post(`/v1/tenants/${tenantId}/api-keys/${issued.id}/revoke`);
    expect(first.status).toBe(200);
    const revokedAt = (first.body as ApiKeyBody).revokedAt;
    expect(revokedAt).not.toBeNull();
    expect(first.body).not.toHaveProperty('key');

    const again = await owner.post(`/v1/tenants/${tenantId}/api-keys/${issued.id}/revoke`);
    expect(again.status).toBe(200);
    expect((again.body as ApiKeyBody).revokedAt).toBe(revokedAt);

    const audit = await auditMetadata(tenantId, 'api_key.revoked');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toContain(issued.prefix);
    expect(audit[0]).not.toContain(issued.key.slice(37, 60));
  });

  it('when revoking a key of another tenant or a random id, then 404; an existing key for a member, then 403', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const { owner: other, tenantId: otherTenant } = await ownerWithTenant(t);
    const foreign = await createApiKey(other, otherTenant);
    const mine = await createApiKey(owner, tenantId);
    const member = await addMember(t, tenantId, 'member');

    const cross = await owner.post(`/v1/tenants/${tenantId}/api-keys/${foreign.id}/revoke`);
    const random = await owner.post(`/v1/tenants/${tenantId}/api-keys/${randomUUID()}/revoke`);
    expect(cross.status).toBe(404);
    expect(random.status).toBe(404);
    expect({ ...(cross.body as object), traceId: '' }).toEqual({ ...(random.body as object), traceId: '' });
    expect((await member.post(`/v1/tenants/${tenantId}/api-keys/${randomUUID()}/revoke`)).status).toBe(404);
    const forbidden = await member.post(`/v1/tenants/${tenantId}/api-keys/${mine.id}/revoke`);
    expect(forbidden.status).toBe(403);
    expect((forbidden.body as { code: string }).code).toBe('FORBIDDEN');
    expect(await countRows(t, 'api_keys', 'revoked_at IS NOT NULL AND id = ANY($1::uuid[])', [[foreign.id, mine.id]])).toBe(0);
  });

  it('when the whole api_keys table is dumped, then no issued key appears in it', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const keys = [await createApiKey(owner, tenantId), await createApiKey(owner, tenantId, { scopes: ['read'] })];
    const { rows } = await t.db.withSystemTx((tx) => tx.query<{ j: string }>('SELECT row_to_json(k)::text AS j FROM api_keys k'));
    const dump = rows.map((r) => r.j).join('\n');
    expect(dump).toContain(keys[0]?.key.slice(4, 36));
    for (const k of keys) {
      expect(dump).not.toContain(k.key);
      expect(dump).not.toContain(k.key.slice(37));
      expect(dump).not.toContain(k.key.slice(37, 101));
    }
  });
});
