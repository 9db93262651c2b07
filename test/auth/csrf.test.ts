import { randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestApp } from '../support/app.js';
import { ResponseValidator } from '../support/contract.js';
import { countRows, PASSWORD, type SessionClient, uniqueEmail } from '../support/factories.js';
import { anonymousClient, createAuthTestApp, meOf, newUser, passwordHashOf } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createAuthTestApp();
});
afterAll(async () => {
  await t.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface Victim {
  client: SessionClient;
  email: string;
  id: string;
}

/** Everything an unsafe auth request could change, read for one victim user and one new email. */
async function snapshot(v: Victim, newEmail: string) {
  return {
    users: await countRows(t, 'users', 'email = $1', [newEmail]),
    resetTokens: await countRows(t, 'password_reset_tokens', 'user_id = $1', [v.id]),
    usableResetTokens: await countRows(t, 'password_reset_tokens', 'user_id = $1 AND used_at IS NULL', [v.id]),
    audit: await countRows(t, 'audit_log_events', 'actor_id = $1 OR target_id = $2', [v.id, v.id]),
    hash: await passwordHashOf(t, v.id),
    signedInAs: (await meOf(v.client)).user?.id ?? null,
  };
}

/** A valid reset token for the victim, captured from the mail the forgot endpoint queues. */
async function resetTokenFor(email: string): Promise<string> {
  const spy = vi.spyOn(t.mailer, 'send');
  const client = await anonymousClient(t);
  expect((await client.post('/v1/auth/password/forgot', { email })).status).toBe(202);
  // The link is made and mailed after the answer.
  await t.drain();
  const text = spy.mock.calls.at(-1)?.[0].text ?? '';
  spy.mockRestore();
  const token = /reset-password\?token=([A-Za-z0-9_-]+)/.exec(text)?.[1];
  if (!token) throw new Error('no reset mail');
  return token;
}

type Route = 'signup' | 'login' | 'logout' | 'password/forgot' | 'password/reset' | 'password/change';

/** A body that would succeed with a valid token, so only the CSRF check stands in the way. */
function bodyFor(route: Route, v: Victim, newEmail: string, resetToken: string): object | undefined {
  switch (route) {
    case 'signup':
      return { email: newEmail, password: PASSWORD, name: 'Mallory' };
    case 'login':
      return { email: v.email, password: PASSWORD };
    case 'logout':
      return undefined;
    case 'password/forgot':
      return { email: v.email };
    case 'password/reset':
      return { token: resetToken, password: 'attacker chosen passphrase' };
    case 'password/change':
      return { currentPassword: PASSWORD, newPassword: 'attacker chosen passphrase' };
  }
}

const ROUTES: Route[] = ['signup', 'login', 'logout', 'password/forgot', 'password/reset', 'password/change'];

describe('CSRF on unsafe auth routes', () => {
  it('covers every unsafe auth route in the route table', () => {
    const unsafe = t.built.inventory
      .filter((r) => r.path.startsWith('/v1/auth/') && r.method !== 'get')
      .map((r) => r.path.slice('/v1/auth/'.length))
      .sort();
    expect(unsafe).toEqual([...ROUTES].sort());
  });

  describe.each(ROUTES)('POST /v1/auth/%s', (route) => {
    it.each(['no', 'a wrong', "another session's"] as const)('refuses %s CSRF token with 403 and changes nothing', async (kind) => {
      const victim = await newUser(t);
      const v: Victim = { client: victim.client, email: victim.email, id: victim.id };
      const resetToken = await resetTokenFor(v.email);
      const other = await anonymousClient(t);
      const newEmail = uniqueEmail('csrf');
      // Signed-in routes are attacked through the victim's signed-in session, the rest through an anonymous one.
      const session = route === 'logout' || route === 'password/change' ? v.client : await anonymousClient(t);
      const mail = vi.spyOn(t.mailer, 'send');
      const before = await snapshot(v, newEmail);

      let req = session.agent.post(`/v1/auth/${route}`);
      if (kind === 'a wrong') req = req.set('x-csrf-token', randomBytes(32).toString('base64url'));
      if (kind === "another session's") req = req.set('x-csrf-token', other.csrfToken);
      const body = bodyFor(route, v, newEmail, resetToken);
      const res: Response = body === undefined ? await req : await req.send(body);

      expect(res.status).toBe(403);
      expect((res.body as { code: string }).code).toBe('CSRF_TOKEN_INVALID');
      await t.drain();
      expect(mail).not.toHaveBeenCalled();
      expect(await snapshot(v, newEmail)).toEqual(before);
      expect(await countRows(t, 'audit_log_events', 'trace_id = $1', [res.headers['x-request-id']])).toBe(0);
      // The refused anonymous session was not signed in by the request.
      if (session !== v.client) expect((await meOf(session)).user).toBeNull();
    });
  });

  it('when the right token is sent, then the same request succeeds (the refusals above were about the token)', async () => {
    const victim = await newUser(t);
    const res = await victim.client.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword: 'a legitimately new passphrase' });
    expect(res.status).toBe(200);
  });

  it('when GET /v1/auth/me is called without a token, then it answers 200 (safe methods need none)', async () => {
    const res = await t.request().get('/v1/auth/me');
    expect(res.status).toBe(200);
  });
});

describe('CSRF_TOKEN_INVALID says why in details.reason', () => {
  function reasonOf(res: Response): unknown {
    expect(res.status).toBe(403);
    expect((res.body as { code: string }).code).toBe('CSRF_TOKEN_INVALID');
    return (res.body as { details: { reason?: unknown } }).details.reason;
  }
  const login = { email: 'nobody@example.test', password: PASSWORD };

  it('when the header is missing, then reason is missing (anonymous and signed in)', async () => {
    const anonymous = await anonymousClient(t);
    expect(reasonOf(await anonymous.agent.post('/v1/auth/login').send(login))).toBe('missing');
    const { client } = await newUser(t);
    expect(reasonOf(await client.agent.post('/v1/tenants').send({ name: 'No Header Co' }))).toBe('missing');
  });

  it('when the token is not the session’s, then reason is mismatch (anonymous and signed in)', async () => {
    const anonymous = await anonymousClient(t);
    const other = await anonymousClient(t);
    expect(reasonOf(await anonymous.agent.post('/v1/auth/login').set('x-csrf-token', other.csrfToken).send(login))).toBe('mismatch');
    const { client } = await newUser(t);
    expect(reasonOf(await client.agent.post('/v1/tenants').set('x-csrf-token', other.csrfToken).send({ name: 'Wrong Co' }))).toBe('mismatch');
  });

  it('when an anonymous cookie was made up by the client, then its token never matches: reason is mismatch', async () => {
    const forged = `a.${String(Date.now())}.${randomBytes(16).toString('base64url')}`;
    const res = await t.request().post('/v1/auth/login').set('Cookie', `sid=${forged}`).set('x-csrf-token', randomBytes(32).toString('base64url')).send(login);
    expect(reasonOf(res)).toBe('mismatch');
  });

  it('when there is no session or anonymous token to compare with, then reason is no_session', async () => {
    const token = (await anonymousClient(t)).csrfToken;
    expect(reasonOf(await t.request().post('/v1/auth/login').set('x-csrf-token', token).send(login))).toBe('no_session');
    // A cookie that names no stored session (signed out, or never issued) is no session either.
    const unknown = await t.request().post('/v1/auth/login').set('Cookie', 'sid=s%3Anot-a-session.bad').set('x-csrf-token', token).send(login);
    expect(reasonOf(unknown)).toBe('no_session');
  });

  it('when a CSRF refusal lacked details.reason, then openapi.yaml would reject it', () => {
    const v = new ResponseValidator();
    const envelope = { code: 'CSRF_TOKEN_INVALID', message: 'x', traceId: 't' };
    expect(v.check('POST', '/v1/auth/login', 403, { ...envelope, details: { reason: 'missing' } })).toBeNull();
    expect(v.check('POST', '/v1/auth/login', 403, { ...envelope, details: {} })).toMatch(/reason/);
    expect(v.check('POST', '/v1/auth/login', 403, { ...envelope, details: { reason: 'other' } })).not.toBeNull();
    expect(v.check('POST', '/v1/auth/login', 403, { ...envelope, code: 'FORBIDDEN', details: {} })).toBeNull();
  });
});
