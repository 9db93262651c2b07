/**
 * GET /v1/analytics/incidents against a recomputation from the raw rows: a tenant seeded with
 * incidents at known timestamps (through the system path, set-based), and every bucket's count,
 * acknowledged, resolved, and MTTA/MTTR mean, p50 and p90 recomputed here from the rows
 * themselves, with the published definitions (percentile_cont: linear interpolation).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { insertApiKey, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { MANY_USERS_ENV } from '../incidents/helpers.js';

let t: TestApp;
let owner: SessionClient;
let tenantId: string;
let rows: Seeded[];

interface Seeded {
  severity: string;
  status: string;
  started: number;
  acknowledged: number | null;
  resolved: number | null;
}

const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2026, 3, 1);
const HOUR = 3_600_000;

/** A deterministic spread over Q1 2026: statuses, severities, and response times of seconds to days. */
function seedRows(): Seeded[] {
  const out: Seeded[] = [];
  for (let i = 0; i < 240; i += 1) {
    const started = FROM + ((i * 9_173_000) % (TO - FROM - HOUR)) + (i % 7) * 1000;
    const acked = i % 5 === 0 ? null : started + ((i * 37_013) % (6 * HOUR)) + 1500;
    const resolvedNow = i % 3 !== 0;
    const resolved = resolvedNow ? (acked ?? started) + ((i * 91_033) % (48 * HOUR)) + 250 : null;
    out.push({ severity: `SEV${String((i % 4) + 1)}`, status: resolvedNow ? 'resolved' : i % 2 === 0 ? 'investigating' : 'identified', started, acknowledged: acked, resolved });
  }
  // Reopened: resolved once, now investigating again with resolved_at cleared; and one outside the range.
  out.push({ severity: 'SEV2', status: 'investigating', started: FROM + 5 * HOUR, acknowledged: FROM + 6 * HOUR, resolved: null });
  out.push({ severity: 'SEV1', status: 'resolved', started: TO + HOUR, acknowledged: TO + 2 * HOUR, resolved: TO + 3 * HOUR });
  return out;
}

beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
  ({ owner, tenantId } = await ownerWithTenant(t));
  rows = seedRows();
  const userId = owner.user?.id ?? '';
  await t.db.withSystemTx((tx) =>
    tx.query(
      `INSERT INTO incidents (tenant_id, number, title, severity, status, created_by_type, created_by_id, started_at,
         acknowledged_at, acknowledged_by_type, acknowledged_by_id, resolved_at, created_at, updated_at)
       SELECT $1, n, 'seeded ' || n, sev, st, 'user', $2, to_timestamp(s / 1000.0),
              to_timestamp(a / 1000.0), CASE WHEN a IS NULL THEN NULL ELSE 'user' END, CASE WHEN a IS NULL THEN NULL ELSE $2::uuid END,
              to_timestamp(r / 1000.0), to_timestamp(s / 1000.0), to_timestamp(s / 1000.0)
         FROM unnest($3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[]) WITH ORDINALITY AS x(sev, st, s, a, r, n)`,
      [tenantId, userId, rows.map((r) => r.severity), rows.map((r) => r.status), rows.map((r) => r.started), rows.map((r) => r.acknowledged), rows.map((r) => r.resolved)],
    ),
  );
});
afterAll(async () => {
  await t.close();
});

/** PostgreSQL's percentile_cont: linear interpolation between the nearest ranks. */
function percentileCont(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (rank - lo);
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function bucketStart(ms: number, interval: string): number {
  const d = new Date(ms);
  if (interval === 'day') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  if (interval === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
}

function nextBucket(ms: number, interval: string): number {
  const d = new Date(ms);
  if (interval === 'day') return ms + 86_400_000;
  if (interval === 'week') return ms + 7 * 86_400_000;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

interface Bucket {
  start: string;
  severity?: string;
  count: number;
  acknowledged: number;
  resolved: number;
  mtta: { mean: number | null; p50: number | null; p90: number | null };
  mttr: { mean: number | null; p50: number | null; p90: number | null };
}

function recompute(from: number, to: number, interval: string, bySeverity: boolean, severities: string[] = ['SEV1', 'SEV2', 'SEV3', 'SEV4']): Bucket[] {
  const inRange = rows.filter((r) => r.started >= from && r.started < to && severities.includes(r.severity));
  const out: Bucket[] = [];
  for (let start = bucketStart(from, interval); start < to; start = nextBucket(start, interval)) {
    for (const severity of bySeverity ? [...severities].sort() : [null]) {
      const mine = inRange.filter((r) => bucketStart(r.started, interval) === start && (severity === null || r.severity === severity));
      const tta = mine.filter((r) => r.acknowledged !== null).map((r) => ((r.acknowledged as number) - r.started) / 1000);
      const ttr = mine.filter((r) => r.status === 'resolved').map((r) => ((r.resolved as number) - r.started) / 1000);
      out.push({
        start: new Date(start).toISOString().replace('.000Z', 'Z'),
        ...(severity === null ? {} : { severity }),
        count: mine.length,
        acknowledged: tta.length,
        resolved: ttr.length,
        mtta: { mean: mean(tta), p50: percentileCont(tta, 0.5), p90: percentileCont(tta, 0.9) },
        mttr: { mean: mean(ttr), p50: percentileCont(ttr, 0.5), p90: percentileCont(ttr, 0.9) },
      });
    }
  }
  return out;
}

function expectSameBuckets(actual: Bucket[], expected: Bucket[]): void {
  expect(actual.map((b) => [b.start, b.severity, b.count, b.acknowledged, b.resolved])).toEqual(expected.map((b) => [b.start, b.severity, b.count, b.acknowledged, b.resolved]));
  actual.forEach((b, i) => {
    const e = expected[i] as Bucket;
    for (const metric of ['mtta', 'mttr'] as const) {
      for (const stat of ['mean', 'p50', 'p90'] as const) {
        const want = e[metric][stat];
        if (want === null) expect(b[metric][stat], `${b.start} ${metric}.${stat}`).toBeNull();
        else expect(b[metric][stat], `${b.start} ${metric}.${stat}`).toBeCloseTo(want, 6);
      }
    }
  });
}

describe('GET /v1/analytics/incidents', () => {
  it.each([
    ['day', 'none'],
    ['week', 'none'],
    ['month', 'none'],
    ['week', 'severity'],
    ['month', 'severity'],
  ])('by %s, grouped by %s: every bucket equals a recomputation from the raw rows', async (interval, groupBy) => {
    const res = await owner.get(`/v1/analytics/incidents?from=${new Date(FROM).toISOString()}&to=${new Date(TO).toISOString()}&interval=${interval}&groupBy=${groupBy}`).expect(200);
    const body = res.body as { buckets: Bucket[]; definitions: Record<string, string>; interval: string };
    expect(body.interval).toBe(interval);
    expect(Object.keys(body.definitions).sort()).toEqual(['buckets', 'mtta', 'mttr', 'percentiles']);
    const expected = recompute(FROM, TO, interval, groupBy === 'severity');
    expect(expected.reduce((n, b) => n + b.count, 0)).toBe(rows.length - 1);
    expectSameBuckets(body.buckets, expected);
  });

  it('filters by severity and honours a range that does not start on a bucket boundary', async () => {
    const from = FROM + 10 * 86_400_000 + 5 * HOUR;
    const to = FROM + 40 * 86_400_000;
    const res = await owner.get(`/v1/analytics/incidents?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&interval=week&groupBy=severity&severity=SEV1,SEV3`).expect(200);
    expectSameBuckets((res.body as { buckets: Bucket[] }).buckets, recompute(from, to, 'week', true, ['SEV1', 'SEV3']));
  });

  it('defaults to the last 30 days by day, and is readable with an API key', async () => {
    const key = await insertApiKey(t, tenantId, ['read']);
    const res = await t.request().get('/v1/analytics/incidents').set('x-api-key', key).expect(200);
    const body = res.body as { from: string; to: string; interval: string; buckets: Bucket[] };
    expect(body.interval).toBe('day');
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(30 * 86_400_000);
    expect(body.buckets.length).toBeGreaterThanOrEqual(30);
    expect(body.buckets.length).toBeLessThanOrEqual(31);
  });

  it('refuses a range over 366 days or backwards with 400 VALIDATION_FAILED', async () => {
    const long = await owner.get(`/v1/analytics/incidents?from=2024-01-01T00:00:00Z&to=2025-01-02T00:00:01Z`);
    expect(long.status).toBe(400);
    expect((long.body as { code: string }).code).toBe('VALIDATION_FAILED');
    const backwards = await owner.get(`/v1/analytics/incidents?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`);
    expect(backwards.status).toBe(400);
    expect((await owner.get('/v1/analytics/incidents?interval=year')).status).toBe(400);
  });

  it('answers from the index that leads with tenant_id (no scan of other tenants)', async () => {
    const { rows: plan } = await t.db.withSystemTx(async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      return tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT count(*) FROM incidents WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3`,
        [tenantId, new Date(FROM), new Date(TO)],
      );
    });
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('incidents_tenant_started_idx');
  });
});
