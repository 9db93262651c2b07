import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, MigrationError } from '../../src/platform/db/migrator.js';
import { mapDatabaseError } from '../../src/platform/db/pg-errors.js';
import { createPgliteDatabase } from '../../src/platform/db/pglite.js';
import { TxClosedError, type Queryable } from '../../src/platform/db/database.js';
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

  // The backstop behind validation (which refuses these first): what each backend really raises.
  it.each([
    ['a NUL byte in text', 'SELECT $1::text AS v', 'a\u0000b'],
    ['a \\u0000 escape in JSON read out as text', "SELECT ($1::jsonb)->>'a' AS v", '{"a":"x\\u0000"}'],
    ['a lone surrogate escape in JSON', 'SELECT $1::jsonb AS v', '{"a":"x\\ud800"}'],
    ['a number out of range', 'SELECT $1::int AS v', '99999999999'],
  ])('when the database refuses %s, then the error maps to 400 VALIDATION_FAILED', async (_label, sql, value) => {
    const err: unknown = await t.db.withSystemTx((tx) => tx.query(sql, [value])).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, 'the database accepted it').not.toBeNull();
    expect((err as { code?: string }).code).toMatch(/^22/);
    expect(mapDatabaseError(err)?.code).toBe('VALIDATION_FAILED');
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

describe('pipelined statements in a transaction', () => {
  const insertUser = 'INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)';
  const countUsers = 'SELECT count(*)::int AS n FROM users WHERE email = ANY($1)';

  async function usersNamed(emails: string[]): Promise<number> {
    const { rows } = await t.db.withSystemTx((tx) => tx.query<{ n: number }>(countUsers, [emails]));
    return rows[0]?.n ?? -1;
  }

  it('when a statement left unawaited fails, then the transaction fails with its error and nothing commits', async () => {
    const tag = `pipe-${String(Date.now())}`;
    const emails = [`${tag}-a@example.test`, `${tag}-b@example.test`];
    const attempt = t.db.withSystemTx(async (tx) => {
      await tx.query(insertUser, [emails[0], 'A', 'x']);
      // Never awaited: a duplicate email, so it fails after the first insert succeeded.
      void tx.query(insertUser, [emails[0], 'A again', 'x']);
      void tx.query(insertUser, [emails[1], 'B', 'x']);
      return 'handler finished';
    });
    await expect(attempt).rejects.toMatchObject({ code: '23505' });
    expect(await usersNamed(emails)).toBe(0);
  });

  it('when a statement behind a failed one is awaited, then the caller gets the first failure, not "transaction aborted"', async () => {
    const tag = `pipe2-${String(Date.now())}`;
    const email = `${tag}@example.test`;
    const attempt = t.db.withSystemTx(async (tx) => {
      await tx.query(insertUser, [email, 'A', 'x']);
      void tx.query(insertUser, [email, 'duplicate', 'x']);
      return tx.query('SELECT 1 AS one');
    });
    await expect(attempt).rejects.toMatchObject({ code: '23505' });
    expect(await usersNamed([email])).toBe(0);
  });

  it('when statements are issued together and all succeed, then they run in the order issued and commit together', async () => {
    const tag = `pipe3-${String(Date.now())}`;
    const email = `${tag}@example.test`;
    const seen = await t.db.withSystemTx(async (tx) => {
      const [, , read] = await Promise.all([
        tx.query(insertUser, [email, 'first', 'x']),
        tx.query('UPDATE users SET name = $2 WHERE email = $1', [email, 'second']),
        tx.query<{ name: string }>('SELECT name FROM users WHERE email = $1', [email]),
      ]);
      return read.rows[0]?.name;
    });
    expect(seen).toBe('second');
    expect(await usersNamed([email])).toBe(1);
  });

  it.each([
    ['committed', (): string => 'committed'],
    [
      'rolled back',
      (): string => {
        throw new Error('handler failed');
      },
    ],
  ])('when a statement is issued on a transaction that %s, then it is refused and never reaches the database', async (_label, finish) => {
    const email = `late-${String(Date.now())}-${_label.length}@example.test`;
    let kept: Queryable | undefined;
    await t.db
      .withAppTx({ tenantId: null, userId: null }, async (tx) => {
        kept = tx;
        await tx.query('SELECT 1');
        return finish();
      })
      .catch(() => undefined);
    if (kept === undefined) throw new Error('the transaction never ran');
    // As a `.then` on an earlier statement would: after the runner started to commit or roll back.
    await expect(kept.query(insertUser, [email, 'late', 'x'])).rejects.toBeInstanceOf(TxClosedError);
    await expect(kept.exec(`INSERT INTO users (email, name, password_hash) VALUES ('${email}', 'late', 'x')`)).rejects.toBeInstanceOf(TxClosedError);
    expect(await usersNamed([email])).toBe(0);
  });

  it('when a continuation issues a statement while the runner commits, then it is refused and the commit is not held back', async () => {
    const email = `continuation-${String(Date.now())}@example.test`;
    let late: Promise<unknown> | undefined;
    const committed = await t.db.withSystemTx(async (tx) => {
      // The runner closes the transaction as soon as the handler returns, before this answer.
      late = tx.query('SELECT pg_sleep(0)').then(() => tx.query(insertUser, [email, 'late', 'x']));
      return Promise.resolve('returned');
    });
    expect(committed).toBe('returned');
    await expect(late).rejects.toBeInstanceOf(TxClosedError);
    expect(await usersNamed([email])).toBe(0);
  });
});
