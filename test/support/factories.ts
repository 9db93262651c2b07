import { randomUUID } from 'node:crypto';
import type supertest from 'supertest';
import type { Role } from '../../src/platform/rbac/authorize.js';
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
