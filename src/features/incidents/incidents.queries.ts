import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, maybeRow, oneRow, patchStatement } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
import { adoptChainHead, auditInsert, headWrite, lockedHeadSubquery, type AuditRow, type ChainHead, type LockedHeadColumns } from '../../platform/audit/audit.js';
import { eventStatement, type NumberedEvent } from '../events/events.record.js';
import type { IncidentStatus, Severity } from './incidents.schema.js';
import type { TimelineEventType } from './timeline.schema.js';

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

/** Every column of IncidentRow, in the order responses list them; a column added to one must be added to the other. */
export const INCIDENT_COLUMNS = columnsOf<IncidentRow>()(
  'id',
  'number',
  'title',
  'description',
  'severity',
  'status',
  'commander_id',
  'created_by_type',
  'created_by_id',
  'acknowledged_at',
  'acknowledged_by_type',
  'acknowledged_by_id',
  'started_at',
  'identified_at',
  'monitoring_at',
  'resolved_at',
  'created_at',
  'updated_at',
  'version',
);

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
  const res = await tx.query<IncidentRow>(INSERT_INCIDENT_SQL, [
    i.tenantId,
    i.number,
    i.title,
    i.description,
    i.severity,
    i.commanderId,
    i.createdBy.type,
    i.createdBy.id,
    i.now,
  ]);
  return oneRow(res, 'incident insert');
}

const INSERT_INCIDENT_SQL = `INSERT INTO incidents (tenant_id, number, title, description, severity, status, commander_id, created_by_type,
       created_by_id, started_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, 'investigating', $6, $7, $8, $9, $9, $9)
     RETURNING ${INCIDENT_COLUMNS}`;

const FIND_INCIDENT_SQL = `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2`;
/** The incident locked for a change (the PATCH transaction's first read). */
const LOCK_INCIDENT_SQL = `${FIND_INCIDENT_SQL} FOR UPDATE`;

/** One incident of the tenant; `forUpdate` locks it so concurrent changes apply one after another. */
export async function findIncident(tx: Queryable, tenantId: string, id: string, forUpdate = false): Promise<IncidentRow | null> {
  return maybeRow(await tx.query<IncidentRow>(forUpdate ? LOCK_INCIDENT_SQL : FIND_INCIDENT_SQL, [tenantId, id]));
}

/**
 * The incident locked for a change and then, in the same statement, the tenant's audit chain head
 * (the order every writer takes them in: the rows a request changes, then the chain), which every
 * change needs for its audit row and event.
 */
const LOCK_INCIDENT_AND_HEAD_SQL = `WITH locked AS MATERIALIZED (${LOCK_INCIDENT_SQL})
  SELECT locked.*, head.* FROM locked LEFT JOIN LATERAL (${lockedHeadSubquery('$1', 'locked.id')}) head ON true`;

/** The incident locked for a change, with the chain head locked behind it (adopted for this transaction). */
export async function lockIncidentAndChain(tx: Queryable, tenantId: string, id: string): Promise<IncidentRow | null> {
  const found = maybeRow(await tx.query<IncidentRow & LockedHeadColumns>(LOCK_INCIDENT_AND_HEAD_SQL, [tenantId, id]));
  if (found === null) return null;
  const { head_seq, head_hash, head_created_at, head_event_seq, ...row } = found;
  await adoptChainHead(tx, tenantId, { head_seq, head_hash, head_created_at, head_event_seq });
  return row;
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

const INCIDENT_PATCH = patchStatement<IncidentPatch>(
  {
    title: 'text',
    description: 'text',
    severity: 'text',
    status: 'text',
    commander_id: 'uuid',
    identified_at: 'timestamptz',
    monitoring_at: 'timestamptz',
    resolved_at: 'timestamptz',
    acknowledged_at: 'timestamptz',
    acknowledged_by_type: 'text',
    acknowledged_by_id: 'uuid',
  },
  4,
);

/** One text for every combination of changed fields ($4 lists them; see patchStatement). */
export const UPDATE_INCIDENT_SQL = `UPDATE incidents SET
    ${INCIDENT_PATCH.sets},
    updated_at = $3, version = version + 1
  WHERE tenant_id = $1 AND id = $2 RETURNING ${INCIDENT_COLUMNS}`;

function updateIncidentParams(tenantId: string, id: string, patch: IncidentPatch, now: Date): unknown[] {
  return [tenantId, id, now, ...INCIDENT_PATCH.params(patch)];
}

export async function updateIncident(tx: Queryable, tenantId: string, id: string, patch: IncidentPatch, now: Date): Promise<IncidentRow> {
  return oneRow(await tx.query<IncidentRow>(UPDATE_INCIDENT_SQL, updateIncidentParams(tenantId, id, patch, now)), 'incident update');
}

/** What a change of a locked incident writes besides the row (see updateIncidentWithRecords). */
export interface ChangeRecords {
  /** The automatic timeline events, stamped with the UPDATE's time and attributed to `by`. */
  timeline: { type: TimelineEventType; message: string }[];
  by: ActorRef;
  /** The change's audit row, chained (chainAuditRow). */
  audit: AuditRow;
  /** The change's event, numbered (numberEvent); null when the caller records it itself. */
  event: NumberedEvent | null;
  /** The tenant's chain head as the audit row and the event leave it. */
  head: ChainHead;
}

/**
 * The UPDATE of a locked incident and everything the change records, in one statement (one
 * Bind/Execute instead of four, and no lookup: the audit row and the event were chained and
 * numbered from the locked head): the row, its timeline events, its audit row, its event with its
 * announcement, and the chain head's move. Answers the row as the UPDATE left it.
 */
export async function updateIncidentWithRecords(
  tx: Queryable,
  tenantId: string,
  id: string,
  patch: IncidentPatch,
  now: Date,
  records: ChangeRecords,
): Promise<IncidentRow> {
  const params = updateIncidentParams(tenantId, id, patch, now);
  const at = (): string => `$${String(params.length)}`;
  params.push(records.timeline.map((t) => t.type));
  const types = at();
  params.push(records.timeline.map((t) => t.message));
  const messages = at();
  params.push(records.by.type);
  const byType = at();
  params.push(records.by.id);
  const byId = at();
  const audit = auditInsert(records.audit, params.length + 1);
  params.push(...audit.params);
  let event = '';
  let notified = '';
  if (records.event !== null) {
    const statement = eventStatement(params.length + 1);
    params.push(...records.event.params);
    event = `,\n    event AS (${statement.insert})`;
    notified = `, ${statement.notify} AS announced`;
  }
  const head = headWrite(tenantId, records.head, params.length + 1);
  params.push(...head.params);
  const sql = `WITH updated AS (${UPDATE_INCIDENT_SQL}),
    timeline AS (INSERT INTO timeline_events (tenant_id, incident_id, type, message, occurred_at, actor_type, actor_id, created_at)
      SELECT $1, $2, t.type, t.message, $3, ${byType}::text, ${byId}::uuid, $3 FROM unnest(${types}::text[], ${messages}::text[]) AS t (type, message)),
    audit AS (${audit.sql})${event},
    head AS (${head.sql})
  SELECT updated.*${notified} FROM updated`;
  const row = oneRow(await tx.query<IncidentRow & { announced?: unknown }>(sql, params), 'incident update');
  delete row.announced;
  return row;
}

export interface IncidentFilter {
  status?: readonly IncidentStatus[] | undefined;
  severity?: readonly Severity[] | undefined;
  q?: string | undefined;
  createdAfter?: string | undefined;
  createdBefore?: string | undefined;
}

export type IncidentListRow = IncidentRow & KeyedRow;

const PAGE = keyset('newest first', 6);

/**
 * The incident list, newest first: every filter is a parameter that may be null, so the text is
 * fixed. Full-text search has a text of its own, because it changes the plan (the GIN index on
 * search_vector) and a prepared statement's generic plan is shared by all its executions. The
 * created range and the keyset are index range conditions on incidents_tenant_created_idx, so
 * every page costs one range scan, however deep.
 */
function listIncidentsSql(search: boolean): string {
  return `SELECT ${INCIDENT_COLUMNS}, ${PAGE.key} FROM incidents
      WHERE tenant_id = $1
        AND ($2::text[] IS NULL OR status = ANY($2::text[]))
        AND ($3::text[] IS NULL OR severity = ANY($3::text[]))
        AND created_at >= coalesce($4::timestamptz, '-infinity')
        AND created_at < coalesce($5::timestamptz, 'infinity')
        AND ${PAGE.after}${search ? `
        AND search_vector @@ websearch_to_tsquery('simple', $9)` : ''}
      ${PAGE.orderAndLimit}`;
}

export const LIST_INCIDENTS_SQL = listIncidentsSql(false);
const SEARCH_INCIDENTS_SQL = listIncidentsSql(true);

export async function listIncidentRows(tx: Queryable, tenantId: string, filter: IncidentFilter, page: PageRequest): Promise<IncidentListRow[]> {
  const params: unknown[] = [
    tenantId,
    filter.status?.length ? filter.status : null,
    filter.severity?.length ? filter.severity : null,
    filter.createdAfter ?? null,
    filter.createdBefore ?? null,
    ...keysetParams(page, 'newest first'),
  ];
  const search = filter.q !== undefined;
  if (search) params.push(filter.q);
  const { rows } = await tx.query<IncidentListRow>(search ? SEARCH_INCIDENTS_SQL : LIST_INCIDENTS_SQL, params);
  return rows;
}

/** Whether `userId` is a member of the tenant (commanders and assignees must be). */
export async function isTenantMember(tx: Queryable, tenantId: string, userId: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2', [tenantId, userId]);
  return rows.length > 0;
}
