import pg from 'pg';
import type { Logger } from 'pino';
import {
  appTxPreamble,
  openTransaction,
  timeoutSettings,
  type Database,
  type Queryable,
  type QueryResult,
  type TxControl,
  type TxLookup,
  type TxOpened,
  type TxRouting,
  type TxSettings,
} from './database.js';
import { observePool, traced, traceTransaction, type DbTarget, type StatementTrace } from '../telemetry/database.js';
import { redactSqlLiterals } from '../telemetry/tracing.js';
import { createStatementNames, DEFAULT_MAX_NAMED_STATEMENTS, type StatementNames } from './statement-names.js';
import { listenOnDedicatedClient } from './pg-listener.js';
import { parseTimestamptz } from './timestamps.js';
import { createPool, databaseHosts, type HostTarget } from './hosts.js';
import { ReadReplicas, ReplicaBehind, type ReadReplica, type TxGate } from './replicas.js';

const defaultTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date | number | null;
const textParsers = new Map<number, (text: string) => unknown>([
  // int8 (counts, sums) as JS numbers: every bigint this service stores fits in 2^53.
  [pg.types.builtins.INT8, (v) => Number.parseInt(v, 10)],
  // timestamptz through a fixed-layout parser (see timestamps.ts); pg's own for anything unusual.
  [pg.types.builtins.TIMESTAMPTZ, (v) => parseTimestamptz(v, defaultTimestamptz)],
]);

/** The pool's type parsers: set per pool, so other pg clients in the process keep pg's defaults. */
export const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown => {
    const own = format === 'binary' ? undefined : textParsers.get(oid);
    return own ?? (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresOptions {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  /** Named prepared statements; off behind a pooler that does not track them (PgBouncer < 1.21). */
  preparedStatements: boolean;
  /** Distinct statement texts named per pool (see statement-names.ts); default 1000. */
  maxNamedStatements?: number;
  /** DATABASE_READ_HOSTS: standbys for read-only transactions (read-your-writes; see replicas.ts). */
  readHosts?: HostTarget[] | null;
  logger: Logger;
}

/**
 * After COMMIT, on the same connection and in the same round trip: the WAL insert position, which
 * is at or past the end of the commit record just written (`pg_current_wal_lsn()`, the write
 * position, may still be short of it under `synchronous_commit = off`).
 */
const COMMIT_POSITION_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn';

interface TxSource {
  pool: pg.Pool;
  target: DbTarget;
}

/** A replica read's gate before the transaction; a write's commit-position capture after it. */
interface TxExtras {
  gate: TxGate | null;
  capture: ((lsn: string) => void) | null;
}

const NO_EXTRAS: TxExtras = { gate: null, capture: null };

function toResult<T>(res: pg.QueryResult): QueryResult<T> {
  return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
}

interface CorkableStream {
  cork(): void;
  uncork(): void;
}

/** The client's socket (a node-postgres internal, hence the narrow structural read). */
function socketOf(client: pg.PoolClient): CorkableStream | null {
  const stream = (client as unknown as { connection?: { stream?: Partial<CorkableStream> } }).connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? (stream as CorkableStream) : null;
}

/**
 * A transaction on a pipelining client. Statements issued in the same tick are corked into one
 * write (node-postgres writes each on its own otherwise).
 */
function pipelinedTransaction(client: pg.PoolClient, names: StatementNames | null, statementTrace: StatementTrace | null): TxControl {
  const socket = socketOf(client);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket?.uncork();
  };
  return openTransaction(
    async <T>(sql: string, params?: readonly unknown[]) => {
      if (socket && !corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      const values = params as unknown[] | undefined;
      const name = names !== null && values !== undefined && values.length > 0 ? names.nameOf(sql) : undefined;
      const res = await traced(statementTrace, sql, () => (name === undefined || values === undefined ? client.query(sql, values) : client.query({ name, text: sql, values })));
      return toResult<T>(res);
    },
    async (sql: string) => {
      await traced(statementTrace, sql, () => client.query(sql));
    },
  );
}

/** The database name and server of a connection string, for statement spans. */
function dbTarget(url: string): DbTarget {
  try {
    const u = new URL(url);
    const port = u.port === '' ? 5432 : Number(u.port);
    return { prefix: 'pg', namespace: decodeURIComponent(u.pathname.slice(1)) || undefined, serverAddress: u.hostname || undefined, serverPort: port };
  } catch {
    return { prefix: 'pg', namespace: undefined };
  }
}

export function createPostgresDatabase(opts: PostgresOptions): Database & { pool: pg.Pool; statementNames: StatementNames | null } {
  const target = dbTarget(databaseHosts(opts.url)?.[0]?.url ?? opts.url);
  // Per pool: two pools (two apps in one process, tests) must not share one budget.
  const statementNames = opts.preparedStatements
    ? createStatementNames(opts.maxNamedStatements ?? DEFAULT_MAX_NAMED_STATEMENTS, ({ named, sql }) => {
        opts.logger.warn(
          { named, statement: redactSqlLiterals(sql).slice(0, 200) },
          'prepared statement names exhausted: new statement texts now run unnamed (a statement text is probably built from input)',
        );
      })
    : null;
  const poolConfig: pg.PoolConfig = {
    max: opts.poolMax,
    connectionTimeoutMillis: opts.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'incident-tracker-api',
    types: typeParsers,
    // Each statement keeps its own Sync, so a failure fails only the statements behind it.
    pipeline: true,
  };
  const pool = createPool(opts.url, poolConfig, opts.logger);
  // An idle client losing its connection must not take the process down.
  pool.on('error', (err) => {
    opts.logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle database client error');
  });

  /**
   * Checks a client out with `onError` already listening: a checked-out client's 'error' with no
   * listener crashes the process. The callback form runs in the same tick as the hand-over;
   * awaiting `pool.connect()` leaves a gap in which a termination message, arriving in the same
   * read as the first ReadyForQuery, finds no listener.
   */
  function checkout(from: pg.Pool, onError: (err: Error) => void): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      from.connect((err, client) => {
        if (err || !client) {
          reject(err ?? new Error('no client from the pool'));
          return;
        }
        client.on('error', onError);
        resolve(client);
      });
    });
  }

  // Span texts: literals redacted once, one text per kind of transaction.
  const appPreambleText = redactSqlLiterals(appTxPreamble({ tenantId: null, userId: null }, opts.statementTimeoutMs));
  const systemPreamble = `BEGIN; SELECT ${timeoutSettings(opts.statementTimeoutMs)}`;
  const systemPreambleText = redactSqlLiterals(systemPreamble);

  const primary: TxSource = { pool, target };

  async function run<T>(
    preamble: string,
    preambleText: string,
    lookups: readonly TxLookup[],
    fn: (tx: Queryable, opened: TxOpened) => Promise<T>,
    source: TxSource = primary,
    extras: TxExtras = NO_EXTRAS,
  ): Promise<T> {
    // A client that reported an error is discarded on release, not pooled.
    let broken = false;
    const onError = (err: Error): void => {
      broken = true;
      opts.logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'database client error during a transaction');
    };
    const statementTrace = traceTransaction(source.target);
    const client = await checkout(source.pool, onError);
    const control = pipelinedTransaction(client, statementNames, statementTrace);
    try {
      // One round trip: the gate's first check, the preamble, the lookups (run as the role the
      // preamble set).
      const gate = extras.gate?.(client) ?? null;
      // Corked, so that the preamble and the lookups leave in one write, not two.
      const socket = socketOf(client);
      if (socket) {
        socket.cork();
        process.nextTick(() => {
          socket.uncork();
        });
      }
      const opening = traced(statementTrace, preambleText, () => client.query(preamble));
      const found = Promise.all(lookups.map((l) => control.tx.query(l.sql, l.params)));
      found.catch(() => undefined);
      if (gate !== null) {
        opening.catch(() => undefined);
        if (!(await gate)) throw new ReplicaBehind();
      }
      await opening;
      const result = await fn(control.tx, { lookups: (await found).map((r) => r.rows), standby: source !== primary });
      // COMMIT leaves behind whatever is still in flight; after a failed statement it is answered
      // as a rollback, and close() reports the statement's error.
      const settled = control.close();
      const commit = traced(statementTrace, 'COMMIT', () => client.query('COMMIT'));
      commit.catch(() => undefined);
      // The runner's own statement, behind COMMIT in the same write.
      const position = extras.capture === null ? null : client.query<{ lsn: string }>(COMMIT_POSITION_SQL);
      position?.catch(() => undefined);
      await settled;
      const committed = await commit;
      if (committed.command !== 'COMMIT') throw new Error(`COMMIT answered ${committed.command}`);
      // A lost answer is no failed write: the caller just keeps its older position.
      const lsn = position === null ? undefined : (await position.catch(() => null))?.rows[0]?.lsn;
      if (lsn !== undefined) extras.capture?.(lsn);
      control.committed();
      return result;
    } catch (err) {
      // Nothing left in flight at ROLLBACK; the handler's error is what the request reports.
      await control.close().catch(() => undefined);
      try {
        await traced(statementTrace, 'ROLLBACK', () => client.query('ROLLBACK'));
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  const stopObservingPool = observePool(pool, target.namespace ?? 'postgres');
  const listeners = new Set<() => Promise<void>>();
  const replicas = opts.readHosts?.length ? new ReadReplicas(opts.readHosts, poolConfig, opts.logger) : null;
  const readOnlyPreambleText = appPreambleText.replace(/^BEGIN;/, 'BEGIN READ ONLY;');

  /** With standbys and routing: a write learns its commit position; a read goes to a caught-up standby. */
  function withAppTx<T>(settings: TxSettings, fn: (tx: Queryable, opened: TxOpened) => Promise<T>, routing?: TxRouting): Promise<T> {
    const preamble = appTxPreamble(settings, opts.statementTimeoutMs);
    const lookups = settings.lookups ?? [];
    if (replicas === null || routing === undefined) return run(preamble, appPreambleText, lookups, fn);
    const { position } = routing;
    if (!routing.readOnly) return run(preamble, appPreambleText, lookups, fn, primary, { gate: null, capture: (lsn) => { position.advance(lsn); } });
    const readOnly = preamble.replace(/^BEGIN;/, 'BEGIN READ ONLY;');
    return replicas.read(
      position,
      (replica: ReadReplica, gate) => run(readOnly, readOnlyPreambleText, lookups, fn, replica, { gate, capture: null }),
      () => run(preamble, appPreambleText, lookups, fn),
    );
  }

  return {
    kind: 'postgres',
    pool,
    statementNames,
    replicaReads: replicas !== null,
    withAppTx,
    withSystemTx: (fn) => run(systemPreamble, systemPreambleText, [], fn),
    async listen(channel, onNotify, onReconnect) {
      const stop = await listenOnDedicatedClient(opts.url, channel, onNotify, onReconnect, opts.logger);
      const unlisten = async (): Promise<void> => {
        listeners.delete(unlisten);
        await stop();
      };
      listeners.add(unlisten);
      return unlisten;
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      stopObservingPool();
      await Promise.all([...listeners].map((unlisten) => unlisten()));
      await Promise.all([pool.end(), replicas?.close()]);
    },
  };
}
