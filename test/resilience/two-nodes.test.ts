/**
 * Two nodes, one state: two built servers on the same PostgreSQL database and the same Redis,
 * as behind a load balancer with no stickiness. Whatever one node decides (a session, a logout,
 * a lockout, a quota, a revocation) holds on the other from the next request on, because all of
 * it lives in the shared stores and none of it in a process.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { report } from './support/env.js';
import { ApiKeyClient, SessionClient, codeOf, statuses, type Response } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { assertNoLeaks } from './support/secrets.js';
import { ServerProcess } from './support/server.js';
import { createApiKey, newIncident, ownerWithTenant, PASSWORD, signUp, startStack, uniqueEmail, writeLedger, type Stack } from './support/stack.js';

const QUOTA = 5;
const cleanup = new Cleanup();
let stack: Stack;
let nodes: [ServerProcess, ServerProcess];

beforeAll(async () => {
  // One session secret for both, as a deployment shares it; a quota small enough to exhaust.
  const env = {
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    DAILY_WRITE_QUOTA: String(QUOTA),
    DATABASE_POOL_MAX: '10',
    DATABASE_CONNECTION_TIMEOUT_MS: '15000',
    DATABASE_STATEMENT_TIMEOUT_MS: '15000',
  };
  stack = await startStack(cleanup, 'twonodes', { env });
  const second = await ServerProcess.start(cleanup, { databaseUrl: stack.db.url, redisUrl: stack.redis.url, smtpUrl: stack.sink.url, env });
  nodes = [stack.server, second];
});
afterAll(() => cleanup.run());

/** The same browser (cookie and CSRF token) talking to `node`. */
function on(node: ServerProcess, client: SessionClient): SessionClient {
  const copy = new SessionClient(node.baseUrl);
  copy.cookie = client.cookie;
  copy.csrfToken = client.csrfToken;
  copy.user = client.user;
  return copy;
}

/** The i-th request goes to node i mod 2. */
function node(i: number): ServerProcess {
  return nodes[i % 2] as ServerProcess;
}

describe('two nodes, one state (issue 8 item 8)', () => {
  it('runs two distinct server processes', () => {
    const [a, b] = nodes;
    expect(a.running && b.running).toBe(true);
    expect(a.pid).not.toBe(b.pid);
    expect(a.port).not.toBe(b.port);
  });

  it('when a session is made on one node, then the same cookie is signed in on the other, for reads and CSRF-checked writes', async () => {
    const [a, b] = nodes;
    const user = await signUp(a.baseUrl);
    const me = await on(b, user).get('/v1/auth/me');
    expect(me.status).toBe(200);
    expect((me.body as { user: { id: string } | null }).user?.id).toBe(user.user?.id);
    // The CSRF token issued by A is the session's, so B accepts it on a write.
    const tenant = await on(b, user).post('/v1/tenants', { name: 'Made on B' });
    expect(tenant.status).toBe(201);
    const tenants = await on(a, user).get('/v1/tenants');
    expect(tenants.status).toBe(200);
    expect((tenants.body as { data: { id: string }[] }).data.map((t) => t.id)).toEqual([(tenant.body as { id: string }).id]);
  });

  it('when a user logs out on one node, then the session has ended on both', async () => {
    const [a, b] = nodes;
    const user = await signUp(a.baseUrl);
    expect((await on(b, user).get('/v1/tenants')).status).toBe(200);
    const logout = await on(b, user).post('/v1/auth/logout');
    expect(logout.status).toBe(204);
    // The old cookie, replayed on either node, is no longer anyone's session.
    for (const n of [a, b]) {
      const me = await on(n, user).get('/v1/auth/me');
      expect(me.status).toBe(200);
      expect((me.body as { user: unknown }).user).toBeNull();
      const tenants = await on(n, user).get('/v1/tenants');
      expect(tenants.status).toBe(401);
    }
  });

  it('when 10 wrong passwords are split 5/5 across the nodes, then the right password is 429 AUTH_LOCKED on either node', async () => {
    const email = uniqueEmail('locked');
    await signUp(nodes[0].baseUrl, email);
    const failures: Response[] = [];
    for (let i = 0; i < 10; i++) {
      const visitor = new SessionClient(node(i).baseUrl);
      await visitor.refreshCsrf();
      failures.push(await visitor.post('/v1/auth/login', { email, password: `wrong passphrase ${i}` }));
    }
    expect(statuses(failures)).toEqual({ '401 AUTH_INVALID_CREDENTIALS': 10 });
    for (const n of nodes) {
      const visitor = new SessionClient(n.baseUrl);
      await visitor.refreshCsrf();
      const login = await visitor.post('/v1/auth/login', { email, password: PASSWORD });
      expect(`${login.status} ${codeOf(login) ?? ''}`).toBe('429 AUTH_LOCKED');
      expect(Number(login.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it(`when ${QUOTA + 20} writes race across both nodes at a quota of ${QUOTA}, then exactly ${QUOTA} succeed and 20 get 429`, async () => {
    const [a, b] = nodes;
    const { owner, tenantId } = await ownerWithTenant(a.baseUrl, 'Quota across nodes');
    const bot = await createApiKey(owner, tenantId);
    // Session and API key, each on both nodes, in turn.
    const writers = [on(a, owner), new ApiKeyClient(b.baseUrl, bot.key), on(b, owner), new ApiKeyClient(a.baseUrl, bot.key)] as const;
    const write = (i: number): Promise<Response> => writers[i % writers.length as 0 | 1 | 2 | 3].post('/v1/incidents', newIncident(`across ${i}`));
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: QUOTA + 20 }, (_, i) => write(i)));
    const elapsed = performance.now() - started;
    expect(statuses(results)).toEqual({ 201: QUOTA, '429 QUOTA_EXCEEDED': 20 });
    const ledger = await writeLedger(stack.db, tenantId);
    expect(ledger.incidents.map((i) => i.number)).toEqual([1, 2, 3, 4, 5]);
    expect(ledger.quotaUsed).toBe(QUOTA);
    expect(ledger.createdAudits).toHaveLength(QUOTA);
    report('two nodes quota race', { requests: String(QUOTA + 20), elapsed });
  });

  it('when an API key is revoked through one node, then the very next request with it on the other node gets 401', async () => {
    const [a, b] = nodes;
    const { owner, tenantId } = await ownerWithTenant(a.baseUrl, 'Revocation');
    const bot = await createApiKey(owner, tenantId);
    const onA = new ApiKeyClient(a.baseUrl, bot.key);
    const onB = new ApiKeyClient(b.baseUrl, bot.key);
    expect((await onA.get('/v1/incidents')).status).toBe(200);
    expect((await onB.get('/v1/incidents')).status).toBe(200);
    const keys = await on(a, owner).get(`/v1/tenants/${tenantId}/api-keys`);
    const [key] = (keys.body as { data: { id: string }[] }).data;
    const revoke = await on(a, owner).post(`/v1/tenants/${tenantId}/api-keys/${key?.id ?? ''}/revoke`);
    expect(revoke.status).toBe(200);
    const revokedAt = performance.now();
    const next = await onB.get('/v1/incidents');
    const refusedAfter = performance.now() - revokedAt;
    expect(`${next.status} ${codeOf(next) ?? ''}`).toBe('401 API_KEY_INVALID');
    expect(`${(await onA.post('/v1/incidents', newIncident('after revoke'))).status}`).toBe('401');
    expect(`${(await onB.post('/v1/incidents', newIncident('after revoke'))).status}`).toBe('401');
    report('two nodes revocation', { refusedOnOtherNodeAfter: refusedAfter });
  });

  it('leaks none of the passwords, tokens, API keys, session ids or CSRF tokens it issued into either node\'s logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    expect(searched.logSources).toBe(2);
    report('two nodes secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
