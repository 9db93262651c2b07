/**
 * One small interface over node-postgres and PGlite. Feature code only ever sees `Queryable`
 * inside a transaction opened by `withTenantTx`, `withAccountTx` or `withLookupTx`; all three run
 * as the RLS-bound app role with transaction-local settings, so a forgotten `WHERE tenant_id`
 * still cannot cross tenants.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /**
   * Sends a statement without waiting for its answer: it is pipelined behind whatever the
   * transaction already has in flight, and statements sent in the same tick leave in one write.
   * The transaction waits for it before COMMIT, and its failure fails the transaction, so a
   * caller that needs no result (an audit row, a timeline event) never awaits it. The returned
   * promise may be awaited later for the result.
   */
  send<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Settings applied (transaction-locally) at the start of every app-role transaction. */
export interface TxSettings {
  tenantId: string | null;
  userId: string | null;
  /** Narrow cross-tenant lookups, each allowed by its own reviewed RLS policy. */
  inviteTokenHash?: string;
  apiKeyPublicId?: string;
  /**
   * With `userId` and `tenantId`: also read the user's session epoch and role in the tenant in
   * the opening round trip (see MEMBERSHIP_LOOKUP_SQL). Not with `apiKeyPublicId`.
   */
  membershipLookup?: boolean;
}

/** What the opening round trip returned besides the settings. */
export interface TxOpened {
  /**
   * With `apiKeyPublicId`: the api_keys rows of that public id; with `membershipLookup`: the
   * user's row `{ role, session_epoch }` (role null without a membership; no row for no user).
   */
  lookupRows: Record<string, unknown>[];
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction as the app role (NOSUPERUSER, NOBYPASSRLS) with `settings`. */
  withAppTx<T>(settings: TxSettings, fn: (tx: Queryable, opened: TxOpened) => Promise<T>): Promise<T>;
  /**
   * The system path: a transaction as the connecting (owner) role. Only migrations, health and
   * test set-up use it; request handling never does.
   */
  withSystemTx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** A cheap round trip for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const APP_ROLE = 'incident_app';

/** SQLSTATE of every statement after a failed one in the same transaction. */
const IN_FAILED_TX = '25P02';

/** A transaction's Queryable with `settle()`, which the transaction runner awaits before COMMIT. */
export interface TxQueryable extends Queryable {
  /**
   * Waits for every statement issued so far and throws the first failure, if any. Before COMMIT
   * this is what makes an unawaited statement's failure fail the transaction (a COMMIT after a
   * failed statement would otherwise quietly roll back); after a failure it lets the runner roll
   * back with nothing left in flight.
   */
  settle(): Promise<void>;
}

/**
 * Builds a transaction's Queryable over a driver's `run` (which must execute statements in the
 * order they were issued). Statements after a failed one fail with "current transaction is
 * aborted"; whoever awaits one of those gets the first failure instead, so the error mapped to
 * the response is the cause, not its echo. Every returned promise is already handled, so a
 * statement issued early and never awaited (the request failed first) is no unhandled rejection.
 */
export function transactionQueryable(
  run: <T>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<T>>,
  exec: (sql: string) => Promise<void>,
): TxQueryable {
  let firstError: Error | null = null;
  const issued: Promise<unknown>[] = [];
  const query = <T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> => {
    const p = run<T>(sql, params).catch((err: unknown) => {
      if (firstError === null) firstError = err instanceof Error ? err : new Error(String(err));
      else if ((err as { code?: unknown } | null)?.code === IN_FAILED_TX) throw firstError;
      throw err;
    });
    p.catch(() => undefined);
    issued.push(p);
    return p;
  };
  return {
    query,
    send: query,
    exec,
    async settle(): Promise<void> {
      await Promise.allSettled(issued);
      if (firstError !== null) throw firstError;
    },
  };
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
 * refuses unknown startup parameters, or drops them when told to ignore them, and a blocked
 * statement would then hold its connection with no limit. As `set_config(..., true)` calls (the
 * same as SET LOCAL) so that they join the opening SELECT.
 */
export function timeoutSettings(statementTimeoutMs: number): string {
  const ms = Math.trunc(statementTimeoutMs);
  return (
    `set_config('statement_timeout', '${String(ms)}', true), ` +
    `set_config('idle_in_transaction_session_timeout', '${String(ms * 2)}', true)`
  );
}

/**
 * The statement that opens an app-role transaction, as one simple-protocol query: BEGIN, then one
 * SELECT of transaction-local settings (the timeouts when given, the role, the request's
 * context). Values are validated against strict patterns before they are inlined, so nothing
 * user-controlled reaches the SQL text unchecked. `set_config('role', ..., true)` is SET LOCAL
 * ROLE, so every later statement is planned and run as the app role.
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

/** A parameterised statement the transaction runs right behind its preamble, in the same round trip. */
export interface TxLookup {
  sql: string;
  params: unknown[];
}

/**
 * The API-key lookup: the key row found through the narrow `api_keys_by_public_id` policy (the
 * preamble set the public id), and the transaction switched to its tenant in the same statement.
 * The caller still checks the secret's hash, revocation and expiry, and throws (which rolls back
 * the tenant setting) when any fails.
 */
const API_KEY_LOOKUP_SQL =
  `SELECT tenant_id, id, service_account_id, secret_hash, scopes, expires_at, revoked_at, ` +
  `set_config('app.tenant_id', tenant_id::text, true) AS tenant_context ` +
  `FROM api_keys WHERE public_id = $1`;

/**
 * The session check of a tenant request: the user's session epoch (a password change or reset
 * ends older sessions) and role in the tenant, read through the users-own-row and
 * memberships-own-rows policies.
 */
const MEMBERSHIP_LOOKUP_SQL =
  `SELECT m.role, u.session_epoch FROM users u ` +
  `LEFT JOIN memberships m ON m.tenant_id = $2 AND m.user_id = u.id ` +
  `WHERE u.id = $1`;

/**
 * The lookup that `settings` ask for, sent behind the preamble in the same round trip (a separate
 * statement, so a prepared one: planned once per connection, not per request). Its rows are
 * `TxOpened.lookupRows`.
 */
export function appTxLookup(s: TxSettings): TxLookup | null {
  if (s.apiKeyPublicId !== undefined) return { sql: API_KEY_LOOKUP_SQL, params: [s.apiKeyPublicId] };
  if (s.membershipLookup && s.userId !== null && s.tenantId !== null) return { sql: MEMBERSHIP_LOOKUP_SQL, params: [s.userId, s.tenantId] };
  return null;
}
