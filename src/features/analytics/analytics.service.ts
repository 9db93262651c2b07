import type { Queryable } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/errors.js';
import { incidentBuckets, type BucketRow } from './analytics.queries.js';
import type { IncidentAnalyticsQuery } from './analytics.schema.js';

const DAY_MS = 86_400_000;
export const MAX_RANGE_DAYS = 366;
export const DEFAULT_RANGE_DAYS = 30;

/** Published with every answer, so a reader knows exactly what the figures measure. */
export const DEFINITIONS = {
  mtta:
    'Mean time to acknowledge: acknowledgedAt - startedAt, in seconds, over the bucket\'s incidents that have been acknowledged (POST /acknowledge, leaving investigating, a status update, or an events-v2 acknowledge).',
  mttr: 'Mean time to resolve: resolvedAt - startedAt, in seconds, over the bucket\'s incidents whose status is resolved now (a reopened incident counts once resolved again).',
  percentiles: 'p50 and p90 are continuous percentiles (linear interpolation between the nearest ranks, PostgreSQL percentile_cont). Figures are null where a bucket has no such incident.',
  buckets: 'Incidents are counted in the UTC day, ISO week (from Monday) or calendar month in which they started (startedAt), for startedAt in [from, to).',
} as const;

function figures(mean: number | null, p50: number | null, p90: number | null) {
  return { mean, p50, p90 };
}

function presentBucket(r: BucketRow, bySeverity: boolean) {
  return {
    start: r.start,
    ...(bySeverity ? { severity: r.severity } : {}),
    count: r.count,
    acknowledged: r.acknowledged,
    resolved: r.resolved,
    mtta: figures(r.mtta_mean, r.mtta_p50, r.mtta_p90),
    mttr: figures(r.mttr_mean, r.mttr_p50, r.mttr_p90),
  };
}

function rangeError(message: string): AppError {
  return new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'from', message }] } });
}

/** GET /v1/analytics/incidents: the range defaults to the last 30 days and may span at most 366. */
export async function incidentAnalytics(tx: Queryable, tenantId: string, now: Date, query: IncidentAnalyticsQuery) {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_DAYS * DAY_MS);
  if (from.getTime() >= to.getTime()) throw rangeError('from must be before to.');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) throw rangeError(`The range may span at most ${String(MAX_RANGE_DAYS)} days.`);
  const bySeverity = query.groupBy === 'severity';
  const rows = await incidentBuckets(tx, { tenantId, from, to, interval: query.interval, bySeverity, severities: query.severity ?? null });
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    interval: query.interval,
    groupBy: query.groupBy,
    buckets: rows.map((r) => presentBucket(r, bySeverity)),
    definitions: DEFINITIONS,
  };
}
