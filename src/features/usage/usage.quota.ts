import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable, TxLookup } from '../../platform/db/database.js';
import type { WriteQuota } from '../../platform/http/quota.js';
import { AppError } from '../../platform/http/errors.js';

export interface QuotaState {
  limit: number;
  used: number;
  remaining: number;
  /** Next 00:00 UTC. */
  resetAt: Date;
}

export function utcDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function nextUtcMidnight(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

export function quotaHeaders(q: QuotaState): Record<string, string> {
  return {
    'X-Quota-Limit': String(q.limit),
    'X-Quota-Remaining': String(q.remaining),
    'X-Quota-Reset': String(Math.floor(q.resetAt.getTime() / 1000)),
  };
}

export async function tenantQuotaLimit(tx: Queryable, tenantId: string, defaultLimit: number): Promise<number> {
  const { rows } = await tx.query<{ daily_write_quota: number | null }>(
    'SELECT daily_write_quota FROM tenants WHERE id = $1',
    [tenantId],
  );
  return rows[0]?.daily_write_quota ?? defaultLimit;
}

/**
 * Counts one incident write against today's quota of the transaction's tenant (set by the identity
 * lookup before it): one statement that increments only while under the limit and always answers
 * one row, with `incident_writes` null when the tenant was already at its limit. The row lock it
 * takes serialises concurrent writers of a tenant, so exactly `limit` succeed; a rollback (any
 * failure of the write) un-counts it.
 */
export function countWrite(now: Date, defaultLimit: number): TxLookup {
  return {
    sql: `WITH lim AS (
            SELECT t.id, COALESCE(t.daily_write_quota, $2::int) AS n FROM tenants t
             WHERE t.id = NULLIF(current_setting('app.tenant_id', true), '')::uuid),
          counted AS (
            INSERT INTO usage_counters AS u (tenant_id, day, incident_writes)
              SELECT lim.id, $1::date, 1 FROM lim WHERE lim.n >= 1
            ON CONFLICT (tenant_id, day) DO UPDATE SET incident_writes = u.incident_writes + 1
              WHERE u.incident_writes < (SELECT n FROM lim)
            RETURNING incident_writes)
          SELECT (SELECT incident_writes FROM counted) AS incident_writes, (SELECT n FROM lim) AS quota_limit`,
    params: [utcDay(now), defaultLimit],
  };
}

/** The quota after `countWrite`, or QUOTA_EXCEEDED when the write was not counted. */
export function decideWrite(rows: readonly Record<string, unknown>[], now: Date): QuotaState {
  const row = rows[0] as { incident_writes: number | null; quota_limit: number | null } | undefined;
  const resetAt = nextUtcMidnight(now);
  const limit = row?.quota_limit ?? 0;
  if (row?.incident_writes == null) {
    const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
    throw new AppError('QUOTA_EXCEEDED', {
      details: { limit, used: limit, resetAt: resetAt.toISOString() },
      headers: { 'Retry-After': String(retryAfter), ...quotaHeaders({ limit, used: limit, remaining: 0, resetAt }) },
    });
  }
  const used = row.incident_writes;
  return { limit, used, remaining: Math.max(0, limit - used), resetAt };
}

/** The incident write quota, as the route pipeline takes it (see platform/http/quota.ts). */
export function incidentWriteQuota(defaultLimit: number): WriteQuota {
  return {
    count: (now) => countWrite(now, defaultLimit),
    decide: (rows, now) => quotaHeaders(decideWrite(rows, now)),
    async refused(tx, ctx, err, request) {
      const tenantId = ctx.tenant?.id;
      if (tenantId === undefined || !(await markQuotaExceeded(tx, tenantId, ctx.now))) return;
      await recordAuditEvent(tx, ctx, tenantId, {
        action: 'quota.exceeded',
        target: { type: 'tenant', id: tenantId },
        metadata: { limit: err.details.limit, method: request.method, path: request.path },
      });
    },
  };
}

/**
 * Marks today's counter as exceeded; true the first time per tenant per day (audit once). The
 * counter row is locked before the audit chain, the order a metered write takes them in (it counts
 * first), so the two never deadlock.
 */
export async function markQuotaExceeded(tx: Queryable, tenantId: string, now: Date): Promise<boolean> {
  const { rows } = await tx.query(
    `INSERT INTO usage_counters AS u (tenant_id, day, incident_writes, exceeded_at) VALUES ($1, $2::date, 0, $3)
     ON CONFLICT (tenant_id, day) DO UPDATE SET exceeded_at = $3 WHERE u.exceeded_at IS NULL
     RETURNING 1`,
    [tenantId, utcDay(now), now],
  );
  return rows.length > 0;
}
