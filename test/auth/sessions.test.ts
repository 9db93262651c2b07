import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { LogMailer } from '../../src/platform/mail/mailer.js';
import { FakeClock, type TestApp } from '../support/app.js';
import { createTenant, PASSWORD, uniqueEmail } from '../support/factories.js';
import { anonymousClient, auditCount, createAuthTestApp, logInClient, meOf, newUser, passwordHashOf, sessionCookieOf, tryLogin } from './support.js';

const clock = new FakeClock();
let t: TestApp;
beforeAll(async () => {
  t = await createAuthTestApp({ clock });
});
afterAll(async () => {
  await t.close();
});

const MINUTE = 60_000;

/** A request carrying only the given session cookie, as an attacker replaying it would send. */
function replay(cookieValue: string) {
  return t.request().get('/v1/auth/me').set('Cookie', `sid=${cookieValue}`);
}

describe('session cookie', () => {
  it.each(['an anonymous token is issued', 'a user signs up'])(
    'when %s, then Set-Cookie is sid, HttpOnly, SameSite=Lax, Path=/, without Domain or Secure outside production',
    async (when) => {
      const anon = await t.request().get('/v1/auth/me').expect(200);
      const res =
        when === 'a user signs up'
          ? await t
              .request()
              .post('/v1/auth/signup')
              .set('Cookie', `sid=${sessionCookieOf(anon)?.value ?? ''}`)
              .set('x-csrf-token', (anon.body as { csrfToken: string }).csrfToken)
              .send({ email: uniqueEmail(), password: PASSWORD, name: 'Ada' })
              .expect(201)
          : anon;
      const cookie = sessionCookieOf(res);
      expect(cookie).not.toBeNull();
      const attrs = cookie?.attributes.map((a) => a.toLowerCase()) ?? [];
      expect(attrs).toContain('httponly');
      expect(attrs).toContain('samesite=lax');
      expect(attrs).toContain('path=/');
      expect(attrs.some((a) => a.startsWith('domain'))).toBe(false);
      expect(attrs).not.toContain('secure');
      // A stored session's cookie is express-session's "s:<id>.<signature>" (a 24-byte id); an
      // anonymous one is "a.<issuedAt>.<nonce>" (16 bytes). Both carry >= 128 random bits.
      const random = /^(?:s%3A([^.]+)\.|a\.\d+\.([A-Za-z0-9_-]+)$)/.exec(cookie?.value ?? '');
      expect(Buffer.from(random?.[1] ?? random?.[2] ?? '', 'base64url').length).toBeGreaterThanOrEqual(16);
    },
  );

  it('when built with the production configuration, then the cookie is __Host-sid and Secure behind one trusted proxy hop', async () => {
    const logger = createLogger('silent');
    const prod = buildApp({
      // trustProxy as production's default (src/config.test.ts checks that default).
      config: { ...t.config, env: 'production', isProduction: true, trustProxy: 1, session: { ...t.config.session, cookieName: '__Host-sid', secure: true } },
      db: t.db,
      redis: null,
      logger,
      mailer: new LogMailer(logger),
    });
    try {
      const res = await supertest(prod.app).get('/v1/auth/me').set('X-Forwarded-Proto', 'https').expect(200);
      expect(sessionCookieOf(res, 'sid')).toBeNull();
      const cookie = sessionCookieOf(res, '__Host-sid');
      const attrs = cookie?.attributes.map((a) => a.toLowerCase()) ?? [];
      expect(attrs).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=lax', 'path=/']));
      expect(attrs.some((a) => a.startsWith('domain'))).toBe(false);
      expect(prod.app.get('trust proxy')).toBe(1);
    } finally {
      prod.close();
    }
  });
});

describe('session regeneration', () => {
  it('when logging in, then the session id changes and replaying the old cookie is anonymous', async () => {
    const { email } = await newUser(t);
    const anon = await t.request().get('/v1/auth/me').expect(200);
    const before = sessionCookieOf(anon)?.value ?? '';
    const csrf = (anon.body as { csrfToken: string }).csrfToken;
    const login = await t.request().post('/v1/auth/login').set('Cookie', `sid=${before}`).set('x-csrf-token', csrf).send({ email, password: PASSWORD });
    expect(login.status).toBe(200);
    const after = sessionCookieOf(login)?.value ?? '';
    expect(after).not.toBe('');
    expect(after).not.toBe(before);
    expect(((await replay(before).expect(200)).body as { user: unknown }).user).toBeNull();
    expect(((await replay(after).expect(200)).body as { user: { email: string } | null }).user?.email).toBe(email);
  });

  it('when signing up, then the session id changes and the old cookie stays anonymous', async () => {
    const anon = await t.request().get('/v1/auth/me').expect(200);
    const before = sessionCookieOf(anon)?.value ?? '';
    const csrf = (anon.body as { csrfToken: string }).csrfToken;
    const signup = await t
      .request()
      .post('/v1/auth/signup')
      .set('Cookie', `sid=${before}`)
      .set('x-csrf-token', csrf)
      .send({ email: uniqueEmail(), password: PASSWORD, name: 'Ada' });
    expect(signup.status).toBe(201);
    const after = sessionCookieOf(signup)?.value ?? '';
    expect(after).not.toBe(before);
    expect(((await replay(before).expect(200)).body as { user: unknown }).user).toBeNull();
  });
});

describe('logout', () => {
  it('when logging out, then the stored session is deleted, the cookie cleared, and the event audited', async () => {
    const { email, id } = await newUser(t);
    const anon = await t.request().get('/v1/auth/me').expect(200);
    const csrf0 = (anon.body as { csrfToken: string }).csrfToken;
    const login = await t
      .request()
      .post('/v1/auth/login')
      .set('Cookie', `sid=${sessionCookieOf(anon)?.value ?? ''}`)
      .set('x-csrf-token', csrf0)
      .send({ email, password: PASSWORD })
      .expect(200);
    const cookie = sessionCookieOf(login)?.value ?? '';
    const csrf = (login.body as { csrfToken: string }).csrfToken;

    const out = await t.request().post('/v1/auth/logout').set('Cookie', `sid=${cookie}`).set('x-csrf-token', csrf);
    expect(out.status).toBe(204);
    const cleared = sessionCookieOf(out);
    expect(cleared?.value).toBe('');
    expect(cleared?.attributes.some((a) => /^expires=thu, 01 jan 1970/i.test(a))).toBe(true);
    expect(((await replay(cookie).expect(200)).body as { user: unknown }).user).toBeNull();
    expect(await auditCount(t, 'auth.logout', id)).toBe(1);
  });
});

describe('lifetimes on the server clock', () => {
  it('when a signed-in session is idle for more than 60 minutes, then it ends; activity inside the window keeps it', async () => {
    const { email, id } = await newUser(t);
    const client = await logInClient(t, email);
    clock.advance(59 * MINUTE);
    expect((await meOf(client)).user?.id).toBe(id);
    clock.advance(59 * MINUTE);
    expect((await meOf(client)).user?.id).toBe(id);
    clock.advance(61 * MINUTE);
    expect((await meOf(client)).user).toBeNull();
  });

  it('when a session stays active for more than 12 hours, then the absolute lifetime ends it', async () => {
    const { email, id } = await newUser(t);
    const client = await logInClient(t, email);
    for (let i = 0; i < 14; i += 1) {
      clock.advance(50 * MINUTE);
      expect((await meOf(client)).user?.id).toBe(id);
    }
    // 11 h 40 min so far, never idle for long; 25 more minutes passes 12 h.
    clock.advance(25 * MINUTE);
    expect((await meOf(client)).user).toBeNull();
  });

  it('when an anonymous visitor token is older than 15 minutes, then it no longer passes CSRF', async () => {
    const { email } = await newUser(t);
    const client = await anonymousClient(t);
    const token = client.csrfToken;
    clock.advance(14 * MINUTE);
    expect((await meOf(client)).csrfToken).toBe(token);
    clock.advance(2 * MINUTE);
    const res = await client.post('/v1/auth/login', { email, password: PASSWORD });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'CSRF_TOKEN_INVALID', details: { reason: 'no_session' } });
    expect((await meOf(client)).csrfToken).not.toBe(token);
  });
});

describe('password change', () => {
  it('when the password is changed, then this session continues under a new id and CSRF token and other sessions end', async () => {
    const { client: a, email, id } = await newUser(t);
    const b = await logInClient(t, email);
    const oldToken = a.csrfToken;
    const newPassword = 'a completely new passphrase 42';

    const res = await a.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword });
    expect(res.status).toBe(200);
    expect(sessionCookieOf(res)).not.toBeNull();
    const { csrfToken } = res.body as { csrfToken: string };
    expect(csrfToken).not.toBe(oldToken);

    // The old CSRF token died with the old session id; the new one came with the answer.
    const stale = await a.post('/v1/tenants', { name: 'Stale Co' });
    expect(stale.status).toBe(403);
    expect(stale.body).toMatchObject({ code: 'CSRF_TOKEN_INVALID', details: { reason: 'mismatch' } });
    expect((await meOf(a)).csrfToken).toBe(csrfToken);
    a.csrfToken = csrfToken;
    expect((await a.post('/v1/tenants', { name: 'After Change Co' })).status).toBe(201);
    expect((await meOf(a)).user?.id).toBe(id);

    expect((await meOf(b)).user).toBeNull();
    expect((await b.get('/v1/tenants')).status).toBe(401);

    expect((await tryLogin(t, email, PASSWORD)).status).toBe(401);
    expect((await tryLogin(t, email, newPassword)).status).toBe(200);
    expect(await auditCount(t, 'auth.password.changed', id)).toBe(1);
  });

  it('when the current password is wrong, then 401 AUTH_INVALID_CREDENTIALS and nothing changes', async () => {
    const { client, email, id } = await newUser(t);
    const other = await logInClient(t, email);
    const before = await passwordHashOf(t, id);
    const res = await client.post('/v1/auth/password/change', { currentPassword: 'not my password at all', newPassword: 'another fine passphrase' });
    expect(res.status).toBe(401);
    expect((res.body as { code: string }).code).toBe('AUTH_INVALID_CREDENTIALS');
    expect(await passwordHashOf(t, id)).toBe(before);
    expect((await meOf(other)).user?.id).toBe(id);
    expect(await auditCount(t, 'auth.password.changed', id)).toBe(0);
  });

  it('when the new password is weak, then 400 PASSWORD_TOO_WEAK and nothing changes', async () => {
    const { client, id } = await newUser(t);
    const before = await passwordHashOf(t, id);
    const res = await client.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword: 'qwerty123456' });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('PASSWORD_TOO_WEAK');
    expect(await passwordHashOf(t, id)).toBe(before);
  });

  it('when the caller is anonymous, then 401 AUTH_REQUIRED', async () => {
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword: 'another fine passphrase' });
    expect(res.status).toBe(401);
    expect((res.body as { code: string }).code).toBe('AUTH_REQUIRED');
  });
});

describe('a session ended elsewhere', () => {
  /**
   * A user signed in on two browsers with a tenant active; the first ends the second's session by
   * changing the password (or, with `reset`, by resetting it through the mailed link).
   */
  async function endedSession(how: 'change' | 'reset' = 'change', withTenant = true) {
    const { client: first, email, id } = await newUser(t);
    if (withTenant) await createTenant(first, 'Ended Co');
    const ended = await logInClient(t, email);
    if (how === 'change') {
      expect((await first.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword: 'changed on the first browser' })).status).toBe(200);
    } else {
      const mail = vi.spyOn(t.mailer, 'send');
      expect((await (await anonymousClient(t)).post('/v1/auth/password/forgot', { email })).status).toBe(202);
      await t.drain();
      const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(mail.mock.calls.at(-1)?.[0].text ?? '')?.[1] ?? '';
      mail.mockRestore();
      expect((await (await anonymousClient(t)).post('/v1/auth/password/reset', { token, password: 'reset on another browser' })).status).toBe(204);
    }
    return { ended, id };
  }

  it('when it calls GET /v1/auth/me, then 200 with user null and a new anonymous CSRF token', async () => {
    const { ended } = await endedSession();
    const res = await ended.get('/v1/auth/me');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: null, activeTenant: null });
    expect((res.body as { csrfToken: string }).csrfToken).not.toBe(ended.csrfToken);
    expect(sessionCookieOf(res)?.value).toMatch(/^a\./);
  });

  it.each(['change', 'reset'] as const)('when it logs out after a password %s, then 204, the cookie is cleared and no logout is audited', async (how) => {
    const { ended, id } = await endedSession(how);
    const res = await ended.post('/v1/auth/logout');
    expect(res.status).toBe(204);
    expect(sessionCookieOf(res)?.value).toBe('');
    expect(await auditCount(t, 'auth.logout', id)).toBe(0);
  });

  it('when it asks for a password reset, then 202 as for any anonymous caller', async () => {
    const { ended } = await endedSession();
    const res = await ended.post('/v1/auth/password/forgot', { email: uniqueEmail('someone') });
    expect(res.status).toBe(202);
  });

  it.each([
    ['GET', '/v1/incidents', undefined],
    ['POST', '/v1/incidents', { title: 'After the end', severity: 'SEV3' }],
    ['GET', '/v1/tenants', undefined],
    ['POST', '/v1/tenants', { name: 'After the end' }],
  ])('when it calls %s %s (needs a signed-in user), then 401 AUTH_REQUIRED and it stays anonymous', async (method, path, body) => {
    const { ended } = await endedSession();
    const res = method === 'GET' ? await ended.get(path) : await ended.post(path, body);
    expect(res.status).toBe(401);
    expect((res.body as { code: string }).code).toBe('AUTH_REQUIRED');
    expect((await meOf(ended)).user).toBeNull();
  });

  it('when it had no active tenant and calls a tenant route, then 401 AUTH_REQUIRED, not 409 TENANT_CONTEXT_REQUIRED', async () => {
    const { ended } = await endedSession('change', false);
    const res = await ended.get('/v1/incidents');
    expect(res.status).toBe(401);
    expect((res.body as { code: string }).code).toBe('AUTH_REQUIRED');
    expect((await meOf(ended)).user).toBeNull();
  });
});
