/**
 * docs/architecture.md "Scaling" (Citus rules), checked against the catalog: on every
 * table with tenant_id, each primary key, unique constraint, unique index and foreign key includes
 * tenant_id, and a foreign key to another tenant table maps tenant_id to tenant_id. Two kinds of
 * foreign key are allowed besides: to `users` (a small global reference table) and from tenant_id
 * to `tenants(id)` (the distribution root, co-located by the tenant id itself).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/platform/db/database.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * audit_log_events: tenant_id is NULL for account-level events (signup, login, password reset),
 * which form their own hash chain, so its primary key is (id) and its per-chain sequence is split
 * into a (tenant_id, seq) unique index for tenant rows and a (seq) one for the account chain. Under
 * Citus it stays a non-distributed table (or the account chain moves to its own table).
 */
const EXEMPT: Record<string, string> = {
  audit_log_events: 'tenant_id is nullable for account-level events; see migrations/0002',
};

/** `users` is a small global table Citus replicates to every node (a reference table). */
const REFERENCE_TABLES = new Set(['users']);

interface Violation {
  table: string;
  name: string;
  kind: string;
}

async function citusViolations(tx: Queryable): Promise<Violation[]> {
  const { rows: keys } = await tx.query<{
    table: string;
    name: string;
    kind: string;
    includes_tenant: boolean;
    ref_table: string | null;
    ref_is_tenant_table: boolean;
    maps_tenant_to_tenant: boolean;
  }>(
    `WITH tenant_tables AS (
       SELECT c.oid, c.relname, att.attnum AS tenant_att FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         JOIN pg_attribute att ON att.attrelid = c.oid AND att.attname = 'tenant_id' AND NOT att.attisdropped
        WHERE c.relkind IN ('r', 'p'))
     SELECT t.relname AS table, con.conname AS name,
            CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' ELSE 'foreign key' END AS kind,
            t.tenant_att = ANY (con.conkey) AS includes_tenant,
            rc.relname AS ref_table,
            rt.oid IS NOT NULL AS ref_is_tenant_table,
            COALESCE(rt.tenant_att = con.confkey[array_position(con.conkey, t.tenant_att)], false) AS maps_tenant_to_tenant
       FROM pg_constraint con
       JOIN tenant_tables t ON t.oid = con.conrelid
       LEFT JOIN pg_class rc ON rc.oid = con.confrelid
       LEFT JOIN tenant_tables rt ON rt.oid = con.confrelid
      WHERE con.contype IN ('p', 'u', 'f')
     UNION ALL
     SELECT t.relname, ic.relname, 'unique index', t.tenant_att = ANY (i.indkey::int2[]), NULL, false, false
       FROM pg_index i
       JOIN tenant_tables t ON t.oid = i.indrelid
       JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indisunique AND NOT EXISTS (SELECT 1 FROM pg_constraint c2 WHERE c2.conindid = i.indexrelid)`,
  );
  return keys
    .filter((k) => {
      if (k.kind !== 'foreign key') return !k.includes_tenant;
      if (k.ref_table !== null && REFERENCE_TABLES.has(k.ref_table)) return false;
      // tenants is the distribution root: only its tenant_id may point at it (co-located join).
      if (k.ref_table === 'tenants') return !k.includes_tenant;
      return !(k.ref_is_tenant_table && k.includes_tenant && k.maps_tenant_to_tenant);
    })
    .map((k) => ({ table: k.table, name: k.name, kind: k.kind }));
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('Citus rules on tenant tables', () => {
  it('every primary key, unique constraint, unique index and foreign key between tenant tables includes tenant_id', async () => {
    const violations = await t.db.withAppTx({ tenantId: null, userId: null }, citusViolations);
    expect(violations.filter((v) => !(v.table in EXEMPT))).toEqual([]);
  });

  it('the exemption is still needed (remove it once audit_log_events follows the rules)', async () => {
    const violations = await t.db.withAppTx({ tenantId: null, userId: null }, citusViolations);
    expect([...new Set(violations.filter((v) => v.table in EXEMPT).map((v) => v.table))]).toEqual(Object.keys(EXEMPT));
  });

  it('the check flags keys and references that leave tenant_id out', async () => {
    const suffix = randomUUID().replace(/-/g, '').slice(0, 12);
    const found = await t.db
      .withSystemTx(async (tx) => {
        await tx.exec(`
          CREATE TABLE probe_parent_${suffix} (tenant_id uuid NOT NULL, id uuid NOT NULL, code text,
            CONSTRAINT probe_parent_${suffix}_pkey PRIMARY KEY (id),
            CONSTRAINT probe_parent_${suffix}_code_key UNIQUE (code),
            CONSTRAINT probe_parent_${suffix}_tid_key UNIQUE (tenant_id, id));
          CREATE TABLE probe_child_${suffix} (tenant_id uuid NOT NULL, id uuid NOT NULL, parent_id uuid, other_tenant uuid,
            CONSTRAINT probe_child_${suffix}_pkey PRIMARY KEY (tenant_id, id),
            CONSTRAINT probe_child_${suffix}_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
            CONSTRAINT probe_child_${suffix}_other_fkey FOREIGN KEY (other_tenant) REFERENCES tenants (id),
            CONSTRAINT probe_child_${suffix}_parent_fkey FOREIGN KEY (parent_id) REFERENCES probe_parent_${suffix} (id),
            CONSTRAINT probe_child_${suffix}_crossed_fkey FOREIGN KEY (tenant_id, parent_id) REFERENCES probe_parent_${suffix} (id, tenant_id));
          CREATE UNIQUE INDEX probe_child_${suffix}_parent_idx ON probe_child_${suffix} (parent_id);`);
        const v = await citusViolations(tx);
        throw Object.assign(new Error('rollback'), { v });
      })
      .catch((err: unknown) => (err as { v: Violation[] }).v);
    expect(found.filter((v) => v.table.startsWith('probe_')).map((v) => v.name).sort()).toEqual(
      [
        `probe_child_${suffix}_crossed_fkey`,
        `probe_child_${suffix}_other_fkey`,
        `probe_child_${suffix}_parent_fkey`,
        `probe_child_${suffix}_parent_idx`,
        `probe_parent_${suffix}_code_key`,
        `probe_parent_${suffix}_pkey`,
      ].sort(),
    );
  });
});
