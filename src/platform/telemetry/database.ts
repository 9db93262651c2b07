import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import type { Database, Queryable, QueryResult, TxOpened } from '../db/database.js';
import { redactSqlLiterals, sqlOperation } from './tracing.js';

/** Callbacks waiting for the commit of the transaction that registered them. */
const pendingByTx = new WeakMap<Queryable, (() => void)[]>();

/**
 * Runs `fn` after the transaction `tx` commits, and never if it rolls back. For side effects
 * that must not outlive a rolled-back change (metrics). Transactions not opened through
 * `observeDatabase` have no commit to wait for, and their callbacks are dropped.
 */
export function afterCommit(tx: Queryable, fn: () => void): void {
  pendingByTx.get(tx)?.push(fn);
}

/** PGlite runs in process: without these spans a trace on the embedded database shows no SQL. */
export const PGLITE_TRACER_NAME = 'incident-tracker-api/pglite';
const tracer = trace.getTracer(PGLITE_TRACER_NAME);

async function inQuerySpan<R>(sql: string, run: () => Promise<R>): Promise<R> {
  // Like instrumentation-pg's requireParentSpan: no orphan spans (migrations, start-up).
  if (!trace.getActiveSpan()) return run();
  const operation = sqlOperation(sql);
  return tracer.startActiveSpan(
    `pglite.query:${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
        [ATTR_DB_NAMESPACE]: 'pglite',
        [ATTR_DB_OPERATION_NAME]: operation,
        [ATTR_DB_QUERY_TEXT]: redactSqlLiterals(sql),
      },
    },
    async (span) => {
      try {
        return await run();
      } catch (err) {
        // The SQLSTATE only: driver messages can quote values.
        const code = (err as { code?: unknown } | null)?.code;
        if (typeof code === 'string') span.setAttributes({ [ATTR_DB_RESPONSE_STATUS_CODE]: code, [ATTR_ERROR_TYPE]: code });
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

function tracedQueryable(tx: Queryable): Queryable {
  return {
    query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      return inQuerySpan(sql, () => tx.query<T>(sql, params));
    },
    send<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      // Sent now; the span ends when the answer arrives. The inner send is what COMMIT waits for.
      const p = inQuerySpan(sql, () => tx.send<T>(sql, params));
      p.catch(() => undefined);
      return p;
    },
    exec(sql: string): Promise<void> {
      return inQuerySpan(sql, () => tx.exec(sql));
    },
  };
}

/**
 * The app's view of the database: every transaction supports `afterCommit`, and on PGlite every
 * statement gets a client span shaped like instrumentation-pg's (which only sees the `pg`
 * driver). Callbacks run in registration order; one that throws is ignored, since the change is
 * already committed and the request must still succeed.
 */
export function observeDatabase(db: Database): Database {
  const traced = db.kind === 'pglite';
  async function run<T>(
    open: (inner: (raw: Queryable, opened: TxOpened) => Promise<T>) => Promise<T>,
    fn: (tx: Queryable, opened: TxOpened) => Promise<T>,
  ): Promise<T> {
    const callbacks: (() => void)[] = [];
    // Bound to the caller's context: PGlite runs queued transactions from whichever request
    // started its queue, which would otherwise parent this request's spans under another trace.
    const inner = context.bind(context.active(), (raw: Queryable, opened: TxOpened): Promise<T> => {
      const tx = traced ? tracedQueryable(raw) : raw;
      pendingByTx.set(tx, callbacks);
      return fn(tx, opened);
    });
    const result = await open(inner);
    for (const callback of callbacks) {
      try {
        callback();
      } catch {
        // Metrics never fail a committed request.
      }
    }
    return result;
  }
  return {
    kind: db.kind,
    withAppTx: (settings, fn) => run((inner) => db.withAppTx(settings, inner), fn),
    withSystemTx: (fn) => run((inner) => db.withSystemTx((tx) => inner(tx, { lookupRows: [] })), fn),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}
