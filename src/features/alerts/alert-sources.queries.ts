import type { Queryable, TxLookup, TxOpened } from '../../platform/db/database.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import type { Severity } from '../incidents/incidents.schema.js';
import type { AlertSourceKind } from './alert-sources.schema.js';

export interface AlertSourceRow {
  tenant_id: string;
  id: string;
  name: string;
  kind: AlertSourceKind;
  default_severity: Severity;
  auto_resolve: boolean;
  grouping_window_seconds: number;
  key_hash: string | null;
  last_event_at: Date | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const COLUMNS = `tenant_id, id, name, kind, default_severity, auto_resolve, grouping_window_seconds, key_hash, last_event_at,
  created_at, updated_at, version`;

export async function insertAlertSource(
  tx: Queryable,
  s: { tenantId: string; name: string; kind: AlertSourceKind; defaultSeverity: Severity; autoResolve: boolean; groupingWindowSeconds: number; keyHash: string; now: Date },
): Promise<AlertSourceRow> {
  const { rows } = await tx.query<AlertSourceRow>(
    `INSERT INTO alert_sources (tenant_id, name, kind, default_severity, auto_resolve, grouping_window_seconds, key_hash, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ${COLUMNS}`,
    [s.tenantId, s.name, s.kind, s.defaultSeverity, s.autoResolve, s.groupingWindowSeconds, s.keyHash, s.now],
  );
  return rows[0] as AlertSourceRow;
}

/** A live (not deleted) source of the tenant; `forUpdate` locks it. */
export async function findAlertSource(tx: Queryable, tenantId: string, id: string, forUpdate = false): Promise<AlertSourceRow | null> {
  const { rows } = await tx.query<AlertSourceRow>(
    `SELECT ${COLUMNS} FROM alert_sources WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`,
    [tenantId, id],
  );
  return rows[0] ?? null;
}

const SOURCE_PAGE = keyset('newest first', 2);
const LIST_SOURCES_SQL = `SELECT ${COLUMNS}, ${SOURCE_PAGE.key} FROM alert_sources
      WHERE tenant_id = $1 AND deleted_at IS NULL AND ${SOURCE_PAGE.after}
      ${SOURCE_PAGE.orderAndLimit}`;

/** One keyset page of the tenant's alert sources, newest first. */
export async function listAlertSourceRows(tx: Queryable, tenantId: string, page: PageRequest): Promise<(AlertSourceRow & KeyedRow)[]> {
  const { rows } = await tx.query<AlertSourceRow & KeyedRow>(LIST_SOURCES_SQL, [tenantId, ...keysetParams(page, 'newest first')]);
  return rows;
}

/** The columns a change may set; keys map to fixed column names, never to caller text. */
export interface AlertSourcePatch {
  name?: string;
  default_severity?: Severity;
  auto_resolve?: boolean;
  grouping_window_seconds?: number;
  key_hash?: string | null;
  deleted_at?: Date;
}

const PATCHABLE: readonly (keyof AlertSourcePatch)[] = ['name', 'default_severity', 'auto_resolve', 'grouping_window_seconds', 'key_hash', 'deleted_at'];

export async function updateAlertSource(tx: Queryable, tenantId: string, id: string, patch: AlertSourcePatch, now: Date): Promise<AlertSourceRow> {
  const sets: string[] = [];
  const params: unknown[] = [tenantId, id, now];
  for (const column of PATCHABLE) {
    if (!(column in patch)) continue;
    params.push(patch[column]);
    sets.push(`${column} = $${String(params.length)}`);
  }
  const { rows } = await tx.query<AlertSourceRow>(
    `UPDATE alert_sources SET ${[...sets, 'updated_at = $3', 'version = version + 1'].join(', ')}
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] as AlertSourceRow;
}

/**
 * The live source whose routing key digest is `keyHash`, in any tenant: the narrow
 * `alert_sources_by_key_hash` policy shows exactly that row once the digest is set in the
 * transaction. Two statements for the transaction's opening round trip (`TxSettings.lookups`);
 * `sourceFound` reads their rows. Reads only: a wrong key costs no write.
 */
export function sourceByKeyHash(keyHash: string): TxLookup[] {
  return [
    { sql: "SELECT set_config('app.routing_key_hash', $1, true)", params: [keyHash] },
    { sql: `SELECT ${COLUMNS} FROM alert_sources WHERE key_hash = $1 AND deleted_at IS NULL`, params: [keyHash] },
  ];
}

export function sourceFound(opened: TxOpened): AlertSourceRow | null {
  return (opened.lookups[1]?.[0] as AlertSourceRow | undefined) ?? null;
}

/** Switches the ingestion transaction to the source's tenant (RLS reads it per statement). */
export async function enterTenant(tx: Queryable, tenantId: string): Promise<void> {
  await tx.query("SELECT set_config('app.tenant_id', $1, true), set_config('app.routing_key_hash', '', true)", [tenantId]);
}

/**
 * Moves `last_event_at` forward, to the second. It never waits: within a second of the last stamp
 * the row is not touched, and a row locked by another transaction (a new alert of the source
 * deciding its incident, which stamps it itself) is skipped, so a storm of events never queues on
 * the source's row. Issue it right behind the statement that locks the event's alert (it runs
 * after it, in the same round trip): a transaction then never holds the source's row while it
 * waits for an alert, so this can never be part of a deadlock.
 */
export async function touchAlertSource(tx: Queryable, tenantId: string, id: string, now: Date): Promise<void> {
  await tx.query(
    `UPDATE alert_sources SET last_event_at = $3
      WHERE tenant_id = $1 AND id = (
        SELECT id FROM alert_sources
         WHERE tenant_id = $1 AND id = $2 AND (last_event_at IS NULL OR last_event_at < $3::timestamptz - interval '1 second')
         FOR NO KEY UPDATE SKIP LOCKED)`,
    [tenantId, id, now],
  );
}
