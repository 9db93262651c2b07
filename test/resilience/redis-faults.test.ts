/**
 * Redis (the session store) killed and hung, docs/security.md 16 and 43: cookie-authenticated
 * requests fail closed with 503 within 2 s and never continue as anonymous, API-key requests
 * (which need no session) keep working, and the app recovers on its own when Redis returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { report, waitFor } from './support/env.js';
import { isCleanUnavailable, SessionClient, type ApiKeyClient, type Response } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { createApiKey, newIncident, ownerWithTenant, startStack, writeLedger, type Stack } from './support/stack.js';
import { assertNoLeaks } from './support/secrets.js';

const cleanup = new Cleanup();
let stack: Stack;
let owner: SessionClient;
let tenantId: string;
let bot: ApiKeyClient;

beforeAll(async () => {
  stack = await startStack(cleanup, 'redis');
  ({ owner, tenantId } = await ownerWithTenant(stack.server.baseUrl));
  bot = await createApiKey(owner, tenantId);
  expect((await bot.post('/v1/incidents', newIncident('before'))).status).toBe(201);
});
afterAll(() => cleanup.run());

/**
 * What a signed-in browser sends. Run as anonymous, each would answer differently (me: 200 with
 * user null; tenants: 401; the POST would be refused for CSRF or create an incident), so a 503 on
 * every one proves the request stopped at the session store.
 */
function cookieProbes(): Promise<Response[]> {
  return Promise.all([
    owner.get('/v1/auth/me'),
    owner.get('/v1/tenants'),
    owner.get('/v1/incidents'),
    owner.post('/v1/incidents', newIncident('during outage')),
    owner.post('/v1/auth/logout'),
  ]);
}

/**
 * A visitor without a cookie still gets a CSRF token: nothing is stored for it (it is bound to the
 * cookie), so the outage does not reach it. Signing up with it, which must store a session, fails
 * closed.
 */
async function expectVisitorTokenWithoutStore(): Promise<void> {
  const visitor = new SessionClient(stack.server.baseUrl);
  const me = await visitor.get('/v1/auth/me');
  expect(me.status, me.text).toBe(200);
  expect(me.body).toMatchObject({ user: null, activeTenant: null });
  expect(me.ms).toBeLessThan(2000);
  visitor.csrfToken = (me.body as { csrfToken: string }).csrfToken;
  const signup = await visitor.post('/v1/auth/signup', { email: `outage-${String(Date.now())}@example.test`, password: 'a fine long passphrase', name: 'Outage' });
  expect(isCleanUnavailable(signup), `${signup.status} ${signup.text}`).toBe(true);
  expect(signup.ms).toBeLessThan(2000);
}

function expectFailedClosed(responses: Response[], cookieBefore: string | null): number {
  for (const res of responses) {
    expect(isCleanUnavailable(res), `${res.status} ${res.text}`).toBe(true);
    expect(res.headers['retry-after']).toBe('1');
    // No new (anonymous) session was handed out in place of the unreadable one.
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.ms).toBeLessThan(2000);
  }
  expect(owner.cookie).toBe(cookieBefore);
  return Math.max(...responses.map((r) => r.ms));
}

async function expectApiKeysWork(): Promise<number> {
  const list = await bot.get('/v1/incidents');
  expect(list.status).toBe(200);
  expect((list.body as { data: unknown[] }).data.length).toBeGreaterThan(0);
  const created = await bot.post('/v1/incidents', newIncident('api key during outage'));
  expect(created.status).toBe(201);
  return Math.max(list.ms, created.ms);
}

async function expectHealthNamesSessionStore(): Promise<void> {
  const health = await owner.get('/health');
  expect(health.status).toBe(503);
  expect((health.body as { details: unknown }).details).toEqual({ checks: { database: 'ok', sessionStore: 'fail', migrations: 'ok' } });
}

/** Waits until the same cookie is signed in again; returns how long that took. */
async function timeToSessionsBack(): Promise<number> {
  const started = performance.now();
  await waitFor(
    'cookie requests to succeed again',
    async () => {
      const res = await owner.get('/v1/auth/me', { timeoutMs: 3000 });
      return res.status === 200 && (res.body as { user: { id: string } | null }).user?.id === owner.user?.id ? true : undefined;
    },
    10_000,
    100,
  );
  return performance.now() - started;
}

describe('Redis faults (docs/security.md 16, 43)', () => {
  it('when Redis is killed, cookie requests get 503 within 2 s and never run as anonymous, API keys keep working, and a restart on the same port restores sessions without restarting the app', async () => {
    const pid = stack.server.pid;
    const cookie = owner.cookie;
    const before = await writeLedger(stack.db, tenantId);

    await stack.redis.kill();
    const worst = expectFailedClosed(await cookieProbes(), cookie);
    await expectVisitorTokenWithoutStore();
    const apiKeyMs = await expectApiKeysWork();
    await expectHealthNamesSessionStore();
    // The refused cookie POST wrote nothing; only the API key's incident was added.
    expect((await writeLedger(stack.db, tenantId)).incidents).toHaveLength(before.incidents.length + 1);

    await stack.redis.restart();
    const recovery = await timeToSessionsBack();
    expect(recovery).toBeLessThan(5000);
    expect((await owner.get('/v1/tenants')).status).toBe(200);
    expect((await owner.post('/v1/incidents', newIncident('after restart'))).status).toBe(201);
    expect(stack.server.running).toBe(true);
    expect(stack.server.pid).toBe(pid);
    report('redis killed', { worst503: worst, apiKeyWorst: apiKeyMs, recoveryAfterRestart: recovery });
  });

  it('when Redis hangs (DEBUG SLEEP 5), cookie requests get 503 within 2 s and never run as anonymous, API keys keep working, and service resumes when it wakes', async () => {
    const pid = stack.server.pid;
    const cookie = owner.cookie;

    const { awake } = await stack.redis.hang(5);
    const sleptAt = performance.now();
    const [probes, apiKeyMs] = await Promise.all([cookieProbes(), expectApiKeysWork(), expectVisitorTokenWithoutStore()]);
    const worst = expectFailedClosed(probes, cookie);
    // The probes ran while Redis was still asleep, so they measured the hang, not a recovery.
    expect(performance.now() - sleptAt).toBeLessThan(4500);

    await awake;
    const recovery = await timeToSessionsBack();
    expect(recovery).toBeLessThan(5000);
    expect((await owner.get('/v1/tenants')).status).toBe(200);
    expect(stack.server.running).toBe(true);
    expect(stack.server.pid).toBe(pid);
    report('redis hung', { worst503: worst, apiKeyWorst: apiKeyMs, recoveryAfterWake: recovery });
  });
  it('leaks none of the passwords, tokens, session ids or CSRF tokens it issued into logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    report('redis-faults secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
