import type pg from 'pg';
import { generateRoutingKey } from '../../src/features/alerts/routing-key.js';
import { saIdSql, tenantIdSql, uuidSql } from './ids.js';
import type { TenantFixture } from './setup.js';

/**
 * What P14 (alert ingestion) and P15 (analytics) need beyond the base seed: an events-v2 alert
 * source per ingestion tenant, with a routing key the harness knows (the database holds only its
 * SHA-256, so keys are issued afresh every run, as API keys are), and acknowledgement and
 * resolution times spread over a year for the big tenant's incidents.
 */

/** Tenants 84..99 ingest alerts (one per connection), clear of the list, write and login tenants. */
export const ALERT_TENANT_FIRST = 84;
export const ALERT_TENANTS = 16;
/** P14 sends this many distinct dedup keys in all, each many times (spread over the tenants' sources). */
export const DEDUP_KEYS = 1000;
/** P15 reads the big tenant's incidents of 2025 (its started_at values span that year) by week. */
export const ANALYTICS_FROM = '2025-01-01T00:00:00.000Z';
export const ANALYTICS_TO = '2026-01-01T00:00:00.000Z';

export interface AlertFixture {
  tenant: TenantFixture;
  sourceId: string;
  /** The plain routing key of the source. Never printed. */
  routingKey: string;
}

const sourceIdSql = (i: string): string => uuidSql('alert-source', i);

/**
 * Set-based, as the owner connection, inside the seed's transaction: the alert sources (grouping
 * window 0, so each new dedup key opens its own incident, as P14's warm-up does once per key), and
 * the big tenant's incidents moved onto a year of `started_at` (one every ~5 minutes of 2025), with
 * acknowledgement 1 minute to 2 hours later for every incident past `investigating` and resolution
 * up to a day after that for the resolved ones, so the analytics figures have real spread.
 * `created_at` is untouched: P5's keyset depth does not move.
 */
export async function seedAlertFixtures(c: pg.Client, bigTenantIncidents: number): Promise<void> {
  await c.query(
    `INSERT INTO alert_sources (tenant_id, id, name, kind, default_severity, auto_resolve, grouping_window_seconds, key_hash, created_at, updated_at)
     SELECT ${tenantIdSql('i')}, ${sourceIdSql('i')}, 'Bench monitoring', 'events_v2', 'SEV3', true, 0,
            encode(sha256(convert_to('unissued-' || i, 'UTF8')), 'hex'), now(), now()
       FROM generate_series($1::int, $2::int) i
     ON CONFLICT DO NOTHING`,
    [ALERT_TENANT_FIRST, ALERT_TENANT_FIRST + ALERT_TENANTS - 1],
  );
  await c.query(
    `UPDATE incidents i
        SET started_at = s.started,
            acknowledged_at = CASE WHEN i.status <> 'investigating' THEN s.started + s.ack END,
            acknowledged_by_type = CASE WHEN i.status <> 'investigating' THEN 'service_account' END,
            acknowledged_by_id = CASE WHEN i.status <> 'investigating' THEN ${saIdSql('0')} END,
            identified_at = CASE WHEN i.status <> 'investigating' THEN s.started + s.ack END,
            monitoring_at = CASE WHEN i.status IN ('monitoring', 'resolved') THEN s.started + s.ack + s.fix / 2 END,
            resolved_at = CASE WHEN i.status = 'resolved' THEN s.started + s.ack + s.fix END
       FROM (SELECT n, timestamptz '2025-01-01 00:00:00+00' + (n - 1) * (interval '365 days' / $1::int) AS started,
                    make_interval(secs => 60 + (n::bigint * 7919) % 7140) AS ack,
                    make_interval(secs => 300 + (n::bigint * 104729) % 86100) AS fix
               FROM generate_series(1, $1::int) n) s
      WHERE i.tenant_id = ${tenantIdSql('0')} AND i.number = s.n`,
    [bigTenantIncidents],
  );
}

/** Whether `seedAlertFixtures` has run on this database (a database seeded before it existed has no sources). */
export async function alertFixturesSeeded(c: pg.Client): Promise<boolean> {
  const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM alert_sources WHERE name = 'Bench monitoring'`);
  return rows[0]?.n === ALERT_TENANTS;
}

/** Fresh routing keys for the bench sources (the digests replace the old ones), returned per tenant. */
export async function issueRoutingKeys(c: pg.Client, fixture: (i: number) => TenantFixture): Promise<AlertFixture[]> {
  const out: AlertFixture[] = [];
  const idx: number[] = [];
  const hashes: string[] = [];
  for (let k = 0; k < ALERT_TENANTS; k++) {
    const i = ALERT_TENANT_FIRST + k;
    const { key, hash } = generateRoutingKey();
    idx.push(i);
    hashes.push(hash);
    out.push({ tenant: fixture(i), sourceId: '', routingKey: key });
  }
  const { rows } = await c.query<{ i: number; id: string }>(
    `UPDATE alert_sources s SET key_hash = k.hash, deleted_at = NULL
       FROM unnest($1::int[], $2::text[]) AS k(i, hash)
      WHERE s.tenant_id = ${tenantIdSql('k.i')} AND s.id = ${sourceIdSql('k.i')}
      RETURNING k.i, s.id::text`,
    [idx, hashes],
  );
  for (const r of rows) {
    const f = out[r.i - ALERT_TENANT_FIRST];
    if (f) f.sourceId = r.id;
  }
  if (out.some((f) => f.sourceId === '')) throw new Error('bench alert sources missing: re-seed without --reuse-db');
  return out;
}
