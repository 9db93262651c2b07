import { hash as argon2Hash } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/features/auth/auth.passwords.js';
import type { TestApp } from '../support/app.js';
import { countRows, createTenant, PASSWORD, uniqueEmail } from '../support/factories.js';
import { anonymousClient, auditCount, bodyWithoutTrace, createAuthTestApp, newUser, passwordHashOf, tryLogin } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createAuthTestApp();
});
afterAll(async () => {
  await t.close();
});

interface PhcParts {
  algorithm: string;
  m: number;
  t: number;
  p: number;
  saltBytes: number;
}

function parsePhc(phc: string): PhcParts {
  const m = /^\$(argon2id|argon2i|argon2d)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
  if (!m) throw new Error(`not a PHC argon2 string: ${phc.slice(0, 20)}...`);
  return {
    algorithm: m[1] ?? '',
    m: Number(m[2]),
    t: Number(m[3]),
    p: Number(m[4]),
    saltBytes: Buffer.from(m[5] ?? '', 'base64').length,
  };
}

describe('signup', () => {
  it('when a user signs up, then the password is stored as an Argon2id PHC string at policy strength with a 16-byte salt', async () => {
    const { id } = await newUser(t);
    const parts = parsePhc(await passwordHashOf(t, id));
    expect(parts.algorithm).toBe('argon2id');
    expect(parts.m).toBeGreaterThanOrEqual(19456);
    expect(parts.t).toBeGreaterThanOrEqual(2);
    expect(parts.p).toBe(1);
    expect(parts.saltBytes).toBe(16);
  });

  it('when two users choose the same password, then their stored hashes differ', async () => {
    const a = await newUser(t);
    const b = await newUser(t);
    expect(await passwordHashOf(t, a.id)).not.toBe(await passwordHashOf(t, b.id));
  });

  it('when signing up, then 201 returns the user and a CSRF token different from the anonymous one, and the user is signed in', async () => {
    const client = await anonymousClient(t);
    const anonymousToken = client.csrfToken;
    const email = uniqueEmail();
    const res = await client.post('/v1/auth/signup', { email, password: PASSWORD, name: 'Ada' });
    expect(res.status).toBe(201);
    const body = res.body as { user: { id: string; email: string; name: string }; csrfToken: string };
    expect(body.user).toMatchObject({ email, name: 'Ada' });
    expect(body.csrfToken).not.toBe(anonymousToken);
    expect(Buffer.from(body.csrfToken, 'base64url').length).toBeGreaterThanOrEqual(16);
    const me = await client.get('/v1/auth/me').expect(200);
    expect((me.body as { user: { id: string } | null }).user?.id).toBe(body.user.id);
    expect(await auditCount(t, 'auth.signup', body.user.id)).toBe(1);
  });

  it('when the email differs only in case and spaces, then it is normalised: stored lower-case, and a second signup gets 409', async () => {
    const local = uniqueEmail();
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/signup', { email: `  ${local.toUpperCase()} `, password: PASSWORD, name: 'Ada' });
    expect(res.status).toBe(201);
    expect((res.body as { user: { email: string } }).user.email).toBe(local);

    const again = await anonymousClient(t);
    const dup = await again.post('/v1/auth/signup', { email: local, password: PASSWORD, name: 'Other' });
    expect(dup.status).toBe(409);
    expect((dup.body as { code: string }).code).toBe('EMAIL_ALREADY_REGISTERED');
    expect(await countRows(t, 'users', 'email = $1', [local])).toBe(1);

    const login = await tryLogin(t, ` ${local.toUpperCase()}`, PASSWORD);
    expect(login.status).toBe(200);
  });

  it.each([
    ['shorter than 12 characters', 'elevenchars'],
    ['a common password', 'password1234'],
    ['a common password in another case', 'QWERTY123456'],
  ])('when the password is %s, then 400 PASSWORD_TOO_WEAK and no account', async (_label, password) => {
    const email = uniqueEmail();
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/signup', { email, password, name: 'Ada' });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('PASSWORD_TOO_WEAK');
    expect(await countRows(t, 'users', 'email = $1', [email])).toBe(0);
  });

  it('when the password is 12 or 256 characters (any characters, counted as code points), then it is accepted untruncated', async () => {
    const twelve = 'zq!x 7Kd$w2p';
    const longest = '🔑'.repeat(256);
    for (const password of [twelve, longest]) {
      const email = uniqueEmail();
      const client = await anonymousClient(t);
      const res = await client.post('/v1/auth/signup', { email, password, name: 'Ada' });
      expect(res.status).toBe(201);
      expect((await tryLogin(t, email, password)).status).toBe(200);
    }
    // No truncation: a 256-character password differing only in its last character is wrong.
    const email = uniqueEmail();
    const client = await anonymousClient(t);
    expect((await client.post('/v1/auth/signup', { email, password: `${'a'.repeat(255)}b`, name: 'Ada' })).status).toBe(201);
    expect((await tryLogin(t, email, `${'a'.repeat(255)}c`)).status).toBe(401);
  });

  it('when the password is over 256 characters, then 400 VALIDATION_FAILED and no account', async () => {
    const email = uniqueEmail();
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/signup', { email, password: 'x'.repeat(257), name: 'Ada' });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    expect(await countRows(t, 'users', 'email = $1', [email])).toBe(0);
  });

  it('when the body has an unknown field, then 400 VALIDATION_FAILED', async () => {
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/signup', { email: uniqueEmail(), password: PASSWORD, name: 'Ada', role: 'owner' });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
  });
});

describe('login', () => {
  it('when the credentials are right, then 200 with the user, the latest tenant as active tenant and a fresh CSRF token', async () => {
    const { client, email, id } = await newUser(t);
    const tenantId = await createTenant(client, 'Login Co');
    const fresh = await anonymousClient(t);
    const res = await fresh.post('/v1/auth/login', { email, password: PASSWORD });
    expect(res.status).toBe(200);
    const body = res.body as { user: { id: string }; activeTenant: { id: string; role: string } | null; csrfToken: string };
    expect(body.user.id).toBe(id);
    expect(body.activeTenant).toMatchObject({ id: tenantId, role: 'owner' });
    expect(body.csrfToken).not.toBe(fresh.csrfToken);
    expect(await auditCount(t, 'auth.login.succeeded', id)).toBe(1);
  });

  it('when the email is unknown or the password wrong, then the status and body are identical', async () => {
    const { email } = await newUser(t);
    const wrong = await tryLogin(t, email, 'not the right password at all');
    const unknown = await tryLogin(t, uniqueEmail('nobody'), 'not the right password at all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(wrong.status);
    expect(bodyWithoutTrace(unknown)).toEqual(bodyWithoutTrace(wrong));
    expect((wrong.body as { code: string }).code).toBe('AUTH_INVALID_CREDENTIALS');
    expect(Object.keys(unknown.headers).sort()).toEqual(Object.keys(wrong.headers).sort());
  });

  it('when an unknown email and a wrong password log in, then each costs exactly one Argon2id verify against a hash of the current policy', async () => {
    const { email } = await newUser(t);
    const client = await anonymousClient(t);
    const verify = vi.spyOn(t.built.deps.hasher, 'verify');
    try {
      for (const who of [uniqueEmail('nobody'), email]) {
        verify.mockClear();
        const res = await client.post('/v1/auth/login', { email: who, password: 'definitely the wrong password' });
        expect(res.status).toBe(401);
        // The same work whether or not the account exists: timing cannot tell them apart.
        expect(verify).toHaveBeenCalledTimes(1);
        const [hash, password] = verify.mock.calls[0] ?? [];
        expect(password).toBe('definitely the wrong password');
        expect(PasswordHasher.needsRehash(hash ?? '')).toBe(false);
        expect(await verify.mock.results[0]?.value).toBe(false);
      }
    } finally {
      verify.mockRestore();
    }
  });

  it('when a stored hash is weaker than policy, then a failed login leaves it and a successful login rehashes it', async () => {
    const { email, id } = await newUser(t);
    const weak = await argon2Hash(PASSWORD, { memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await t.db.withSystemTx((tx) => tx.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, weak]));

    expect((await tryLogin(t, email, 'a wrong password for sure')).status).toBe(401);
    expect(await passwordHashOf(t, id)).toBe(weak);

    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
    const rehashed = await passwordHashOf(t, id);
    expect(rehashed).not.toBe(weak);
    const parts = parsePhc(rehashed);
    expect([parts.algorithm, parts.m >= 19456, parts.t >= 2, parts.p]).toEqual(['argon2id', true, true, 1]);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
  });

  it('when the login body is invalid, then 400 VALIDATION_FAILED and nothing is counted as a failure', async () => {
    const { id } = await newUser(t);
    const client = await anonymousClient(t);
    const res = await client.post('/v1/auth/login', { email: 'not-an-email', password: PASSWORD });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    expect(await auditCount(t, 'auth.login.failed', id)).toBe(0);
  });
});
