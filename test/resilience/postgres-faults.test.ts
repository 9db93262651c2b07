/**
 * PostgreSQL faults, docs/security.md 44 and 46: connections terminated under load, the database
 * gone and back, a saturated pool, and a write interrupted half-way through its transaction.
 * The process stays up, every failure is a clean 503 (never a 500 with internals), service
 * resumes within 5 s, and no interrupted transaction leaves part of itself behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { terminateAppBackends, urlFor, waitForLockWaiters, withTableLock } from './support/database.js';
import { PG_ADMIN_URL, report, sleep, waitFor } from './support/env.js';
import { isCleanUnavailable, type ApiKeyClient, type Response, type SessionClient } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { createApiKey, newIncident, ownerWithTenant, startStack, writeLedger, type Stack } from './support/stack.js';
import { assertNoLeaks } from './support/secrets.js';
import { TcpProxy } from './support/tcp-proxy.js';

const POOL_MAX = 4;
const CONNECTION_TIMEOUT_MS = 1000;
const STATEMENT_TIMEOUT_MS = 3000;

const cleanup = new Cleanup();
let stack: Stack;
let proxy: TcpProxy;
let owner: SessionClient;
let tenantId: string;
let bot: ApiKeyClient;

beforeAll(async () => {
  stack = await startStack(cleanup, 'pgfaults', {
    // The app reaches PostgreSQL through a proxy the suite can cut, like a server restart.
    databaseUrl: async (db) => {
      proxy = await TcpProxy.start(cleanup, Number(new URL(PG_ADMIN_URL).port || 5432));
      return urlFor(db.name, proxy.port);
    },
    env: {
      DATABASE_POOL_MAX: String(POOL_MAX),
      DATABASE_CONNECTION_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS),
      DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    },
  });
  ({ owner, tenantId } = await ownerWithTenant(stack.server.baseUrl));
  bot = await createApiKey(owner, tenantId);
});
afterAll(() => cleanup.run());

/** Only successes and clean 503s; returns the 503s. */
function expectOnlySuccessOr503(responses: Response[]): Response[] {
  const unexpected = responses.filter((r) => r.status !== 200 && r.status !== 201 && !isCleanUnavailable(r));
  expect(unexpected.map((r) => `${r.status} ${r.text}`)).toEqual([]);
  return responses.filter((r) => r.status === 503);
}

/**
 * Every incident has exactly its one incident.created audit row and the reverse, numbers run
 * 1..n without a gap, today's metered writes equal the incidents (creates are the only metered
 * writes here), and the tenant's audit hash chain verifies.
 */
async function expectConsistentWrites(): Promise<number> {
  const ledger = await writeLedger(stack.db, tenantId);
  const ids = ledger.incidents.map((i) => i.id).sort();
  expect(ledger.createdAudits).toEqual(ids);
  expect(ledger.incidents.map((i) => i.number)).toEqual(ledger.incidents.map((_, i) => i + 1));
  expect(ledger.quotaUsed).toBe(ledger.incidents.length);
  const verify = await owner.get('/v1/audit-logs/verify');
  expect(verify.status).toBe(200);
  expect((verify.body as { valid: boolean }).valid).toBe(true);
  return ledger.incidents.length;
}

/** Time until reads through both kinds of auth succeed three times in a row. */
async function timeToRecover(): Promise<number> {
  const started = performance.now();
  let streak = 0;
  await waitFor(
    'service to resume',
    async () => {
      const [a, b] = await Promise.all([bot.get('/v1/incidents'), owner.get('/v1/tenants')]);
      streak = a.status === 200 && b.status === 200 ? streak + 1 : 0;
      return streak >= 3 ? true : undefined;
    },
    10_000,
    20,
  );
  return performance.now() - started;
}

describe('PostgreSQL faults (docs/security.md 44, 46)', () => {
  it('when the app connections are terminated under load, every answer is a success or a clean 503, writes stay whole, and service resumes within 5 s', async () => {
    const pid = stack.server.pid;
    const before = await writeLedger(stack.db, tenantId);
    await Promise.all(Array.from({ length: 2 * POOL_MAX }, () => bot.get('/v1/incidents')));

    const responses: Response[] = [];
    const created = new Set<string>();
    const until = performance.now() + 2000;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; performance.now() < until; i++) {
        const kind = (w + i) % 4;
        const res =
          kind === 0
            ? await bot.get('/v1/incidents')
            : kind === 1
              ? await owner.get('/v1/tenants')
              : kind === 2
                ? await bot.post('/v1/incidents', newIncident(`load ${w}.${i}`))
                : await owner.post('/v1/incidents', newIncident(`load ${w}.${i}`));
        if (res.status === 201) created.add((res.body as { id: string }).id);
        responses.push(res);
      }
    };
    let terminated = 0;
    const terminator = async (): Promise<void> => {
      while (performance.now() < until - 200) {
        terminated += await terminateAppBackends(stack.db.name);
        await sleep(100);
      }
    };
    await Promise.all([terminator(), ...Array.from({ length: 6 }, (_, w) => worker(w))]);

    const unavailable = expectOnlySuccessOr503(responses);
    expect(terminated).toBeGreaterThan(0);
    // The fault reached the app: requests failed with it, or idle pooled clients reported it.
    const idleErrors = stack.server.logs().filter((l) => l.msg === 'idle database client error').length;
    expect(unavailable.length + idleErrors).toBeGreaterThan(0);

    const recovery = await timeToRecover();
    expect(recovery).toBeLessThan(5000);
    expect(stack.server.running).toBe(true);
    expect(stack.server.pid).toBe(pid);

    // Every acknowledged create is stored whole; interrupted ones left nothing half-written.
    const total = await expectConsistentWrites();
    const stored = new Set((await writeLedger(stack.db, tenantId)).incidents.map((i) => i.id));
    expect([...created].filter((id) => !stored.has(id))).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(before.incidents.length + created.size);
    report('postgres backends terminated', {
      requests: String(responses.length),
      terminated: String(terminated),
      answered503: String(unavailable.length),
      worst503: Math.max(0, ...unavailable.map((r) => r.ms)),
      recovery,
    });
  });

  it('when PostgreSQL goes away (connections reset, new ones refused), requests get a clean 503 promptly, and when it returns service resumes within 5 s without a restart', async () => {
    const pid = stack.server.pid;
    await proxy.cut();
    const outageEnds = performance.now() + 1500;
    const during: Response[] = [];
    while (performance.now() < outageEnds) {
      during.push(...(await Promise.all([bot.get('/v1/incidents'), owner.get('/v1/tenants'), bot.post('/v1/incidents', newIncident('outage'))])));
    }
    for (const res of during) {
      expect(isCleanUnavailable(res), `${res.status} ${res.text}`).toBe(true);
      expect(res.ms).toBeLessThan(CONNECTION_TIMEOUT_MS + 1000);
    }
    const health = await owner.get('/health');
    expect(health.status).toBe(503);
    expect((health.body as { details: unknown }).details).toEqual({ checks: { database: 'fail', sessionStore: 'ok', migrations: 'ok' } });

    await proxy.open();
    const recovery = await timeToRecover();
    expect(recovery).toBeLessThan(5000);
    expect(stack.server.pid).toBe(pid);
    await expectConsistentWrites();
    report('postgres unreachable', { requests: String(during.length), worst503: Math.max(...during.map((r) => r.ms)), recovery });
  });

  it('when the pool is saturated, a queued request gets 503 after connectionTimeoutMillis, held ones at statement_timeout, and service resumes when the pool frees', async () => {
    const responses = await withTableLock(stack.db.name, ['incidents'], async () => {
      const pending = Promise.all(Array.from({ length: 2 * POOL_MAX }, () => bot.get('/v1/incidents')));
      // Exactly the pool's connections are in use, every one of them stuck behind the lock.
      const waiters = await waitForLockWaiters(stack.db.name, POOL_MAX);
      expect(waiters).toHaveLength(POOL_MAX);
      return pending;
    });

    for (const res of responses) expect(isCleanUnavailable(res), `${res.status} ${res.text}`).toBe(true);
    const ms = responses.map((r) => r.ms).sort((a, b) => a - b);
    const queued = ms.slice(0, POOL_MAX);
    const held = ms.slice(POOL_MAX);
    for (const t of queued) expect(t).toBeLessThan(CONNECTION_TIMEOUT_MS + 700);
    for (const t of held) {
      expect(t).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 100);
      expect(t).toBeLessThan(STATEMENT_TIMEOUT_MS + 1500);
    }
    const recovery = await timeToRecover();
    expect(recovery).toBeLessThan(5000);
    report('postgres pool saturated', { queued503: Math.max(...queued), held503: Math.max(...held), recovery });
  });

  it.each([
    // A metered write counts its quota first, then numbers and inserts the incident, then audits.
    ['after the quota count and the incident row, before its audit row', 'audit_log_events'],
    ['after the quota count and the numbering, before the incident row', 'incidents'],
  ])('when creates are interrupted mid-transaction (%s), none of their rows remain and numbering stays gapless', async (_when, table) => {
    const before = await writeLedger(stack.db, tenantId);
    const responses = await withTableLock(stack.db.name, [table], async () => {
      const pending = Promise.all([
        bot.post('/v1/incidents', newIncident('interrupted 1')),
        bot.post('/v1/incidents', newIncident('interrupted 2')),
        owner.post('/v1/incidents', newIncident('interrupted 3')),
      ]);
      // A transaction that has already written (it holds a transaction id) is blocked on the table
      // when the backends are cut off; the others wait behind its quota-counter row lock.
      const waiters = await waitForLockWaiters(stack.db.name, 1, 5000, (w) => w.in_transaction && w.has_written);
      expect(waiters.length).toBeGreaterThan(0);
      expect(await terminateAppBackends(stack.db.name)).toBeGreaterThan(0);
      return pending;
    });

    for (const res of responses) expect(isCleanUnavailable(res), `${res.status} ${res.text}`).toBe(true);
    expect(await writeLedger(stack.db, tenantId)).toEqual(before);
    const next = await bot.post('/v1/incidents', newIncident('after the interruption'));
    expect(next.status).toBe(201);
    expect((next.body as { number: number }).number).toBe(before.incidents.length + 1);
    await expectConsistentWrites();
  });
  it('leaks none of the passwords, tokens, session ids or CSRF tokens it issued into logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    report('postgres-faults secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
