/**
 * Transaction-mode pooling, docs/security.md 34-35 and docs/architecture.md: the tenant-isolation checks
 * of test/tenancy/rls.test.ts, with the app's pool and the built server both connecting through
 * Debian's PgBouncer in transaction mode (two server connections shared by every client).
 * Tenant context, the app role and the timeouts are transaction-local, so nothing carries over
 * from one client's transaction to the next one a server connection runs.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../../src/platform/db/database.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import { withTenantTx } from '../../src/platform/db/tx.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { adminQuery, withTableLock } from './support/database.js';
import { report, waitFor } from './support/env.js';
import { isCleanUnavailable, type ApiKeyClient, type SessionClient } from './support/http.js';
import { startPgBouncer, type PgBouncer } from './support/pgbouncer.js';
import { Cleanup } from './support/processes.js';
import { createApiKey, newIncident, ownerWithTenant, scenarioQuery, signUp, startStack, type Stack } from './support/stack.js';

const STATEMENT_TIMEOUT_MS = 3000;
const NO_CONTEXT = { tenantId: null, userId: null };

interface World {
  tenantId: string;
  owner: SessionClient;
  bot: ApiKeyClient;
  members: string[];
  incidents: string[];
}

const cleanup = new Cleanup();
let stack: Stack;
let bouncer: PgBouncer;
let appPool: Database;
const worlds: World[] = [];

beforeAll(async () => {
  stack = await startStack(cleanup, 'pgbouncer', {
    databaseUrl: async (db) => {
      bouncer = await startPgBouncer(cleanup, db.name);
      return bouncer.url;
    },
    // More app connections than PgBouncer has server connections, so they are shared.
    env: { DATABASE_POOL_MAX: '6', DATABASE_PREPARED_STATEMENTS: 'false', DATABASE_CONNECTION_TIMEOUT_MS: '10000', DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) },
  });
  appPool = createPostgresDatabase({
    url: bouncer.url,
    poolMax: 4,
    statementTimeoutMs: 5000,
    connectionTimeoutMs: 5000,
    // PgBouncer 1.18 (Debian's) does not track prepared statements in transaction mode.
    preparedStatements: false,
    logger: createLogger('warn'),
  });
  cleanup.add('app pool through pgbouncer', () => appPool.close());
  for (const name of ['Pooled A', 'Pooled B']) {
    const { owner, tenantId } = await ownerWithTenant(stack.server.baseUrl, name);
    const members = [owner.user?.id ?? ''];
    for (let i = 0; i < 3; i++) {
      const member = await signUp(stack.server.baseUrl);
      await scenarioQuery(stack.db, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'member')`, [tenantId, member.user?.id]);
      members.push(member.user?.id ?? '');
    }
    const bot = await createApiKey(owner, tenantId);
    const incidents: string[] = [];
    for (let i = 0; i < 3; i++) incidents.push(((await bot.post('/v1/incidents', newIncident(`${name} ${i}`))).body as { id: string }).id);
    worlds.push({ tenantId, owner, bot, members: members.sort(), incidents: incidents.sort() });
  }
});
afterAll(() => cleanup.run());

function world(i: number): World {
  const w = worlds[i];
  if (!w) throw new Error('worlds not set up');
  return w;
}

async function tenantTables(tx: Queryable): Promise<string[]> {
  const { rows } = await tx.query<{ table_name: string }>(
    `SELECT c.relname AS table_name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      WHERE c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  return rows.map((r) => r.table_name);
}

/** Rows per tenant table whose tenant is not `tenantId` (or any tenant's, with no context). */
async function visibleOutside(tx: Queryable, tenantId: string | null): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of await tenantTables(tx)) {
    const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" WHERE tenant_id IS DISTINCT FROM $1::uuid`, [tenantId]);
    out[table] = rows[0]?.n ?? -1;
  }
  return out;
}

interface ServerSide {
  pid: number;
  role: string;
  tenant: string | null;
  memberships: number;
}

const SERVER_SIDE = `SELECT pg_backend_pid() AS pid, current_user AS role,
  NULLIF(current_setting('app.tenant_id', true), '') AS tenant, (SELECT count(*)::int FROM memberships) AS memberships`;

describe('tenant isolation through PgBouncer in transaction mode (docs/security.md 34, 35)', () => {
  it("through the app's pool, tenant A's context sees only A and no context sees nothing", async () => {
    const a = world(0);
    const leaks = await withTenantTx(appPool, { tenantId: a.tenantId, userId: null }, (tx) => visibleOutside(tx, a.tenantId));
    expect(Object.keys(leaks)).toEqual(expect.arrayContaining(['memberships', 'incidents', 'audit_log_events']));
    expect(Object.entries(leaks).filter(([, n]) => n !== 0)).toEqual([]);
    const own = await withTenantTx(appPool, { tenantId: a.tenantId, userId: null }, (tx) =>
      tx.query<{ user_id: string }>('SELECT user_id FROM memberships ORDER BY user_id'),
    );
    expect(own.rows.map((r) => r.user_id)).toEqual(a.members);
    const none = await appPool.withAppTx(NO_CONTEXT, (tx) => visibleOutside(tx, null));
    expect(Object.entries(none).filter(([, n]) => n !== 0)).toEqual([]);
  });

  it('after a tenant-A transaction, the next transaction on the same server connection without context sees nothing', async () => {
    const a = world(0);
    const first = await withTenantTx(appPool, { tenantId: a.tenantId, userId: null }, async (tx) => (await tx.query<ServerSide>(SERVER_SIDE)).rows[0]);
    expect(first).toMatchObject({ role: 'incident_app', tenant: a.tenantId, memberships: a.members.length });
    // PgBouncer hands out its two server connections as it likes: retry until one lands on A's.
    const after = await waitFor(
      "a no-context transaction on tenant A's server connection",
      async () => {
        const row = (await appPool.withAppTx(NO_CONTEXT, (tx) => tx.query<ServerSide>(SERVER_SIDE))).rows[0];
        return row?.pid === first?.pid ? row : undefined;
      },
      10_000,
      0,
    );
    expect(after).toEqual({ pid: first?.pid, role: 'incident_app', tenant: null, memberships: 0 });
    // Outside any app transaction the connection is back to the connecting role, with no tenant.
    const plain = new pg.Client({ connectionString: bouncer.url });
    await plain.connect();
    try {
      const seen = new Map<number, ServerSide>();
      await waitFor(
        'plain queries on both server connections',
        async () => {
          const row = (await plain.query<ServerSide>(SERVER_SIDE)).rows[0];
          if (row) seen.set(row.pid, row);
          return seen.has(first?.pid ?? -1) ? true : undefined;
        },
        10_000,
        0,
      );
      for (const row of seen.values()) expect(row).toMatchObject({ role: 'postgres', tenant: null });
    } finally {
      await plain.end();
    }
  });

  it('500 interleaved A/B requests through the server and PgBouncer never return the other tenant', async () => {
    let done = 0;
    const crossed: string[] = [];
    let maxServers = 0;
    for (let start = 0; start < 500; start += 20) {
      const batch = Array.from({ length: 20 }, async (_, i) => {
        const n = start + i;
        const w = world(n % 2);
        if ((n >> 1) % 2 === 0) {
          const res = await w.owner.get(`/v1/tenants/${w.tenantId}/members`);
          const ids = ((res.body as { data?: { user: { id: string } }[] }).data ?? []).map((m) => m.user.id).sort();
          if (res.status !== 200 || JSON.stringify(ids) !== JSON.stringify(w.members)) crossed.push(`members ${res.status} ${res.text}`);
        } else {
          const res = await w.bot.get('/v1/incidents');
          const ids = ((res.body as { data?: { id: string }[] }).data ?? []).map((x) => x.id).sort();
          if (res.status !== 200 || JSON.stringify(ids) !== JSON.stringify(w.incidents)) crossed.push(`incidents ${res.status} ${res.text}`);
        }
        done += 1;
      });
      const servers = adminQuery<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND application_name <> 'resilience-admin'`,
        [stack.db.name],
      );
      await Promise.all(batch);
      maxServers = Math.max(maxServers, (await servers)[0]?.n ?? 0);
    }
    expect(done).toBe(500);
    expect(crossed).toEqual([]);
    // The server's six pooled connections really were multiplexed onto PgBouncer's two.
    expect(maxServers).toBeGreaterThan(0);
    expect(maxServers).toBeLessThanOrEqual(2);
    report('pgbouncer interleaved', { requests: String(done), crossed: String(crossed.length), serverConnections: String(maxServers) });
  });

  it('a request blocked behind PgBouncer still gets 503 at statement_timeout, which is set per transaction', async () => {
    const res = await withTableLock(stack.db.name, ['incidents'], () => world(0).bot.get('/v1/incidents'));
    expect(isCleanUnavailable(res), `${res.status} ${res.text}`).toBe(true);
    expect(res.ms).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 100);
    expect(res.ms).toBeLessThan(STATEMENT_TIMEOUT_MS + 1500);
    expect((await world(0).bot.get('/v1/incidents')).status).toBe(200);
    report('pgbouncer statement timeout', { blocked503: res.ms });
  });
});
