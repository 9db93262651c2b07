import type { Queryable, TxLookup } from '../db/database.js';
import type { RequestContext } from './context.js';
import type { AppError } from './errors.js';

/**
 * Supplied by the usage feature: the daily write quota of metered routes. The count runs in the
 * request transaction's opening round trip, behind the identity lookup (which set the tenant), and
 * is decided before the handler runs: a metered handler never runs once the quota is used up. A
 * write that fails afterwards rolls its count back with everything else.
 */
export interface WriteQuota {
  /** Counts one write against the transaction's tenant, only while under its limit. */
  count(now: Date): TxLookup;
  /** From the count's rows: the quota headers of the counted write; throws QUOTA_EXCEEDED when none was left. */
  decide(rows: readonly Record<string, unknown>[], now: Date): Record<string, string>;
  /** Records a refusal in its own transaction, after the refused request rolled back. */
  refused(tx: Queryable, ctx: RequestContext, err: AppError, request: { method: string; path: string }): Promise<void>;
}
