import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, MigrationError } from '../../src/platform/db/migrator.js';
import { createPgliteDatabase } from '../../src/platform/db/pglite.js';
import { withTenantTx } from '../../src/platform/db/tx.js';
import { createTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

describe('database layer', () => {
  it('runs request transactions as a role that is neither superuser nor BYPASSRLS', async () => {
    const { rows } = await withTenantTx(t.db, { tenantId: '00000000-0000-4000-8000-000000000001', userId: null }, (tx) =>
      tx.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
        'SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user',
      ),
    );
    expect(rows).toEqual([{ current_user: 'incident_app', rolsuper: false, rolbypassrls: false }]);
  });

  it('keeps tenant settings transaction-local', async () => {
    await withTenantTx(t.db, { tenantId: '00000000-0000-4000-8000-000000000001', userId: null }, (tx) => tx.query('SELECT 1'));
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ tenant: string | null }>("SELECT NULLIF(current_setting('app.tenant_id', true), '') AS tenant"),
    );
    expect(rows[0]?.tenant ?? null).toBeNull();
  });

  it('migrating twice is a no-op', async () => {
    const again = await migrate(t.db);
    expect(again.applied).toEqual([]);
  });

  it('refuses to run when an applied migration has been edited', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const db = await createPgliteDatabase({ dataDir: null, statementTimeoutMs: 30_000 });
    try {
      await migrate(db, dir);
      const file = path.join(dir, '0003_tenancy.sql');
      await writeFile(file, `${await readFile(file, 'utf8')}\n-- edited after it was applied\n`);
      await expect(migrate(db, dir)).rejects.toThrow(MigrationError);
      await expect(migrate(db, dir)).rejects.toThrow(/0003_tenancy.*edited/);
    } finally {
      await db.close();
    }
  });
});
