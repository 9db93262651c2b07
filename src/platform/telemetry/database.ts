import { context, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type BatchObservableResult } from '@opentelemetry/api';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import type { Database } from '../db/database.js';
import { histogramOf } from './instruments.js';
import { redactSqlLiterals, sqlOperation } from './tracing.js';

/** The instrumentation scope of every statement span, on PostgreSQL and PGlite alike. */
export const DB_SCOPE = 'incident-tracker-api/db';

/** Which database a driver talks to, as statement spans name it. */
export interface DbTarget {
  /** Span names are `<prefix>.query:<OPERATION>`, as instrumentation-pg named them. */
  prefix: 'pg' | 'pglite';
  /** `db.namespace`: the database name. */
  namespace: string | undefined;
  serverAddress?: string | undefined;
  serverPort?: number | undefined;
}

// The API's proxy tracer: it finds the SDK's once one is registered, so it can be taken at import.
const tracer = trace.getTracer(DB_SCOPE);

/** Called as a statement is sent; the function it returns is called with its outcome. */
export type StatementTrace = (sql: string) => (err?: unknown) => void;

const durationHistogram = histogramOf(DB_SCOPE, 'db.client.operation.duration', {
  description: 'Duration of database statements, from sending to the answer.',
  unit: 's',
  advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
});

/** What a statement's spans and durations carry, derived from its text once. */
interface StatementShape {
  spanName: string;
  spanAttributes: Attributes;
  metricAttributes: Attributes;
}

/** Statement texts are few (a handful per route, the bounded set the pool prepares). */
const MAX_SHAPES = 500;
const shapesByTarget = new WeakMap<DbTarget, Map<string, StatementShape>>();

function shapeOf(target: DbTarget, sql: string): StatementShape {
  let shapes = shapesByTarget.get(target);
  if (shapes === undefined) {
    shapes = new Map();
    shapesByTarget.set(target, shapes);
  }
  const known = shapes.get(sql);
  if (known !== undefined) return known;
  const text = sql.includes("'") ? redactSqlLiterals(sql) : sql;
  const operation = sqlOperation(text);
  // Shared by every span and measurement of this text: the SDK copies span attributes and keeps
  // metric attributes as they are, so these objects are never changed after this.
  const shape: StatementShape = {
    spanName: `${target.prefix}.query:${operation}${target.namespace === undefined ? '' : ` ${target.namespace}`}`,
    spanAttributes: Object.freeze({
      [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      [ATTR_DB_NAMESPACE]: target.namespace,
      [ATTR_DB_OPERATION_NAME]: operation,
      [ATTR_DB_QUERY_TEXT]: text,
      [ATTR_SERVER_ADDRESS]: target.serverAddress,
      [ATTR_SERVER_PORT]: target.serverPort,
    }),
    metricAttributes: Object.freeze({ [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL, [ATTR_DB_OPERATION_NAME]: operation }),
  };
  if (shapes.size < MAX_SHAPES) shapes.set(sql, shape);
  return shape;
}

/**
 * Statement spans and durations for one transaction, taken when it opens: its statements become
 * client spans beneath the span active then (the route's handler span). Explicit, not read from
 * the async context per statement, because PGlite runs a queued transaction from whichever
 * request started its queue. Null when nothing is traced (telemetry off, start-up, migrations):
 * like instrumentation-pg's `requireParentSpan`, no orphan spans.
 *
 * Nothing of a statement's parameters reaches a span, and string literals in its text (the
 * preamble inlines the tenant, user and lookup settings) are replaced by `?`. The name and
 * attributes of a text are worked out once (`shapeOf`).
 */
export function traceTransaction(target: DbTarget): StatementTrace | null {
  const parent = context.active();
  if (trace.getSpan(parent) === undefined) return null;
  return (sql) => {
    const shape = shapeOf(target, sql);
    const span = tracer.startSpan(shape.spanName, { kind: SpanKind.CLIENT, attributes: shape.spanAttributes }, parent);
    const started = performance.now();
    return (err?: unknown) => {
      const seconds = (performance.now() - started) / 1000;
      if (err === undefined) {
        durationHistogram().record(seconds, shape.metricAttributes);
        span.end();
        return;
      }
      // The SQLSTATE only: driver messages can quote values.
      const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
      const errorType = typeof code === 'string' ? code : 'Error';
      durationHistogram().record(seconds, { ...shape.metricAttributes, [ATTR_ERROR_TYPE]: errorType });
      span.setAttributes({ [ATTR_ERROR_TYPE]: errorType, ...(typeof code === 'string' ? { [ATTR_DB_RESPONSE_STATUS_CODE]: code } : {}) });
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
  };
}

/**
 * Runs one statement under `statementTrace` (which may be null: untraced). `sql` is the text the
 * span shows, after redaction; each distinct text is cached, so a text must not carry values that
 * vary per request: pass a preamble that inlines them already redacted (`redactSqlLiterals`).
 */
export function traced<R>(statementTrace: StatementTrace | null, sql: string, run: () => Promise<R>): Promise<R> {
  if (statementTrace === null) return run();
  const done = statementTrace(sql);
  const p = run();
  p.then(
    () => {
      done();
    },
    (err: unknown) => {
      done(err);
    },
  );
  return p;
}

/** What a pool reports about its connections, read when metrics are collected. */
export interface PoolGauges {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/**
 * `db.client.connection.count` (by state, idle or used) and `db.client.connection.pending_requests`
 * for a pool, observed when metrics are collected instead of counted on every checkout. Returns
 * what stops observing it (the pool closed).
 */
export function observePool(pool: PoolGauges, poolName: string): () => void {
  const meter = metrics.getMeter(DB_SCOPE);
  const count = meter.createObservableUpDownCounter('db.client.connection.count', { description: 'Connections in the pool, by state.', unit: '{connection}' });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    description: 'Checkouts waiting for a connection.',
    unit: '{request}',
  });
  const observe = (result: BatchObservableResult): void => {
    const pool_ = { 'db.client.connection.pool.name': poolName };
    result.observe(count, pool.idleCount, { ...pool_, 'db.client.connection.state': 'idle' });
    result.observe(count, pool.totalCount - pool.idleCount, { ...pool_, 'db.client.connection.state': 'used' });
    result.observe(pending, pool.waitingCount, pool_);
  };
  meter.addBatchObservableCallback(observe, [count, pending]);
  return () => {
    meter.removeBatchObservableCallback(observe, [count, pending]);
  };
}

/**
 * The app's view of the database: each transaction's handler runs in the async context of the
 * request that opened it. PGlite runs queued transactions from whichever request started its
 * queue, and a pool hands a released client to the next waiting request from the releasing one's.
 */
export function observeDatabase(db: Database): Database {
  const bound = <F extends (...args: never[]) => unknown>(fn: F): F => context.bind(context.active(), fn);
  return {
    kind: db.kind,
    replicaReads: db.replicaReads,
    withAppTx: (settings, fn, routing) => db.withAppTx(settings, bound(fn), routing),
    withSystemTx: (fn) => db.withSystemTx(bound(fn)),
    listen: (channel, onNotify, onReconnect) => db.listen(channel, onNotify, onReconnect),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}
