import { auditRowHash } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { chainBatch, listAuditRows, type AuditListRow } from './audit-logs.queries.js';
import type { AuditLogQuery } from './audit-logs.schema.js';

const VERIFY_BATCH = 1000;

function present(r: AuditListRow) {
  return {
    id: r.id,
    action: r.action,
    actor: { type: r.actor_type, id: r.actor_id },
    target: { type: r.target_type, id: r.target_id },
    metadata: r.metadata,
    ip: r.ip,
    userAgent: r.user_agent,
    traceId: r.trace_id,
    createdAt: r.created_at.toISOString(),
  };
}

export async function listAuditLogs(tx: Queryable, tenantId: string, q: AuditLogQuery) {
  const page = pageRequest(q, q);
  return pageOf(await listAuditRows(tx, tenantId, q, page), page, present);
}

/**
 * Walks the tenant's chain in seq order, a batch at a time (keyset on seq, so memory stays flat),
 * and stops at the first row that does not link to its predecessor (seq or prev_hash) or whose
 * hash is not the recomputation of its content.
 */
export async function verifyAuditChain(tx: Queryable, tenantId: string) {
  let prevHash: string | null = null;
  let prevSeq = 0;
  let checked = 0;
  for (;;) {
    const rows = await chainBatch(tx, tenantId, prevSeq, VERIFY_BATCH);
    for (const row of rows) {
      checked += 1;
      const linked = row.seq === prevSeq + 1 && row.prev_hash === prevHash;
      if (!linked || auditRowHash(row) !== row.hash) return { valid: false, checked, firstInvalidId: row.id };
      prevHash = row.hash;
      prevSeq = row.seq;
    }
    if (rows.length < VERIFY_BATCH) return { valid: true, checked, firstInvalidId: null };
  }
}
