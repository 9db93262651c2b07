import { vi } from 'vitest';
import type { TestApp } from '../support/app.js';
import { PASSWORD, SessionClient } from '../support/factories.js';

export interface InviteBody {
  id: string;
  email: string;
  role: string;
  expiresAt: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Creates an invite as `inviter` and returns it with the token taken from the mailed link. */
export async function inviteWithToken(
  t: TestApp,
  inviter: SessionClient,
  tenantId: string,
  email: string,
  role: 'admin' | 'member' | 'viewer' = 'member',
): Promise<{ invite: InviteBody; token: string; mail: { to: string; subject: string; text: string } }> {
  const spy = vi.spyOn(t.mailer, 'send');
  try {
    const res = await inviter.post(`/v1/tenants/${tenantId}/invites`, { email, role });
    if (res.status !== 201) throw new Error(`invite failed: ${res.status} ${JSON.stringify(res.body)}`);
    await t.drain();
    const mail = spy.mock.calls.at(-1)?.[0];
    const token = mail ? /accept-invite\?token=([A-Za-z0-9_-]+)/.exec(mail.text)?.[1] : undefined;
    if (!mail || !token) throw new Error('no invite mail with a token was sent');
    return { invite: res.body as InviteBody, token, mail };
  } finally {
    spy.mockRestore();
  }
}

/** A fresh signed-in session for an existing account (after a fake-clock jump ended the old one). */
export async function signIn(t: TestApp, email: string): Promise<SessionClient> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  const res = await client.post('/v1/auth/login', { email, password: PASSWORD });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  const body = res.body as { user: { id: string; email: string; name: string }; csrfToken: string };
  client.user = body.user;
  client.csrfToken = body.csrfToken;
  return client;
}

export interface AuditEntry {
  action: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  metadata: Record<string, unknown>;
}

export async function auditEntries(t: TestApp, tenantId: string, action?: string): Promise<AuditEntry[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<AuditEntry>(
      `SELECT action, actor_id, target_type, target_id, metadata FROM audit_log_events
        WHERE tenant_id = $1 AND ($2::text IS NULL OR action = $2) ORDER BY seq`,
      [tenantId, action ?? null],
    ),
  );
  return rows;
}

export async function memberRoles(t: TestApp, tenantId: string): Promise<Record<string, string>> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ user_id: string; role: string }>('SELECT user_id, role FROM memberships WHERE tenant_id = $1', [tenantId]),
  );
  return Object.fromEntries(rows.map((r) => [r.user_id, r.role]));
}

export function userId(client: SessionClient): string {
  if (!client.user) throw new Error('client is not signed in');
  return client.user.id;
}

/** An error body without its per-request traceId, for byte-for-byte comparisons. */
export function withoutTrace(body: unknown): unknown {
  if (body === null || typeof body !== 'object') return body;
  return Object.fromEntries(Object.entries(body as Record<string, unknown>).filter(([k]) => k !== 'traceId'));
}

/** These suites sign up many users from one address; the per-IP signup/login limits have their own tests. */
export const MANY_USERS_ENV = { SIGNUP_IP_LIMIT_PER_HOUR: '1000000', LOGIN_IP_LIMIT_PER_15_MIN: '1000000' };
