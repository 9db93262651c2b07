import pg from 'pg';
import type { Logger } from 'pino';
import { appTxPreamble, type Database, type Queryable, type QueryResult, type TxSettings } from './database.js';

// int8 (counts, sums) as JS numbers: every bigint this service stores fits in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export interface PostgresOptions {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  logger: Logger;
}

function wrap(client: pg.PoolClient | pg.Pool): Queryable {
  return {
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const res = await client.query(sql, params as unknown[] | undefined);
      return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
  };
}

export function createPostgresDatabase(opts: PostgresOptions): Database & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    connectionTimeoutMillis: opts.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs,
    idle_in_transaction_session_timeout: opts.statementTimeoutMs * 2,
    application_name: 'incident-tracker-api',
  });
  // An idle client losing its connection (server restart, pg_terminate_backend) must never take
  // the process down; the pool replaces the client on the next checkout.
  pool.on('error', (err) => {
    opts.logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle database client error');
  });

  async function run<T>(preamble: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(preamble);
      const result = await fn(wrap(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  return {
    kind: 'postgres',
    pool,
    withAppTx: (settings: TxSettings, fn) => run(appTxPreamble(settings), fn),
    withSystemTx: (fn) => run('BEGIN', fn),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}
