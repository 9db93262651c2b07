import { randomUUID } from 'node:crypto';
import type supertest from 'supertest';
import { issueApiKey } from '../../src/features/api-keys/api-key.token.js';
import type { Role } from '../../src/platform/rbac/roles.js';
import type { TestApp } from './app.js';

export const PASSWORD = 'correct horse battery staple';

/** A browser-like client: one cookie jar, and the CSRF token sent on every unsafe request. */
export class SessionClient {
  csrfToken = '';
  user: { id: string; email: string; name: string } | null = null;
  activeTenantId: string | null = null;

  constructor(readonly agent: supertest.Agent) {}

  async refreshCsrf(): Promise<string> {
    const res = await this.agent.get('/v1/auth/me').expect(200);
    this.csrfToken = (res.body as { csrfToken: string }).csrfToken;
    return this.csrfToken;
  }

  get(path: string) {
    return this.agent.get(path);
  }
  post(path: string, body?: object) {
    const r = this.agent.post(path).set('x-csrf-token', this.csrfToken);
    return body === undefined ? r : r.send(body);
  }
  patch(path: string, body: object) {
    return this.agent.patch(path).set('x-csrf-token', this.csrfToken).send(body);
  }
  delete(path: string) {
    return this.agent.delete(path).set('x-csrf-token', this.csrfToken);
  }
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.test`;
}

/** Signs up a fresh user and returns a signed-in client. */
export async function signUp(t: TestApp, opts: { email?: string; name?: string } = {}): Promise<SessionClient> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  const email = opts.email ?? uniqueEmail();
  const res = await client.post('/v1/auth/signup', { email, password: PASSWORD, name: opts.name ?? 'Test User' });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${JSON.stringify(res.body)}`);
  const body = res.body as { user: { id: string; email: string; name: string }; csrfToken: string };
  client.user = body.user;
  client.csrfToken = body.csrfToken;
  return client;
}

/** Creates a tenant as `client` (who becomes owner and has it active). */
export async function createTenant(client: SessionClient, name = 'Acme'): Promise<string> {
  const res = await client.post('/v1/tenants', { name });
  if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${JSON.stringify(res.body)}`);
  client.activeTenantId = (res.body as { id: string }).id;
  return client.activeTenantId;
}

/** A fresh user who owns a fresh tenant, signed in with it active. */
export async function ownerWithTenant(t: TestApp, name = 'Acme'): Promise<{ owner: SessionClient; tenantId: string }> {
  const owner = await signUp(t);
  const tenantId = await createTenant(owner, name);
  return { owner, tenantId };
}

/**
 * Test set-up through the system path: adds a membership directly (the invite flow has its own
 * tests), then switches the member's session to that tenant through the API.
 */
export async function addMember(t: TestApp, tenantId: string, role: Role): Promise<SessionClient> {
  const member = await signUp(t);
  await t.db.withSystemTx((tx) =>
    tx.query('INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)', [tenantId, member.user?.id, role]),
  );
  const res = await member.post(`/v1/tenants/${tenantId}/switch`);
  if (res.status !== 200) throw new Error(`switch failed: ${res.status} ${JSON.stringify(res.body)}`);
  member.activeTenantId = tenantId;
  return member;
}

/** Row count of a table through the system path (tests comparing "nothing changed"). */
export async function countRows(t: TestApp, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await t.db.withSystemTx((tx) => tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params));
  return rows[0]?.n ?? 0;
}

/** Creates a service account in `tenantId` as `client` (needs api_keys.manage). */
export async function createServiceAccount(client: SessionClient, tenantId: string, name = 'bot'): Promise<string> {
  const res = await client.post(`/v1/tenants/${tenantId}/service-accounts`, { name });
  if (res.status !== 201) throw new Error(`service account create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

export interface IssuedTestKey {
  id: string;
  key: string;
  prefix: string;
  serviceAccountId: string;
}

/** Issues an API key (with a fresh service account unless one is given) as `client`. */
export async function createApiKey(
  client: SessionClient,
  tenantId: string,
  opts: { scopes?: ('read' | 'write')[]; expiresAt?: string; serviceAccountId?: string; name?: string } = {},
): Promise<IssuedTestKey> {
  const serviceAccountId = opts.serviceAccountId ?? (await createServiceAccount(client, tenantId));
  const res = await client.post(`/v1/tenants/${tenantId}/api-keys`, {
    serviceAccountId,
    name: opts.name ?? 'test key',
    scopes: opts.scopes ?? ['read', 'write'],
    ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}),
  });
  if (res.status !== 201) throw new Error(`api key create failed: ${res.status} ${JSON.stringify(res.body)}`);
  const body = res.body as { id: string; key: string; prefix: string };
  return { id: body.id, key: body.key, prefix: body.prefix, serviceAccountId };
}

/**
 * Test set-up through the system path: a service account and an API key inserted directly, so
 * incident tests do not depend on the key-management endpoints. Returns the key string.
 */
export async function insertApiKey(t: TestApp, tenantId: string, scopes: ('read' | 'write')[]): Promise<string> {
  const issued = issueApiKey();
  await t.db.withSystemTx(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      'INSERT INTO service_accounts (tenant_id, name) VALUES ($1, $2) RETURNING id',
      [tenantId, `bot-${issued.publicId.slice(0, 6)}`],
    );
    await tx.query(
      'INSERT INTO api_keys (tenant_id, service_account_id, name, public_id, secret_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6)',
      [tenantId, rows[0]?.id, 'test key', issued.publicId, issued.secretHash, scopes],
    );
  });
  return issued.key;
}
