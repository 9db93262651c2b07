import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { traced, traceTransaction, type DbTarget, type StatementTrace } from '../telemetry/database.js';
import { redactSqlLiterals } from '../telemetry/tracing.js';
import { appTxPreamble, assertChannelName, openTransaction, type Database, type Queryable, type QueryResult, type TxControl, type TxLookup, type TxOpened, type TxSettings } from './database.js';

export interface PgliteOptions {
  /** A directory for durable data, or null for an in-memory database. */
  dataDir: string | null;
  statementTimeoutMs: number;
  /** A dumped data directory to start an in-memory database from (the test suite migrates once). */
  loadDataDir?: Blob;
}

/** Statements run in the order issued, as on a pipelining connection: none overtakes an unawaited one. */
function orderedTransaction(tx: Transaction, statementTrace: StatementTrace | null): TxControl {
  let tail: Promise<unknown> = Promise.resolve();
  const inOrder = <R>(step: () => Promise<R>): Promise<R> => {
    const next = tail.then(step, step);
    tail = next.catch(() => undefined);
    return next;
  };
  return openTransaction(
    <T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> =>
      inOrder(async () => {
        const res = await traced(statementTrace, sql, () => tx.query<T>(sql, params as unknown[] | undefined));
        return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
      }),
    (sql: string) =>
      inOrder(async () => {
        await traced(statementTrace, sql, () => tx.exec(sql));
      }),
  );
}

const TARGET: DbTarget = { prefix: 'pglite', namespace: 'pglite' };
/** The settings statement as spans show it, redacted once. */
const SETTINGS_TEXT = redactSqlLiterals(appTxPreamble({ tenantId: null, userId: null }).replace(/^BEGIN; /, ''));

/** The embedded default: PostgreSQL compiled to WASM, one connection, transactions serialised on it. */
export async function createPgliteDatabase(opts: PgliteOptions): Promise<Database & { pglite: PGlite }> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const pglite = opts.dataDir ? await PGlite.create(opts.dataDir) : await PGlite.create(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {});
  await pglite.exec(`SET statement_timeout = ${String(Math.trunc(opts.statementTimeoutMs))}`);

  async function run<T>(preamble: string | null, lookups: readonly TxLookup[], fn: (tx: Queryable, opened: TxOpened) => Promise<T>): Promise<T> {
    // Taken here, in the caller's context: PGlite may run the transaction from another request's.
    const statementTrace = traceTransaction(TARGET);
    const done = await pglite.transaction(async (tx) => {
      if (preamble) {
        const settings = preamble.replace(/^BEGIN; /, '');
        await traced(statementTrace, SETTINGS_TEXT, () => tx.exec(settings));
      }
      const opened = orderedTransaction(tx, statementTrace);
      try {
        const found = await Promise.all(lookups.map((l) => opened.tx.query(l.sql, l.params)));
        const value = await fn(opened.tx, { lookups: found.map((r) => r.rows) });
        await opened.close();
        return { value, opened };
      } catch (err) {
        // Nothing left queued at rollback; the handler's error is what the request reports.
        await opened.close().catch(() => undefined);
        throw err;
      }
    });
    done.opened.committed();
    return done.value;
  }

  return {
    kind: 'pglite',
    // One embedded database: there is no standby to read from.
    replicaReads: false,
    pglite,
    withAppTx: (settings: TxSettings, fn) => run(appTxPreamble(settings), settings.lookups ?? [], fn),
    withSystemTx: (fn) => run(null, [], fn),
    // In process, none is ever lost: listening starts once.
    async listen(channel, onNotify, onReconnect) {
      assertChannelName(channel);
      const unlisten = await pglite.listen(channel, onNotify);
      onReconnect();
      return unlisten;
    },
    async ping() {
      await pglite.query('SELECT 1');
    },
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}
