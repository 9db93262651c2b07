import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { PASSWORD, uniqueEmail } from '../support/factories.js';
import { anonymousClient, auditCount, createAuthTestApp, newUser, tryLogin } from './support.js';

const clock = new FakeClock();
let t: TestApp;
/** An app with the shipped per-IP defaults (100 failed logins / 15 min, 30 signups and 30 forgots / hour). */
let throttled: TestApp;
beforeAll(async () => {
  t = await createAuthTestApp({ clock });
  throttled = await createTestApp();
});
afterAll(async () => {
  await t.close();
  await throttled.close();
});

const WRONG = 'this is not the password';
const MINUTE = 60_000;

async function fail(email: string, times: number): Promise<void> {
  for (let i = 0; i < times; i += 1) {
    const res = await tryLogin(t, email, WRONG);
    expect(res.status).toBe(401);
  }
}

describe('per-email lockout', () => {
  it('when 9 failures are followed by the right password, then login works and the count starts again', async () => {
    const { email } = await newUser(t);
    await fail(email, 9);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
    await fail(email, 9);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
  });

  it('when 10 failures happen within 15 minutes, then even the right password gets 429 AUTH_LOCKED with Retry-After, and the lock is audited', async () => {
    const { email, id } = await newUser(t);
    await fail(email, 10);
    const res = await tryLogin(t, email, PASSWORD);
    expect(res.status).toBe(429);
    expect((res.body as { code: string }).code).toBe('AUTH_LOCKED');
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(14 * 60);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(await auditCount(t, 'auth.login.locked', id)).toBe(1);
    expect(await auditCount(t, 'auth.login.failed', id)).toBe(10);
    expect(await auditCount(t, 'auth.login.succeeded', id)).toBe(0);
  });

  it('when an email with no account fails 10 times, then it is locked the same way', async () => {
    const email = uniqueEmail('ghost');
    await fail(email, 10);
    const res = await tryLogin(t, email, WRONG);
    expect(res.status).toBe(429);
    expect((res.body as { code: string }).code).toBe('AUTH_LOCKED');
  });

  it('when the lock is 15 minutes old on the clock, then the right password works again', async () => {
    const { email } = await newUser(t);
    await fail(email, 10);
    clock.advance(14 * MINUTE);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(429);
    clock.advance(MINUTE + 1000);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
  });

  it('when failures are spread over more than 15 minutes, then they do not add up to a lock', async () => {
    const { email } = await newUser(t);
    await fail(email, 9);
    clock.advance(16 * MINUTE);
    await fail(email, 1);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
  });

  it('when 50 failures arrive in parallel, then every one is counted and the account ends up locked', async () => {
    const { email, id } = await newUser(t);
    const clients = await Promise.all(Array.from({ length: 50 }, () => anonymousClient(t)));
    const results = await Promise.all(clients.map((c) => c.post('/v1/auth/login', { email, password: WRONG })));
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    // Each 401 is a counted failure with its audit row; a 429 means a lock was already in place.
    expect(await auditCount(t, 'auth.login.failed', id)).toBe(statuses.filter((s) => s === 401).length);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(10);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(429);
  });

  it('when 9 failures arrive in parallel and one more follows, then the lock engages (no increment was lost)', async () => {
    const { email } = await newUser(t);
    const clients = await Promise.all(Array.from({ length: 9 }, () => anonymousClient(t)));
    const results = await Promise.all(clients.map((c) => c.post('/v1/auth/login', { email, password: WRONG })));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 9 }, () => 401));
    await fail(email, 1);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(429);
  });
});

describe('per-IP throttling with the default limits', () => {
  async function login(app: TestApp, email: string, password: string): Promise<number> {
    const client = await anonymousClient(app);
    return (await client.post('/v1/auth/login', { email, password })).status;
  }

  it('when one address makes 30 signups in an hour, then the 31st gets 429 RATE_LIMITED with Retry-After', async () => {
    for (let i = 0; i < 30; i += 1) {
      const client = await anonymousClient(throttled);
      expect((await client.post('/v1/auth/signup', { email: uniqueEmail(), password: PASSWORD, name: 'N' })).status).toBe(201);
    }
    const client = await anonymousClient(throttled);
    const email = uniqueEmail();
    const res = await client.post('/v1/auth/signup', { email, password: PASSWORD, name: 'N' });
    expect(res.status).toBe(429);
    expect((res.body as { code: string }).code).toBe('RATE_LIMITED');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('when one address fails 100 logins across many emails, then its next login gets 429 RATE_LIMITED; successful logins spent none of that budget', async () => {
    // Inserted directly, so the signup budget of this address is not involved.
    const email = uniqueEmail();
    const hash = await throttled.built.deps.hasher.hash(PASSWORD);
    await throttled.db.withSystemTx((tx) => tx.query('INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)', [email, 'N', hash]));
    const spray = async (n: number): Promise<void> => {
      const statuses = await Promise.all(Array.from({ length: n }, () => login(throttled, uniqueEmail('spray'), WRONG)));
      expect(statuses).toEqual(Array.from({ length: n }, () => 401));
    };
    for (let batch = 0; batch < 9; batch += 1) await spray(10);
    await spray(5);
    // 95 failures spent: ten successes would overrun the budget if they were counted.
    const ok = await Promise.all(Array.from({ length: 10 }, () => login(throttled, email, PASSWORD)));
    expect(ok).toEqual(Array.from({ length: 10 }, () => 200));
    await spray(5);
    const client = await anonymousClient(throttled);
    const res = await client.post('/v1/auth/login', { email, password: PASSWORD });
    expect(res.status).toBe(429);
    expect((res.body as { code: string }).code).toBe('RATE_LIMITED');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('when one address asks for 30 reset mails in an hour, then the 31st gets 429 RATE_LIMITED', async () => {
    for (let i = 0; i < 30; i += 1) {
      const client = await anonymousClient(throttled);
      expect((await client.post('/v1/auth/password/forgot', { email: uniqueEmail('nobody') })).status).toBe(202);
    }
    const client = await anonymousClient(throttled);
    const res = await client.post('/v1/auth/password/forgot', { email: uniqueEmail('nobody') });
    expect(res.status).toBe(429);
    expect((res.body as { code: string }).code).toBe('RATE_LIMITED');
  });
});
