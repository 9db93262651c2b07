import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../../../src/platform/db/postgres.js';
import { createLogger } from '../../../src/platform/log/logger.js';
import type { Cleanup } from './processes.js';
import { APP_APPLICATION_NAME, PG_ADMIN_URL, waitFor } from './env.js';

/** One statement as the superuser on the maintenance database (or `database` when given). */
export async function adminQuery<T extends pg.QueryResultRow = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  database?: string,
): Promise<T[]> {
  // Bounded, so a lock a failed test left behind cannot hang the next one.
  const client = new pg.Client({
    connectionString: database ? urlFor(database) : PG_ADMIN_URL,
    application_name: 'resilience-admin',
    statement_timeout: 15_000,
  });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export function urlFor(database: string, port?: number): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${database}`;
  if (port !== undefined) url.port = String(port);
  return url.toString();
}

export interface ScenarioDatabase {
  name: string;
  url: string;
}

/**
 * A fresh database for one scenario, migrated with the app's own migrator, dropped (with any
 * connection still open) at cleanup.
 */
export async function createScenarioDatabase(cleanup: Cleanup, label: string): Promise<ScenarioDatabase> {
  const name = `resilience_${label}_${randomBytes(4).toString('hex')}`;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad database label: ${label}`);
  await adminQuery(`CREATE DATABASE ${name}`);
  cleanup.add(`drop database ${name}`, () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = urlFor(name);
  const db = createPostgresDatabase({ url, poolMax: 1, statementTimeoutMs: 120_000, connectionTimeoutMs: 5000, preparedStatements: true, logger: createLogger('warn') });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  return { name, url };
}

/** Terminates every backend the app holds on `database`; returns how many were terminated. */
export async function terminateAppBackends(database: string): Promise<number> {
  const rows = await adminQuery<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = $2`,
    [database, APP_APPLICATION_NAME],
  );
  return rows[0]?.n ?? 0;
}

export interface AppBackend {
  pid: number;
  state: string | null;
  wait_event_type: string | null;
  in_transaction: boolean;
  /** A transaction id is only assigned once the transaction has written something. */
  has_written: boolean;
}

export async function appBackends(database: string): Promise<AppBackend[]> {
  return adminQuery<AppBackend>(
    `SELECT pid, state, wait_event_type, xact_start IS NOT NULL AS in_transaction, backend_xid IS NOT NULL AS has_written
       FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
    [database, APP_APPLICATION_NAME],
  );
}

/** Waits until at least `n` of the app's backends are blocked on a lock. */
export function waitForLockWaiters(
  database: string,
  n: number,
  timeoutMs = 5000,
  which: (b: AppBackend) => boolean = () => true,
): Promise<AppBackend[]> {
  return waitFor(
    `${n} app backend(s) waiting on a lock`,
    async () => {
      const waiting = (await appBackends(database)).filter((b) => b.wait_event_type === 'Lock' && which(b));
      return waiting.length >= n ? waiting : undefined;
    },
    timeoutMs,
    25,
  );
}

export interface TableLock {
  /** Idempotent: tests release at a chosen moment, `withTableLock` again in any case. */
  release(): Promise<void>;
}

/** Runs `fn` while holding the lock, and releases it however `fn` ends. */
export async function withTableLock<T>(database: string, tables: string[], fn: (lock: TableLock) => Promise<T>): Promise<T> {
  const lock = await lockTables(database, tables);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/**
 * Holds `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE` from a separate superuser connection until
 * released: every request that touches the tables blocks, which is how the suite makes a request
 * slow or a transaction stop half-way from outside the app.
 */
export async function lockTables(database: string, tables: string[]): Promise<TableLock> {
  const client = new pg.Client({ connectionString: urlFor(database), application_name: 'resilience-lock', lock_timeout: 10_000 });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    },
  };
}
