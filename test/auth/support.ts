import type { Response } from 'supertest';
import { createTestApp, type TestApp, type TestAppOptions } from '../support/app.js';
import { countRows, PASSWORD, SessionClient, signUp, uniqueEmail } from '../support/factories.js';
import { logCapture } from '../support/state.js';

/**
 * Every integration request comes from 127.0.0.1, so the per-IP budgets are raised for apps
 * whose tests are not about them (the throttling tests build apps with the real defaults).
 */
export const GENEROUS_IP_LIMITS = {
  LOGIN_IP_LIMIT_PER_15_MIN: '100000',
  SIGNUP_IP_LIMIT_PER_HOUR: '100000',
  FORGOT_IP_LIMIT_PER_HOUR: '100000',
};

export function createAuthTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  return createTestApp({ ...opts, env: { ...GENEROUS_IP_LIMITS, ...opts.env } });
}

/** A browser that has called GET /v1/auth/me once: it holds an anonymous cookie and the CSRF token bound to it (nothing stored). */
export async function anonymousClient(t: TestApp): Promise<SessionClient> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  return client;
}

/** Signs in on a fresh browser; throws unless the login succeeds. */
export async function logInClient(t: TestApp, email: string, password = PASSWORD): Promise<SessionClient> {
  const client = await anonymousClient(t);
  const res = await client.post('/v1/auth/login', { email, password });
  if (res.status !== 200) throw new Error(`login failed: ${String(res.status)} ${JSON.stringify(res.body)}`);
  const body = res.body as { user: { id: string; email: string; name: string }; csrfToken: string };
  client.user = body.user;
  client.csrfToken = body.csrfToken;
  return client;
}

/** A signed-up user with their email, id and client. */
export async function newUser(t: TestApp): Promise<{ client: SessionClient; email: string; id: string }> {
  const email = uniqueEmail();
  const client = await signUp(t, { email });
  return { client, email, id: client.user?.id ?? '' };
}

export async function tryLogin(t: TestApp, email: string, password: string): Promise<Response> {
  const client = await anonymousClient(t);
  return client.post('/v1/auth/login', { email, password });
}

/** The `name=value` pair and attributes of the session cookie a response set, or null. */
export function sessionCookieOf(res: Response, name = 'sid'): { value: string; attributes: string[] } | null {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  const all = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const cookie = all.find((c) => c.startsWith(`${name}=`));
  if (!cookie) return null;
  const [pair = '', ...attributes] = cookie.split(';').map((p) => p.trim());
  return { value: pair.slice(name.length + 1), attributes };
}

export async function meOf(client: SessionClient): Promise<{ user: { id: string } | null; csrfToken: string }> {
  const res = await client.get('/v1/auth/me').expect(200);
  return res.body as { user: { id: string } | null; csrfToken: string };
}

export async function auditCount(t: TestApp, action: string, targetUserId: string): Promise<number> {
  return countRows(t, 'audit_log_events', 'action = $1 AND target_id = $2', [action, targetUserId]);
}

export async function passwordHashOf(t: TestApp, userId: string): Promise<string> {
  const { rows } = await t.db.withSystemTx((tx) => tx.query<{ h: string }>('SELECT password_hash AS h FROM users WHERE id = $1', [userId]));
  return rows[0]?.h ?? '';
}

/** The response body without the per-request trace id, for "identical body" comparisons. */
export function bodyWithoutTrace(res: Response): unknown {
  const body = res.body as Record<string, unknown>;
  return { ...body, traceId: typeof body.traceId === 'string' ? '<trace>' : body.traceId };
}

/** Waits for a log line containing `text` among those written after the first `from` (a marker, not a sleep). */
export async function waitForLog(text: string, from = 0, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!logCapture.slice(from).some((line) => line.includes(text))) {
    if (Date.now() > deadline) throw new Error(`no log line with "${text}" within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
