import type { AuditRow } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';

export interface AuditFilters {
  action?: string | undefined;
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export type AuditListRow = Omit<AuditRow, 'tenant_id' | 'seq' | 'prev_hash' | 'hash'>;

/**
 * One keyset page (limit + 1 rows) of the tenant's chain, newest first on (created_at, id). Each
 * filter is either null (ignored) or applied, so the statement text never depends on input.
 */
export async function listAuditRows(tx: Queryable, tenantId: string, f: AuditFilters, cursor: Cursor | null, limit: number): Promise<AuditListRow[]> {
  const { rows } = await tx.query<AuditListRow>(
    `SELECT id, actor_type, actor_id, action, target_type, target_id, metadata, ip, user_agent, trace_id, created_at
       FROM audit_log_events
      WHERE tenant_id = $1
        AND ($2::text IS NULL OR action = $2)
        AND ($3::uuid IS NULL OR actor_id = $3)
        AND ($4::text IS NULL OR target_type = $4)
        AND ($5::text IS NULL OR target_id = $5)
        AND ($6::timestamptz IS NULL OR created_at >= $6)
        AND ($7::timestamptz IS NULL OR created_at < $7)
        AND ($8::timestamptz IS NULL OR (created_at, id) < ($8::timestamptz, $9::uuid))
      ORDER BY created_at DESC, id DESC
      LIMIT $10`,
    [
      tenantId,
      f.action ?? null,
      f.actorId ?? null,
      f.targetType ?? null,
      f.targetId ?? null,
      f.since ?? null,
      f.until ?? null,
      cursor?.createdAt ?? null,
      cursor?.id ?? null,
      limit + 1,
    ],
  );
  return rows;
}

/** The next `batch` rows of the tenant's chain after position `afterSeq`, in chain order. */
export async function chainBatch(tx: Queryable, tenantId: string, afterSeq: number, batch: number): Promise<AuditRow[]> {
  const { rows } = await tx.query<AuditRow>(
    `SELECT id, tenant_id, seq, actor_type, actor_id, action, target_type, target_id, metadata, ip, user_agent,
            trace_id, created_at, prev_hash, hash
       FROM audit_log_events
      WHERE tenant_id = $1 AND seq > $2
      ORDER BY seq
      LIMIT $3`,
    [tenantId, afterSeq, batch],
  );
  return rows;
}
