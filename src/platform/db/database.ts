/**
 * One interface over node-postgres and PGlite. Transactions are opened only through tx.ts; app-role
 * ones run with transaction-local settings, so a forgotten `WHERE tenant_id` cannot cross tenants.
 */
import type { ReadPosition } from './read-position.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/**
 * A transaction. Statements issued in the same tick leave in one write (pipelining), so await
 * independent ones together. Once it starts to commit or roll back, a statement issued on it
 * rejects with `TxClosedError` and never reaches the database.
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` once this transaction has committed, never if it rolls back; a throw is ignored. */
  afterCommit(fn: () => void): void;
  /** State kept for this transaction's length, one value per slot (created on first use). */
  local<T>(slot: TxSlot<T>): T;
}

/** A kind of per-transaction state (see `Queryable.local`); a module holds its slot as a constant. */
export class TxSlot<T> {
  constructor(readonly create: () => T) {}
}

/** A statement issued on a transaction that had already started to commit or roll back. */
export class TxClosedError extends Error {
  constructor() {
    super('statement issued after its transaction started to commit or roll back');
    this.name = 'TxClosedError';
  }
}

/** Settings applied (transaction-locally) at the start of every app-role transaction. */
export interface TxSettings {
  tenantId: string | null;
  userId: string | null;
  /** Narrow cross-tenant lookups, each allowed by its own reviewed RLS policy. */
  inviteTokenHash?: string;
  apiKeyPublicId?: string;
  /** Statements sent right behind the preamble, in the same round trip; rows in `TxOpened.lookups`. */
  lookups?: readonly TxLookup[];
}

/** What the opening round trip returned besides the settings. */
export interface TxOpened {
  /** The rows of each of `TxSettings.lookups`, in order. */
  lookups: Record<string, unknown>[][];
  /**
   * The transaction runs on a standby (a replica read). What it reads may trail the primary by
   * writes of other callers, so a refusal based on it (no membership, a stale session) must come
   * from the primary: throw `NeedsPrimary` and the work runs there instead.
   */
  standby?: boolean;
}

/** Read-your-writes routing of one app-role transaction; ignored unless `replicaReads`. */
export interface TxRouting {
  /** The caller's position: advanced after a write transaction commits, read by a replica read. */
  position: ReadPosition;
  /**
   * The work only reads: it may run READ ONLY on a standby that has replayed `position.lsn` (any
   * standby when null); work that tries to write anyway is run again on the primary.
   */
  readOnly: boolean;
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  /** Whether read-only transactions may go to standbys (DATABASE_READ_HOSTS is set). */
  readonly replicaReads: boolean;
  /** Runs `fn` in one transaction as the app role (NOSUPERUSER, NOBYPASSRLS) with `settings`. */
  withAppTx<T>(settings: TxSettings, fn: (tx: Queryable, opened: TxOpened) => Promise<T>, routing?: TxRouting): Promise<T>;
  /**
   * The system path: a transaction as the connecting (owner) role. Only migrations, health and
   * test set-up use it; request handling never does.
   */
  withSystemTx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Listens for `NOTIFY` on `channel` (a plain lowercase identifier) on a connection of its own,
   * outside any transaction: `onNotify` gets each payload once its transaction commits.
   * Notifications sent while the connection is down are lost, so `onReconnect` runs whenever
   * listening (re)starts and the caller catches up from its tables. Resolves to a function that
   * stops listening; `close()` stops every listener.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect: () => void): Promise<() => Promise<void>>;
  /** A cheap round trip for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const APP_ROLE = 'incident_app';

/** SQLSTATE of every statement after a failed one in the same transaction. */
const IN_FAILED_TX = '25P02';

/** What a transaction runner holds besides the transaction it hands out. */
export interface TxControl {
  tx: Queryable;
  /**
   * Closes the transaction, waits for every statement issued before, and throws the first
   * failure. Needed before COMMIT: a COMMIT after a failed statement quietly rolls back instead.
   */
  close(): Promise<void>;
  /** Runs the `afterCommit` callbacks, in registration order. */
  committed(): void;
}

/**
 * A transaction over a driver's `run`, which must execute statements in the order issued. A
 * statement that fails only because an earlier one did (25P02) rejects with the earlier failure,
 * so the response reports the cause, not its echo. Every returned promise is already handled: a
 * statement left unawaited because the request failed first is no unhandled rejection.
 */
export function openTransaction(
  run: <T>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<T>>,
  exec: (sql: string) => Promise<void>,
): TxControl {
  let firstError: Error | null = null;
  let closed = false;
  const issued: Promise<unknown>[] = [];
  const callbacks: (() => void)[] = [];
  const locals = new Map<TxSlot<unknown>, unknown>();
  const track = <R>(p: Promise<R>): Promise<R> => {
    const tracked = p.catch((err: unknown) => {
      if (firstError === null) firstError = err instanceof Error ? err : new Error(String(err));
      else if ((err as { code?: unknown } | null)?.code === IN_FAILED_TX) throw firstError;
      throw err;
    });
    tracked.catch(() => undefined);
    issued.push(tracked);
    return tracked;
  };
  const tx: Queryable = {
    query: <T>(sql: string, params?: readonly unknown[]) => (closed ? Promise.reject(new TxClosedError()) : track(run<T>(sql, params))),
    exec: (sql: string) => (closed ? Promise.reject(new TxClosedError()) : track(exec(sql))),
    afterCommit(fn) {
      callbacks.push(fn);
    },
    local<T>(slot: TxSlot<T>): T {
      if (!locals.has(slot)) locals.set(slot, slot.create());
      return locals.get(slot) as T;
    },
  };
  return {
    tx,
    async close(): Promise<void> {
      closed = true;
      await Promise.allSettled(issued);
      if (firstError !== null) throw firstError;
    },
    committed(): void {
      for (const fn of callbacks) {
        try {
          fn();
        } catch {
          // The change is committed; the request still succeeds.
        }
      }
    },
  };
}

/** A channel name safe to inline in LISTEN. */
export function assertChannelName(channel: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid channel name ${channel}`);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;

function literal(value: string | null | undefined, re: RegExp, name: string): string {
  if (value === null || value === undefined) return "''";
  if (!re.test(value)) throw new Error(`invalid ${name} for transaction settings`);
  return `'${value}'`;
}

/**
 * Timeouts set per transaction, not as startup parameters: a transaction-mode pooler (PgBouncer)
 * refuses or drops unknown startup parameters, and a blocked statement would then hold its
 * connection with no limit.
 */
export function timeoutSettings(statementTimeoutMs: number): string {
  const ms = Math.trunc(statementTimeoutMs);
  return (
    `set_config('statement_timeout', '${String(ms)}', true), ` +
    `set_config('idle_in_transaction_session_timeout', '${String(ms * 2)}', true)`
  );
}

/**
 * BEGIN and one SELECT of transaction-local settings, as one simple-protocol query (hence inlined
 * values, each checked against a strict pattern first). `set_config('role', ..., true)` is SET
 * LOCAL ROLE: every later statement is planned and run as the app role.
 */
export function appTxPreamble(s: TxSettings, statementTimeoutMs: number | null = null): string {
  return (
    `BEGIN; SELECT ${statementTimeoutMs === null ? '' : `${timeoutSettings(statementTimeoutMs)}, `}` +
    `set_config('role', '${APP_ROLE}', true), ` +
    `set_config('app.tenant_id', ${literal(s.tenantId, UUID_RE, 'tenant id')}, true), ` +
    `set_config('app.user_id', ${literal(s.userId, UUID_RE, 'user id')}, true), ` +
    `set_config('app.invite_token_hash', ${literal(s.inviteTokenHash, TOKEN_RE, 'invite token hash')}, true), ` +
    `set_config('app.api_key_public_id', ${literal(s.apiKeyPublicId, TOKEN_RE, 'api key id')}, true)`
  );
}

/** A statement sent behind the preamble: separate from it, so it can be a prepared statement. */
export interface TxLookup {
  sql: string;
  params: unknown[];
}

