import type { Queryable } from '../../platform/db/database.js';
import type { Severity } from '../incidents/incidents.schema.js';
import type { Interval } from './analytics.schema.js';

export interface BucketRow {
  start: string;
  severity: Severity | null;
  count: number;
  acknowledged: number;
  resolved: number;
  mtta_mean: number | null;
  mtta_p50: number | null;
  mtta_p90: number | null;
  mttr_mean: number | null;
  mttr_p50: number | null;
  mttr_p90: number | null;
}

/**
 * Incident counts and response times per UTC bucket of `started_at`, in one statement: a range
 * scan of incidents_tenant_started_idx (tenant_id, started_at, covering the other columns) for
 * [from, to), grouped by the bucket (and severity), joined onto every bucket of the range so that
 * empty ones are listed too. Buckets are computed on UTC wall time (`AT TIME ZONE 'UTC'`), so the
 * session's time zone never moves a boundary. Percentiles are `percentile_cont` (linear
 * interpolation); NULLs (unacknowledged, unresolved) are filtered out of each figure.
 */
export async function incidentBuckets(
  tx: Queryable,
  q: { tenantId: string; from: Date; to: Date; interval: Interval; bySeverity: boolean; severities: readonly Severity[] | null },
): Promise<BucketRow[]> {
  const { rows } = await tx.query<BucketRow>(
    `WITH figures AS (
       SELECT date_trunc($4, started_at AT TIME ZONE 'UTC') AS start,
              CASE WHEN $5::boolean THEN severity END AS severity,
              count(*)::int AS count,
              count(acknowledged_at)::int AS acknowledged,
              count(*) FILTER (WHERE status = 'resolved')::int AS resolved,
              avg(extract(epoch FROM acknowledged_at - started_at)::float8) AS mtta_mean,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - started_at)::float8)
                FILTER (WHERE acknowledged_at IS NOT NULL) AS mtta_p50,
              percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - started_at)::float8)
                FILTER (WHERE acknowledged_at IS NOT NULL) AS mtta_p90,
              avg(extract(epoch FROM resolved_at - started_at)::float8) FILTER (WHERE status = 'resolved') AS mttr_mean,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - started_at)::float8)
                FILTER (WHERE status = 'resolved' AND resolved_at IS NOT NULL) AS mttr_p50,
              percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - started_at)::float8)
                FILTER (WHERE status = 'resolved' AND resolved_at IS NOT NULL) AS mttr_p90
         FROM incidents
        WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
          AND ($6::text[] IS NULL OR severity = ANY ($6::text[]))
        GROUP BY 1, 2),
     starts AS (
       SELECT generate_series(date_trunc($4, $2::timestamptz AT TIME ZONE 'UTC'), $3::timestamptz AT TIME ZONE 'UTC' - interval '1 microsecond',
                              ('1 ' || $4)::interval) AS start),
     keys AS (
       SELECT s.start, v.severity FROM starts s
         CROSS JOIN (SELECT unnest(CASE WHEN $5::boolean THEN COALESCE($6::text[], ARRAY['SEV1', 'SEV2', 'SEV3', 'SEV4']) ELSE ARRAY[NULL::text] END) AS severity) v)
     SELECT to_char(k.start, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS start, k.severity,
            COALESCE(f.count, 0) AS count, COALESCE(f.acknowledged, 0) AS acknowledged, COALESCE(f.resolved, 0) AS resolved,
            f.mtta_mean, f.mtta_p50, f.mtta_p90, f.mttr_mean, f.mttr_p50, f.mttr_p90
       FROM keys k LEFT JOIN figures f ON f.start = k.start AND f.severity IS NOT DISTINCT FROM k.severity
      ORDER BY k.start, k.severity`,
    [q.tenantId, q.from, q.to, q.interval, q.bySeverity, q.severities],
  );
  return rows;
}
