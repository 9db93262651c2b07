import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../support/app.js';
import { PASSWORD, SessionClient, uniqueEmail } from '../support/factories.js';
import { resetTokenFrom, SmtpSink } from '../support/smtp-sink.js';
import { logCapture } from '../support/state.js';
import { anonymousClient, createAuthTestApp, tryLogin, waitForLog } from './support.js';

const sink = new SmtpSink();
let t: TestApp;
beforeAll(async () => {
  await sink.start();
  t = await createAuthTestApp({ smtpUrl: sink.url });
});
afterAll(async () => {
  await t.close();
  await sink.stop();
});

/** Every secret the suite handed out or sent, to be searched for in logs and audit rows. */
const secrets = new Set<string>();

function remember(res: Response): Response {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  for (const cookie of header === undefined ? [] : Array.isArray(header) ? header : [header]) {
    const value = cookie.split(';')[0]?.split('=')[1] ?? '';
    if (value.length > 0) {
      secrets.add(value);
      // The signed cookie is "s:<session id>.<signature>"; the bare id is a secret too.
      const id = /^s%3A([^.]+)\./.exec(value)?.[1];
      if (id) secrets.add(id);
    }
  }
  const token = (res.body as { csrfToken?: unknown } | undefined)?.csrfToken;
  if (typeof token === 'string') secrets.add(token);
  return res;
}

async function client(): Promise<SessionClient> {
  const c = new SessionClient(t.request());
  const res = remember(await c.agent.get('/v1/auth/me').expect(200));
  c.csrfToken = (res.body as { csrfToken: string }).csrfToken;
  return c;
}

async function auditRowsOf(userId: string): Promise<{ action: string; metadata: Record<string, unknown> }[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ action: string; metadata: Record<string, unknown> }>(
      'SELECT action, metadata FROM audit_log_events WHERE target_id = $1 OR actor_id::text = $1 ORDER BY created_at, seq',
      [userId],
    ),
  );
  return rows;
}

describe('audit of auth events', () => {
  it('when a user goes through every auth flow, then each auth action has an audit row with no secret in its metadata', async () => {
    const email = uniqueEmail('audited');
    const c = await client();
    const signup = remember(await c.post('/v1/auth/signup', { email, password: PASSWORD, name: 'Audited' }));
    expect(signup.status).toBe(201);
    const userId = (signup.body as { user: { id: string } }).user.id;
    c.csrfToken = (signup.body as { csrfToken: string }).csrfToken;
    expect((await c.post('/v1/auth/logout')).status).toBe(204);
    for (let i = 0; i < 10; i += 1) expect((await tryLogin(t, email, 'a wrong password here')).status).toBe(401);

    const forgotClient = await client();
    expect((await forgotClient.post('/v1/auth/password/forgot', { email })).status).toBe(202);
    const token = resetTokenFrom((await sink.waitForMessages(email, 1))[0] ?? { to: [], subject: '', text: '', raw: '' });
    expect((await forgotClient.post('/v1/auth/password/reset', { token, password: 'the reset passphrase' })).status).toBe(204);

    const d = await client();
    const login = remember(await d.post('/v1/auth/login', { email, password: 'the reset passphrase' }));
    expect(login.status).toBe(200);
    d.csrfToken = (login.body as { csrfToken: string }).csrfToken;
    expect((await d.post('/v1/auth/password/change', { currentPassword: 'the reset passphrase', newPassword: 'the changed passphrase' })).status).toBe(200);

    const rows = await auditRowsOf(userId);
    const actions = new Set(rows.map((r) => r.action));
    for (const action of [
      'auth.signup',
      'auth.logout',
      'auth.login.failed',
      'auth.login.locked',
      'auth.password_reset.requested',
      'auth.password_reset.completed',
      'auth.login.succeeded',
      'auth.password.changed',
    ]) {
      expect(actions, action).toContain(action);
    }
    const text = JSON.stringify(rows);
    for (const secret of [PASSWORD, 'a wrong password here', token, 'the reset passphrase', 'the changed passphrase']) {
      expect(text).not.toContain(secret);
    }
  });

  it.each([
    ['UPDATE', "UPDATE audit_log_events SET action = 'tampered' WHERE actor_id = $1"],
    ['DELETE', 'DELETE FROM audit_log_events WHERE actor_id = $1'],
    ['TRUNCATE', 'TRUNCATE audit_log_events'],
  ])('when the app role tries %s on the audit table, then it fails and the rows are unchanged', async (_verb, sql) => {
    const c = await client();
    const signup = await c.post('/v1/auth/signup', { email: uniqueEmail(), password: PASSWORD, name: 'N' });
    const userId = (signup.body as { user: { id: string } }).user.id;
    const before = await auditRowsOf(userId);
    expect(before.length).toBeGreaterThan(0);
    const params = sql.includes('$1') ? [userId] : [];
    await expect(t.db.withAppTx({ tenantId: null, userId }, (tx) => tx.query(sql, params))).rejects.toMatchObject({ code: '42501' });
    expect(await auditRowsOf(userId)).toEqual(before);
  });
});

describe('secrets in logs (docs/security.md 42)', () => {
  it('when the suite has issued passwords, reset tokens, session cookies and CSRF tokens, then no log line and no audit row contains any of them', async () => {
    const email = uniqueEmail('logged');
    const passwords = [PASSWORD, 'first reset passphrase', 'second changed passphrase', 'a wrong guess for logs'];
    passwords.forEach((p) => secrets.add(p));

    const a = await client();
    const signup = remember(await a.post('/v1/auth/signup', { email, password: PASSWORD, name: 'Logged' }));
    expect(signup.status).toBe(201);
    a.csrfToken = (signup.body as { csrfToken: string }).csrfToken;
    remember(await tryLogin(t, email, 'a wrong guess for logs'));

    // SMTP down for a while, so the mailer logs its failed deliveries and retries.
    await sink.stop();
    const logsBefore = logCapture.length;
    const f = await client();
    expect((await f.post('/v1/auth/password/forgot', { email })).status).toBe(202);
    await waitForLog('mail delivery failed', logsBefore);
    await sink.start();
    const token = resetTokenFrom((await sink.waitForMessages(email, 1, 15_000))[0] ?? { to: [], subject: '', text: '', raw: '' });
    secrets.add(token);
    expect((await f.post('/v1/auth/password/reset', { token, password: 'first reset passphrase' })).status).toBe(204);
    expect((await f.post('/v1/auth/password/reset', { token, password: 'first reset passphrase' })).status).toBe(400);

    const b = await client();
    const login = remember(await b.post('/v1/auth/login', { email, password: 'first reset passphrase' }));
    expect(login.status).toBe(200);
    b.csrfToken = (login.body as { csrfToken: string }).csrfToken;
    remember(await b.post('/v1/auth/password/change', { currentPassword: 'first reset passphrase', newPassword: 'second changed passphrase' }));
    remember(await b.agent.get('/v1/auth/me'));
    // A refused CSRF token and a stale cookie replay are logged nowhere either.
    remember(await (await anonymousClient(t)).agent.post('/v1/auth/logout').set('x-csrf-token', b.csrfToken));
    await t.drain();

    const logs = logCapture.join('\n');
    expect(logs).toContain('mail delivery failed');
    const { rows } = await t.db.withSystemTx((tx) => tx.query<{ dump: string | null }>('SELECT string_agg(row_to_json(a)::text, E\'\\n\') AS dump FROM audit_log_events a'));
    const audit = rows[0]?.dump ?? '';
    expect(audit.length).toBeGreaterThan(0);

    expect(secrets.size).toBeGreaterThan(passwords.length + 5);
    const leaked = [...secrets].filter((s) => logs.includes(s) || audit.includes(s));
    expect(leaked).toEqual([]);
  });
});
