import type { Queryable } from '../../platform/db/database.js';
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
 * Counts one incident write against today's quota, inside the write's own transaction: one
 * statement that increments only while under the limit. It is sent at once, ahead of the write's
 * own statements (which leave in the same round trip); the returned check awaits the answer and
 * throws QUOTA_EXCEEDED when the tenant was already at its limit. The row lock it takes serialises
 * concurrent writers of a tenant, so exactly `limit` succeed; a rollback (any failure of the write)
 * un-counts it.
 */
export function consumeWriteQuota(tx: Queryable, tenantId: string, now: Date, defaultLimit: number): () => Promise<QuotaState> {
  const day = utcDay(now);
  const resetAt = nextUtcMidnight(now);
  // The tenant's limit is read in the same statement.
  const counted = tx.query<{ incident_writes: number; quota_limit: number }>(
    `WITH lim AS (SELECT COALESCE((SELECT daily_write_quota FROM tenants WHERE id = $1), $3::int) AS n)
     INSERT INTO usage_counters AS u (tenant_id, day, incident_writes)
       SELECT $1, $2::date, 1 FROM lim WHERE lim.n >= 1
     ON CONFLICT (tenant_id, day) DO UPDATE SET incident_writes = u.incident_writes + 1
       WHERE u.incident_writes < (SELECT n FROM lim)
     RETURNING incident_writes, (SELECT n FROM lim) AS quota_limit`,
    [tenantId, day, defaultLimit],
  );
  return async () => {
    const row = (await counted).rows[0];
    if (row === undefined) {
      const limit = await tenantQuotaLimit(tx, tenantId, defaultLimit);
      const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
      throw new AppError('QUOTA_EXCEEDED', {
        details: { limit, used: limit, resetAt: resetAt.toISOString() },
        headers: { 'Retry-After': String(retryAfter), ...quotaHeaders({ limit, used: limit, remaining: 0, resetAt }) },
      });
    }
    const { incident_writes: used, quota_limit: limit } = row;
    return { limit, used, remaining: Math.max(0, limit - used), resetAt };
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
