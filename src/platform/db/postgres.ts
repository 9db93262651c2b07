import pg from 'pg';
import type { Logger } from 'pino';
import { appTxPreamble, type Database, type Queryable, type QueryResult, type TxOpened, type TxSettings } from './database.js';

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

/**
 * Timeouts set per transaction, not as startup parameters: a transaction-mode pooler (PgBouncer)
 * refuses unknown startup parameters, or drops them when told to ignore them, and a blocked
 * statement would then hold its connection with no limit.
 */
export function transactionTimeouts(statementTimeoutMs: number): string {
  return (
    `SET LOCAL statement_timeout = ${String(Math.trunc(statementTimeoutMs))}; ` +
    `SET LOCAL idle_in_transaction_session_timeout = ${String(Math.trunc(statementTimeoutMs * 2))}`
  );
}

export function createPostgresDatabase(opts: PostgresOptions): Database & { pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    connectionTimeoutMillis: opts.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'incident-tracker-api',
  });
  const timeouts = transactionTimeouts(opts.statementTimeoutMs);
  // An idle client losing its connection (server restart, pg_terminate_backend) must never take
  // the process down; the pool replaces the client on the next checkout.
  pool.on('error', (err) => {
    opts.logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle database client error');
  });

  /**
   * Checks a client out with `onError` already listening. The pool stops listening for a
   * client's errors when it hands the client out, and a connection that dies while checked out
   * (pg_terminate_backend, a restart) emits 'error' on the client: with no listener that crashes
   * the process. The callback form runs in the same tick as the hand-over; awaiting
   * `pool.connect()` would leave a gap in which the termination message, arriving in the same
   * read as the connection's first ReadyForQuery, finds no listener.
   */
  function checkout(onError: (err: Error) => void): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      pool.connect((err, client) => {
        if (err || !client) {
          reject(err ?? new Error('no client from the pool'));
          return;
        }
        client.on('error', onError);
        resolve(client);
      });
    });
  }

  async function run<T>(preamble: string, fn: (tx: Queryable, opened: TxOpened) => Promise<T>): Promise<T> {
    let broken = false;
    // The next query on a client that reported an error fails, so the request gets 503 and the
    // client is discarded instead of going back to the pool.
    const onError = (err: Error): void => {
      broken = true;
      opts.logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'database client error during a transaction');
    };
    const client = await checkout(onError);
    try {
      // A multi-statement simple query answers one result per statement (pg's types say one);
      // the lookup, when there is one, is the last.
      const opening = (await client.query(preamble)) as pg.QueryResult | pg.QueryResult[];
      const last: pg.QueryResult | undefined = Array.isArray(opening) ? opening[opening.length - 1] : opening;
      const lookupRows: Record<string, unknown>[] = (last?.rows ?? []) as Record<string, unknown>[];
      const result = await fn(wrap(client), { lookupRows });
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
      client.off('error', onError);
      client.release(broken);
    }
  }

  return {
    kind: 'postgres',
    pool,
    withAppTx: (settings: TxSettings, fn) => run(appTxPreamble(settings, `${timeouts}; `), fn),
    withSystemTx: (fn) => run(`BEGIN; ${timeouts}`, fn),
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}
