import type { AuditRow } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { columnsOf } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';

export interface AuditFilters {
  action?: string | undefined;
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export type AuditListRow = Omit<AuditRow, 'tenant_id' | 'seq' | 'prev_hash' | 'hash'>;

const LIST_COLUMNS = columnsOf<AuditListRow>()(
  'id',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'metadata',
  'ip',
  'user_agent',
  'trace_id',
  'created_at',
);
const CHAIN_COLUMNS = columnsOf<AuditRow>()(
  'id',
  'tenant_id',
  'seq',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'metadata',
  'ip',
  'user_agent',
  'trace_id',
  'created_at',
  'prev_hash',
  'hash',
);

const PAGE = keyset('newest first', 8);
/** Each filter is either null (ignored) or applied, so the statement text never depends on input. */
const LIST_AUDIT_SQL = `SELECT ${LIST_COLUMNS}, ${PAGE.key}
       FROM audit_log_events
      WHERE tenant_id = $1
        AND ($2::text IS NULL OR action = $2)
        AND ($3::uuid IS NULL OR actor_id = $3)
        AND ($4::text IS NULL OR target_type = $4)
        AND ($5::text IS NULL OR target_id = $5)
        AND created_at >= coalesce($6::timestamptz, '-infinity')
        AND created_at < coalesce($7::timestamptz, 'infinity')
        AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** One keyset page of the tenant's chain, newest first. */
export async function listAuditRows(tx: Queryable, tenantId: string, f: AuditFilters, page: PageRequest): Promise<(AuditListRow & KeyedRow)[]> {
  const { rows } = await tx.query<AuditListRow & KeyedRow>(LIST_AUDIT_SQL, [
    tenantId,
    f.action ?? null,
    f.actorId ?? null,
    f.targetType ?? null,
    f.targetId ?? null,
    f.since ?? null,
    f.until ?? null,
    ...keysetParams(page, 'newest first'),
  ]);
  return rows;
}

/** The next `batch` rows of the tenant's chain after position `afterSeq`, in chain order. */
export async function chainBatch(tx: Queryable, tenantId: string, afterSeq: number, batch: number): Promise<AuditRow[]> {
  const { rows } = await tx.query<AuditRow>(
    `SELECT ${CHAIN_COLUMNS}
       FROM audit_log_events
      WHERE tenant_id = $1 AND seq > $2
      ORDER BY seq
      LIMIT $3`,
    [tenantId, afterSeq, batch],
  );
  return rows;
}
