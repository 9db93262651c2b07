import type { Database, Queryable, TxLookup, TxOpened, TxRouting, TxSettings } from './database.js';

export interface TenantTxContext {
  tenantId: string;
  userId: string | null;
}

/** A transaction as the RLS-bound app role with the tenant (and user) set transaction-locally. */
export function withTenantTx<T>(db: Database, ctx: TenantTxContext, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.withAppTx({ tenantId: ctx.tenantId, userId: ctx.userId }, fn);
}

/**
 * Account-level work with no tenant: users, sessions' users, password resets, and "my
 * memberships" (allowed across tenants by the narrow `memberships_own_rows` policy).
 */
export function withAccountTx<T>(db: Database, userId: string | null, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.withAppTx({ tenantId: null, userId }, fn);
}

/** The named cross-tenant lookup of an invite by its token digest, allowed by one reviewed RLS policy. */
export type Lookup = { kind: 'inviteByTokenHash'; tokenHash: string };

export function withLookupTx<T>(
  db: Database,
  userId: string | null,
  lookup: Lookup,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  return db.withAppTx({ tenantId: null, userId, inviteTokenHash: lookup.tokenHash }, fn);
}

/**
 * The route pipeline's transaction, with lookups in its first round trip (identity, quota count);
 * `routing` only with DATABASE_READ_HOSTS (consistency.ts).
 */
export function withOpenedTx<T>(
  db: Database,
  settings: TxSettings,
  fn: (tx: Queryable, opened: TxOpened) => Promise<T>,
  routing?: TxRouting,
): Promise<T> {
  return db.withAppTx(settings, fn, routing);
}

/** A background worker's transaction: `app.worker` set, which only its narrow RLS policies admit. */
export function withWorkerTx<T>(db: Database, worker: 'webhooks', fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.withAppTx({ tenantId: null, userId: null }, async (tx) => {
    await tx.query("SELECT set_config('app.worker', $1, true)", [worker]);
    return fn(tx);
  });
}

/**
 * A transaction with neither tenant nor user set: it sees only what narrow cross-tenant policies
 * admit (an alert source found by its routing key's digest) until the caller has authenticated
 * and sets the tenant it found (alert ingestion). `lookups` run in the opening round trip.
 */
export function withUnscopedTx<T>(db: Database, lookups: readonly TxLookup[], fn: (tx: Queryable, opened: TxOpened) => Promise<T>): Promise<T> {
  return db.withAppTx({ tenantId: null, userId: null, lookups }, fn);
}

/**
 * A transaction as the pool's login role, outside row-level security: only for platform work on
 * tables that hold no tenant rows (the mail outbox's queue).
 */
export function withSystemTx<T>(db: Database, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return db.withSystemTx(fn);
}
