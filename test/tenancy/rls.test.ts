/**
 * Tenant isolation in the database itself (docs/security.md 33-35), checked through the app's own
 * connection and role: every query here runs inside `withAppTx`/`withTenantTx`, the same path a
 * request takes, so nothing is filtered by the application.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/platform/db/database.js';
import { withTenantTx } from '../../src/platform/db/tx.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { onPostgres } from '../support/backend.js';
import { addMember, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { inviteWithToken, MANY_USERS_ENV, userId } from './support.js';

let t: TestApp;
let tenantA: string;
let tenantB: string;

const NO_CONTEXT = { tenantId: null, userId: null };

class Rollback extends Error {}

/** Runs `fn` in a tenant transaction and rolls it back, so probing writes leave no trace. */
async function probe<T>(tenantId: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  let out: T | undefined;
  await withTenantTx(t.db, { tenantId, userId: null }, async (tx) => {
    out = await fn(tx);
    throw new Rollback();
  }).catch((err: unknown) => {
    if (!(err instanceof Rollback)) throw err;
  });
  return out as T;
}

async function sqlError(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('the statement succeeded');
}

/** Tables with a tenant_id column, and whether RLS is enabled and forced on each. */
async function tenantTablesRls(tx: Queryable) {
  const { rows } = await tx.query<{ table_name: string; enabled: boolean; forced: boolean }>(
    `SELECT c.relname AS table_name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
       JOIN pg_attribute att ON att.attrelid = c.oid AND att.attname = 'tenant_id' AND NOT att.attisdropped
      WHERE c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  return rows;
}

beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
  const a = await ownerWithTenant(t, 'RLS A');
  const b = await ownerWithTenant(t, 'RLS B');
  tenantA = a.tenantId;
  tenantB = b.tenantId;
  for (const w of [a, b]) {
    await addMember(t, w.tenantId, 'member');
    await inviteWithToken(t, w.owner, w.tenantId, `rls-${randomUUID().slice(0, 8)}@example.test`);
  }
});
afterAll(async () => {
  await t.close();
});

describe('catalog (docs/security.md 33)', () => {
  it('every table with tenant_id has row-level security enabled and forced', async () => {
    const rows = await t.db.withAppTx(NO_CONTEXT, tenantTablesRls);
    expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['memberships', 'invites', 'audit_log_events']));
    expect(rows.filter((r) => !r.enabled || !r.forced)).toEqual([]);
  });

  it('the check flags a tenant table without forced RLS', async () => {
    const name = `rls_probe_${randomUUID().replace(/-/g, '')}`;
    const rows = await t.db
      .withSystemTx(async (tx) => {
        await tx.exec(`CREATE TABLE ${name} (tenant_id uuid NOT NULL); ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY;`);
        const found = await tenantTablesRls(tx);
        throw Object.assign(new Rollback(), { found });
      })
      .catch((err: unknown) => (err as { found: Awaited<ReturnType<typeof tenantTablesRls>> }).found);
    expect(rows.filter((r) => !r.enabled || !r.forced).map((r) => r.table_name)).toEqual([name]);
  });

  it('requests run as a role that is not superuser, cannot bypass RLS and owns no table', async () => {
    const { rows } = await withTenantTx(t.db, { tenantId: tenantA, userId: null }, (tx) =>
      tx.query<{ role: string; rolsuper: boolean; rolbypassrls: boolean; owned: number }>(
        `SELECT current_user AS role, r.rolsuper, r.rolbypassrls,
                (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) AS owned
           FROM pg_roles r WHERE r.rolname = current_user`,
      ),
    );
    expect(rows).toEqual([{ role: 'incident_app', rolsuper: false, rolbypassrls: false, owned: 0 }]);
  });

  it('no view or SECURITY DEFINER function in the schema can read around the policies (docs/security.md 37)', async () => {
    const { rows } = await t.db.withAppTx(NO_CONTEXT, (tx) =>
      tx.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
         UNION ALL
         SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.prosecdef`,
      ),
    );
    expect(rows).toEqual([]);
  });
});

describe('policies hold when a query forgets WHERE tenant_id (docs/security.md 34)', () => {
  it('both tenants have rows, as the system role sees them', async () => {
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ tenant_id: string; n: number }>(
        'SELECT tenant_id, count(*)::int AS n FROM memberships WHERE tenant_id = ANY($1::uuid[]) GROUP BY 1 ORDER BY 1',
        [[tenantA, tenantB]],
      ),
    );
    expect(rows.map((r) => r.n)).toEqual([2, 2]);
  });

  it("with tenant A's context an unfiltered SELECT of every tenant table sees only A", async () => {
    const leaks = await probe(tenantA, async (tx) => {
      const out: Record<string, number> = {};
      for (const { table_name } of await tenantTablesRls(tx)) {
        const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table_name}" WHERE tenant_id IS DISTINCT FROM $1`, [tenantA]);
        out[table_name] = rows[0]?.n ?? -1;
      }
      return out;
    });
    expect(Object.values(leaks).every((n) => n === 0)).toBe(true);
    const seen = await probe(tenantA, (tx) => tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM memberships'));
    expect(seen.rows).toEqual([{ tenant_id: tenantA }]);
    const tenants = await probe(tenantA, (tx) => tx.query<{ id: string }>('SELECT id FROM tenants'));
    expect(tenants.rows).toEqual([{ id: tenantA }]);
  });

  it("with tenant A's context an unfiltered UPDATE touches only A", async () => {
    const updated = await probe(tenantA, (tx) => tx.query<{ tenant_id: string }>('UPDATE invites SET role = role RETURNING tenant_id'));
    expect(updated.rows).toEqual([{ tenant_id: tenantA }]);
    const renamed = await probe(tenantA, (tx) => tx.query<{ id: string }>("UPDATE tenants SET name = name || '!' RETURNING id"));
    expect(renamed.rows).toEqual([{ id: tenantA }]);
  });

  it("with tenant A's context, writing B's rows is refused or touches nothing", async () => {
    const insert = await sqlError(
      probe(tenantA, (tx) =>
        tx.query("INSERT INTO invites (tenant_id, email, role, token_hash, expires_at) VALUES ($1, 'x@example.test', 'member', 'h', now())", [tenantB]),
      ),
    );
    expect(insert.code).toBe('42501');
    expect(insert.message).toMatch(/row-level security/);

    const move = await sqlError(probe(tenantA, (tx) => tx.query('UPDATE invites SET tenant_id = $1', [tenantB])));
    expect(move.code).toBe('42501');
    expect(move.message).toMatch(/row-level security/);

    const direct = await probe(tenantA, (tx) => tx.query("UPDATE memberships SET role = 'viewer' WHERE tenant_id = $1 RETURNING 1", [tenantB]));
    expect(direct.rows).toEqual([]);
    const deleted = await probe(tenantA, (tx) => tx.query('DELETE FROM memberships WHERE tenant_id = $1 RETURNING 1', [tenantB]));
    expect(deleted.rows).toEqual([]);
  });

  it('with no tenant context nothing of any tenant is visible', async () => {
    const counts = await t.db.withAppTx(NO_CONTEXT, async (tx) => {
      const out: Record<string, number> = {};
      for (const { table_name } of await tenantTablesRls(tx)) {
        const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table_name}" WHERE tenant_id IS NOT NULL`);
        out[table_name] = rows[0]?.n ?? -1;
      }
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
      out.tenants = rows[0]?.n ?? -1;
      return out;
    });
    expect(Object.keys(counts)).toContain('memberships');
    expect(Object.entries(counts).filter(([, n]) => n !== 0)).toEqual([]);
  });
});

describe('context is transaction-local (docs/security.md 35)', () => {
  it('after a request as tenant A on a pool of one connection, a query without context sees nothing', async () => {
    const one = await createTestApp({ env: MANY_USERS_ENV, poolMax: 1 });
    try {
      const { owner, tenantId } = await ownerWithTenant(one, 'Pool of one');
      const res = await owner.get(`/v1/tenants/${tenantId}/members`).expect(200);
      expect((res.body as { data: unknown[] }).data).toHaveLength(1);
      const { rows } = await one.db.withAppTx(NO_CONTEXT, (tx) =>
        tx.query<{ n: number; tenant: string | null; usr: string | null }>(
          `SELECT (SELECT count(*)::int FROM memberships) AS n,
                  NULLIF(current_setting('app.tenant_id', true), '') AS tenant,
                  NULLIF(current_setting('app.user_id', true), '') AS usr`,
        ),
      );
      expect(rows).toEqual([{ n: 0, tenant: null, usr: null }]);
      const after = await one.db.withSystemTx((tx) =>
        tx.query<{ role: string; tenant: string | null }>("SELECT current_user AS role, NULLIF(current_setting('app.tenant_id', true), '') AS tenant"),
      );
      expect(after.rows[0]?.role).not.toBe('incident_app');
      expect(after.rows[0]?.tenant).toBeNull();
    } finally {
      await one.close();
    }
  });

  it('500 interleaved requests of two tenants over a pool of two never return the other tenant', async () => {
    const two = await createTestApp({ env: MANY_USERS_ENV, poolMax: 2 });
    try {
      const worlds: { owner: SessionClient; tenantId: string; members: string[] }[] = [];
      for (const name of ['Interleaved A', 'Interleaved B']) {
        const { owner, tenantId } = await ownerWithTenant(two, name);
        const members = [userId(owner)];
        for (let i = 0; i < 3; i++) members.push(userId(await addMember(two, tenantId, 'member')));
        worlds.push({ owner, tenantId, members: members.sort() });
      }
      const batch = onPostgres ? 20 : 10;
      let crossed = 0;
      let done = 0;
      for (let start = 0; start < 500; start += batch) {
        const results = await Promise.all(
          Array.from({ length: batch }, async (_, i) => {
            const w = worlds[(start + i) % 2] as { owner: SessionClient; tenantId: string; members: string[] };
            const res = await w.owner.get(`/v1/tenants/${w.tenantId}/members`);
            const ids = ((res.body as { data?: { user: { id: string } }[] }).data ?? []).map((m) => m.user.id).sort();
            return res.status === 200 && JSON.stringify(ids) === JSON.stringify(w.members);
          }),
        );
        done += results.length;
        crossed += results.filter((ok) => !ok).length;
      }
      expect(done).toBe(500);
      expect(crossed).toBe(0);
    } finally {
      await two.close();
    }
  }, 180_000);
});
