/**
 * TRUST_PROXY decides whose X-Forwarded-For is believed. Every test request reaches the app from
 * loopback: with a trusted list that excludes loopback the client is "direct" and its forged header
 * must change nothing; with loopback trusted (the client is the proxy) the header is the address.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { SessionClient, uniqueEmail } from '../support/factories.js';

const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

async function anonymous(t: TestApp): Promise<SessionClient> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  return client;
}

function forgot(client: SessionClient, forwardedFor: string) {
  return client.post('/v1/auth/password/forgot', { email: uniqueEmail() }).set('X-Forwarded-For', forwardedFor);
}

/** A failed login with a unique user agent, and the address its audit row recorded. */
async function auditedIpOfFailedLogin(t: TestApp, client: SessionClient, forwardedFor: string): Promise<string | null> {
  const marker = `trust-proxy-${randomUUID()}`;
  const res = await client
    .post('/v1/auth/login', { email: uniqueEmail(), password: 'not the password at all' })
    .set('X-Forwarded-For', forwardedFor)
    .set('User-Agent', marker);
  expect(res.status).toBe(401);
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ ip: string | null }>(`SELECT ip FROM audit_log_events WHERE action = 'auth.login.failed' AND user_agent = $1`, [marker]),
  );
  expect(rows).toHaveLength(1);
  return rows[0]?.ip ?? null;
}

describe('when TRUST_PROXY lists proxies that exclude the client', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '10.0.0.0/8,192.0.2.1', FORGOT_IP_LIMIT_PER_HOUR: '2' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('then a forged X-Forwarded-For does not escape the per-IP limit: rotating it still spends one budget', async () => {
    const client = await anonymous(t);
    expect((await forgot(client, '203.0.113.1')).status).toBe(202);
    expect((await forgot(client, '203.0.113.2')).status).toBe(202);
    const third = await forgot(client, '203.0.113.3');
    expect(third.status).toBe(429);
    expect((third.body as { code: string }).code).toBe('RATE_LIMITED');
  });

  it('then the audit row records the socket address, not the forged one', async () => {
    const ip = await auditedIpOfFailedLogin(t, await anonymous(t), '198.51.100.77');
    expect(ip).toMatch(LOOPBACK);
  });
});

describe('when TRUST_PROXY names the proxy the request came through', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: 'loopback', FORGOT_IP_LIMIT_PER_HOUR: '2' } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('then the forwarded address is the client: each address has its own budget', async () => {
    const client = await anonymous(t);
    for (const ip of ['203.0.113.11', '203.0.113.12', '203.0.113.13']) expect((await forgot(client, ip)).status, ip).toBe(202);
    expect((await forgot(client, '203.0.113.11')).status).toBe(202);
    expect((await forgot(client, '203.0.113.11')).status).toBe(429);
  });

  it('then the audit row records the forwarded address', async () => {
    expect(await auditedIpOfFailedLogin(t, await anonymous(t), '198.51.100.78')).toBe('198.51.100.78');
  });
});
