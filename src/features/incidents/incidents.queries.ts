import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';
import type { IncidentStatus, Severity } from './incidents.schema.js';

/** Who created, acknowledged or wrote a timeline event: a person, a key, or an alert source. */
export interface ActorRef {
  type: 'user' | 'service_account' | 'alert_source';
  id: string;
}

export interface IncidentRow {
  id: string;
  number: number;
  title: string;
  description: string | null;
  severity: Severity;
  status: IncidentStatus;
  commander_id: string | null;
  created_by_type: ActorRef['type'];
  created_by_id: string;
  acknowledged_at: Date | null;
  acknowledged_by_type: ActorRef['type'] | null;
  acknowledged_by_id: string | null;
  started_at: Date;
  identified_at: Date | null;
  monitoring_at: Date | null;
  resolved_at: Date | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const COLUMNS = `id, number, title, description, severity, status, commander_id, created_by_type, created_by_id,
  acknowledged_at, acknowledged_by_type, acknowledged_by_id, started_at, identified_at, monitoring_at, resolved_at, created_at, updated_at, version`;

/**
 * Hands out the tenant's next incident number. The UPDATE locks only this tenant's row until the
 * transaction ends, so numbers are gapless per tenant (a rollback returns the number) while other
 * tenants never wait.
 */
export async function nextIncidentNumber(tx: Queryable, tenantId: string): Promise<number> {
  const { rows } = await tx.query<{ incident_seq: number }>(
    'UPDATE tenants SET incident_seq = incident_seq + 1 WHERE id = $1 RETURNING incident_seq',
    [tenantId],
  );
  const seq = rows[0]?.incident_seq;
  if (seq === undefined) throw new Error('tenant row not visible while numbering an incident');
  return seq;
}

export async function insertIncident(
  tx: Queryable,
  i: {
    tenantId: string;
    number: number;
    title: string;
    description: string | null;
    severity: Severity;
    commanderId: string | null;
    createdBy: ActorRef;
    now: Date;
  },
): Promise<IncidentRow> {
  const { rows } = await tx.query<IncidentRow>(
    `INSERT INTO incidents (tenant_id, number, title, description, severity, status, commander_id, created_by_type,
       created_by_id, started_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, 'investigating', $6, $7, $8, $9, $9, $9)
     RETURNING ${COLUMNS}`,
    [i.tenantId, i.number, i.title, i.description, i.severity, i.commanderId, i.createdBy.type, i.createdBy.id, i.now],
  );
  return rows[0] as IncidentRow;
}

/** One incident of the tenant; `forUpdate` locks it so concurrent changes apply one after another. */
export async function findIncident(tx: Queryable, tenantId: string, id: string, forUpdate = false): Promise<IncidentRow | null> {
  const { rows } = await tx.query<IncidentRow>(
    `SELECT ${COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [tenantId, id],
  );
  return rows[0] ?? null;
}

/** The columns a change may set; keys map to fixed column names, never to caller text. */
export interface IncidentPatch {
  title?: string;
  description?: string | null;
  severity?: Severity;
  status?: IncidentStatus;
  commander_id?: string | null;
  identified_at?: Date | null;
  monitoring_at?: Date | null;
  resolved_at?: Date | null;
  acknowledged_at?: Date;
  acknowledged_by_type?: ActorRef['type'];
  acknowledged_by_id?: string;
}

const PATCHABLE: readonly (keyof IncidentPatch)[] = [
  'title',
  'description',
  'severity',
  'status',
  'commander_id',
  'identified_at',
  'monitoring_at',
  'resolved_at',
  'acknowledged_at',
  'acknowledged_by_type',
  'acknowledged_by_id',
];

export async function updateIncident(tx: Queryable, tenantId: string, id: string, patch: IncidentPatch, now: Date): Promise<IncidentRow> {
  const sets: string[] = [];
  const params: unknown[] = [tenantId, id, now];
  for (const column of PATCHABLE) {
    if (!(column in patch)) continue;
    params.push(patch[column]);
    sets.push(`${column} = $${params.length}`);
  }
  const { rows } = await tx.query<IncidentRow>(
    `UPDATE incidents SET ${[...sets, 'updated_at = $3', 'version = version + 1'].join(', ')}
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] as IncidentRow;
}

export interface IncidentFilter {
  status?: readonly IncidentStatus[] | undefined;
  severity?: readonly Severity[] | undefined;
  q?: string | undefined;
  createdAfter?: string | undefined;
  createdBefore?: string | undefined;
}

/**
 * A page of incidents newest first. Keyset on (created_at, id) so every page costs one index
 * range scan on incidents_tenant_created_idx, however deep; `limit` is the page size plus one.
 */
export async function listIncidentRows(
  tx: Queryable,
  tenantId: string,
  filter: IncidentFilter,
  cursor: Cursor | null,
  limit: number,
): Promise<IncidentRow[]> {
  const where = ['tenant_id = $1'];
  const params: unknown[] = [tenantId];
  const add = (sql: (p: string) => string, value: unknown): void => {
    params.push(value);
    where.push(sql(`$${params.length}`));
  };
  if (filter.status?.length) add((p) => `status = ANY(${p}::text[])`, filter.status);
  if (filter.severity?.length) add((p) => `severity = ANY(${p}::text[])`, filter.severity);
  if (filter.q !== undefined) add((p) => `search_vector @@ websearch_to_tsquery('simple', ${p})`, filter.q);
  if (filter.createdAfter !== undefined) add((p) => `created_at >= ${p}::timestamptz`, filter.createdAfter);
  if (filter.createdBefore !== undefined) add((p) => `created_at < ${p}::timestamptz`, filter.createdBefore);
  if (cursor) {
    params.push(cursor.createdAt, cursor.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(limit);
  const { rows } = await tx.query<IncidentRow>(
    `SELECT ${COLUMNS} FROM incidents WHERE ${where.join(' AND ')}
      ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}

/** Whether `userId` is a member of the tenant (commanders and assignees must be). */
export async function isTenantMember(tx: Queryable, tenantId: string, userId: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
  return rows.length > 0;
}
