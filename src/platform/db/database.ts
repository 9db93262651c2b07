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
}

/** What the opening round trip returned besides the settings. */
export interface TxOpened {
  /** With `apiKeyPublicId`: the api_keys rows of that public id (see API_KEY_LOOKUP_SQL). */
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

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;

function literal(value: string | null | undefined, re: RegExp, name: string): string {
  if (value === null || value === undefined) return "''";
  if (!re.test(value)) throw new Error(`invalid ${name} for transaction settings`);
  return `'${value}'`;
}

/**
 * The statements that open an app-role transaction, as one simple-protocol round trip. Values are
 * validated against strict patterns before they are inlined, so nothing user-controlled reaches
 * the SQL text unchecked. `prelude` (trusted, statements ending in `; `) runs right after BEGIN;
 * the API-key lookup, when there is one, is always the last statement.
 */
export function appTxPreamble(s: TxSettings, prelude = ''): string {
  const lookup = s.apiKeyPublicId === undefined ? '' : `; ${apiKeyLookupSql(literal(s.apiKeyPublicId, TOKEN_RE, 'api key id'))}`;
  return (
    `BEGIN; ${prelude}SET LOCAL ROLE ${APP_ROLE}; SELECT ` +
    `set_config('app.tenant_id', ${literal(s.tenantId, UUID_RE, 'tenant id')}, true), ` +
    `set_config('app.user_id', ${literal(s.userId, UUID_RE, 'user id')}, true), ` +
    `set_config('app.invite_token_hash', ${literal(s.inviteTokenHash, TOKEN_RE, 'invite token hash')}, true), ` +
    `set_config('app.api_key_public_id', ${literal(s.apiKeyPublicId, TOKEN_RE, 'api key id')}, true)` +
    lookup
  );
}

/**
 * The API-key lookup folded into the opening round trip: the key row found through the narrow
 * `api_keys_by_public_id` policy, and the transaction switched to its tenant in the same
 * statement. The caller still checks the secret's hash, revocation and expiry, and throws (which
 * rolls back the tenant setting) when any fails. Saves two round trips per API-key request.
 */
function apiKeyLookupSql(publicIdLiteral: string): string {
  return (
    `SELECT tenant_id, id, service_account_id, secret_hash, scopes, expires_at, revoked_at, ` +
    `set_config('app.tenant_id', tenant_id::text, true) AS tenant_context ` +
    `FROM api_keys WHERE public_id = ${publicIdLiteral}`
  );
}
