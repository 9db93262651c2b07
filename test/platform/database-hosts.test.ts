/**
 * High availability, the API's side (README "High availability"): with several hosts in
 * DATABASE_URL the pool connects only to the writable primary, skips standbys, finds the primary
 * again after a read-only answer, and answers 503 with Retry-After when no host is the primary.
 * Fake hosts (test/support/fake-postgres.ts) play the standbys next to the lane's real database.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, onPostgres } from '../support/backend.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { FakePostgres, type FakeRole } from '../support/fake-postgres.js';
import { PASSWORD, SessionClient, signUp, uniqueEmail } from '../support/factories.js';
import { logCapture } from '../support/state.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (let item = opened.pop(); item; item = opened.pop()) await item.close();
});

/** The lane's database URL with `hosts` (host:port each) in place of its one host. */
function urlWithHosts(hosts: string[]): string {
  const url = new URL(TEST_DATABASE_URL ?? '');
  return `${url.protocol}//${url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''}${hosts.join(',')}${url.pathname}${url.search}`;
}

function realHost(): string {
  const url = new URL(TEST_DATABASE_URL ?? '');
  return `${url.hostname}:${url.port || '5432'}`;
}

async function fake(role: FakeRole): Promise<FakePostgres> {
  const f = await FakePostgres.start(role);
  opened.push({ close: () => f.stop() });
  return f;
}

/** A port nothing listens on (connections are refused). */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return `127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
}

async function appWithHosts(hosts: string[], connectionTimeoutMs = 2000): Promise<TestApp> {
  // An API-only node (WORKERS=off): a worker's poll would otherwise be the first statement to
  // meet a fake host, and these tests follow what the request meets.
  const t = await createTestApp({ env: { DATABASE_URL: urlWithHosts(hosts), DATABASE_CONNECTION_TIMEOUT_MS: String(connectionTimeoutMs), WORKERS: 'off' } });
  opened.push(t);
  return t;
}

/** A signup attempt: a write that needs the primary. */
async function trySignUp(t: TestApp) {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  return client.post('/v1/auth/signup', { email: uniqueEmail('ha'), password: PASSWORD, name: 'HA' });
}

describe.runIf(onPostgres)('several database hosts in DATABASE_URL', () => {
  it.each<[FakeRole, string]>([
    ['standby', 'reports in_hot_standby = on at connect (PostgreSQL 14+)'],
    ['old-standby', 'answers SHOW transaction_read_only with on (no in_hot_standby reported)'],
  ])('when the first host is a %s that %s, then the pool skips it and writes go to the primary', async (role) => {
    const standby = await fake(role);
    const t = await appWithHosts([standby.hostPort, realHost()]);
    const client = await signUp(t);
    expect(client.user?.email).toMatch(/@example\.test$/);
    // The standby was asked (so the pool did consider it) but was given no transaction.
    expect(standby.connections).toBeGreaterThan(0);
    expect(standby.statements.filter((s) => s !== 'SHOW transaction_read_only')).toEqual([]);
  });

  it('when the primary turns read-only under its connections (25006), then that request gets 503 with Retry-After: 1 and the next ones find the new primary', async () => {
    const demoting = await fake('demoting');
    const t = await appWithHosts([demoting.hostPort, realHost()]);
    const first = await trySignUp(t);
    expect(first.status).toBe(503);
    expect(first.headers['retry-after']).toBe('1');
    expect(first.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'The service is temporarily unavailable.' });
    expect(JSON.stringify(first.body)).not.toContain('read-only');
    expect(demoting.statements.length).toBeGreaterThan(0);

    const statementsBefore = demoting.statements.length;
    const second = await trySignUp(t);
    expect(second.status).toBe(201);
    expect(demoting.statements.length).toBe(statementsBefore);
    expect(logCapture.join('')).toContain('database primary lost; searching the hosts for it');
  });

  it('when every host is down, then a request gets 503 with Retry-After: 1 once the connection timeout has passed, and the process stays up', async () => {
    const t = await appWithHosts([await closedPort(), await closedPort()], 300);
    const started = Date.now();
    const res = await trySignUp(t);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    // Bounded: the search across hosts gives up at the timeout instead of waiting forever.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await t.request().get('/health')).status).toBe(503);
  });

  it('when every host is a standby, then writes get 503 instead of reaching a read-only server', async () => {
    const a = await fake('standby');
    const b = await fake('old-standby');
    const t = await appWithHosts([a.hostPort, b.hostPort], 300);
    const res = await trySignUp(t);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect([...a.statements, ...b.statements].filter((s) => s !== 'SHOW transaction_read_only')).toEqual([]);
  });
});

describe('a read-only database (what a standby or a node mid-promotion answers)', () => {
  it('when a write meets a read-only transaction (25006), then 503 SERVICE_UNAVAILABLE with Retry-After: 1, and writes work again once it is writable', async () => {
    // One connection, so the session setting below is the one every request uses.
    const t = await createTestApp({ poolMax: 1 });
    opened.push(t);
    const setReadOnly = (on: boolean) => t.db.withSystemTx((tx) => tx.query(`SELECT set_config('default_transaction_read_only', '${on ? 'on' : 'off'}', false)`));
    await setReadOnly(true);
    try {
      const res = await trySignUp(t);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    } finally {
      await setReadOnly(false);
    }
    expect((await trySignUp(t)).status).toBe(201);
  });
});
