import { randomBytes } from 'node:crypto';
import { hash } from '@node-rs/argon2';
import pg from 'pg';
import { issueApiKey } from '../../src/features/api-keys/api-key.token.js';
import { ARGON2_POLICY } from '../../src/features/auth/auth.passwords.js';
import { migrate } from '../../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import { cursorOfRow, encodeCursor, keyset } from '../../src/platform/http/pagination.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { saIdSql, tenantIdSql, userIdSql } from './ids.js';
import { alertFixturesSeeded, issueRoutingKeys, seedAlertFixtures, type AlertFixture } from './setup-alerts.js';

/** BENCH_DATABASE lets two checkouts bench side by side without dropping each other's database. */
export const BENCH_DATABASE = benchDatabaseName(process.env.BENCH_DATABASE);

function benchDatabaseName(value: string | undefined): string {
  if (value === undefined || value === '') return 'incident_tracker_bench';
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(value)) throw new Error('BENCH_DATABASE must be a lowercase SQL identifier of at most 51 characters');
  return value;
}
/** Regular tenants, numbered 1..100; tenant 0 is the big one. */
export const REGULAR_TENANTS = 100;
export const INCIDENTS_PER_TENANT = 1000;
/** The P5 page sits at depth 100,000, so the big tenant holds 100,000 rows above it plus that page (and its `limit + 1`). */
export const DEEP_OFFSET = 100_000;
export const BIG_TENANT_INCIDENTS = DEEP_OFFSET + 1 + 26;
/** Incidents per write tenant the P4 writers cycle through. */
const WRITE_INCIDENTS_PER_TENANT = 200;
const HUGE_QUOTA = 1_000_000_000;

export interface TenantFixture {
  index: number;
  id: string;
  /** Read+write API key of the tenant's service account. Never printed. */
  apiKey: string;
  ownerEmail: string;
}

export interface WriteIncident {
  id: string;
  severity: string;
}

export interface BenchData {
  databaseUrl: string;
  password: string;
  passwordHash: string;
  bigTenant: TenantFixture;
  /** Tenants 1..16: the list scenarios (one per connection) and the P3 session users. */
  listTenants: TenantFixture[];
  /** The P4 writers' tenants, each with the incidents its connection cycles through. */
  writeTenants: { tenant: TenantFixture; incidents: WriteIncident[] }[];
  /** Owners whose logins feed the P7/P8 flood. */
  loginEmails: string[];
  deepCursor: string;
  /** P14's ingesting tenants, each with its events-v2 source and routing key. */
  alertTenants: AlertFixture[];
  /** Every regular tenant by number (1..100; 0 is the big one), for scenarios that pick their own. */
  tenant: (index: number) => TenantFixture;
  timings: { createAndMigrateMs: number; seedMs: number; vacuumMs: number; keysMs: number };
  rows: { tenants: number; incidents: number; users: number; apiKeys: number };
}

export const ownerEmail = (i: number): string => `owner${i}@bench.example`;

export function benchDatabaseUrl(adminUrl: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${BENCH_DATABASE}`;
  return url.toString();
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-setup' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function benchDatabaseSeeded(adminUrl: string): Promise<boolean> {
  const exists = await withClient(adminUrl, (c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [BENCH_DATABASE]));
  if (exists.rowCount === 0) return false;
  return withClient(benchDatabaseUrl(adminUrl), async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'tenants'`,
    );
    if (rows[0]?.n !== 1) return false;
    const t = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
    const u = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE email LIKE '%@bench.example'`);
    return t.rows[0]?.n === REGULAR_TENANTS + 1 && u.rows[0]?.n === REGULAR_TENANTS + 1;
  });
}

async function createAndMigrate(adminUrl: string): Promise<void> {
  await withClient(adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${BENCH_DATABASE}`);
  });
  const db = createPostgresDatabase({
    url: benchDatabaseUrl(adminUrl),
    poolMax: 1,
    statementTimeoutMs: 600_000,
    connectionTimeoutMs: 5000,
    preparedStatements: true,
    logger: createLogger('warn'),
  });
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
}

/** Set-based seed as the owner (superuser) connection: RLS does not apply to it. */
async function seed(c: pg.Client, passwordHash: string): Promise<void> {
  const last = String(REGULAR_TENANTS);
  await c.query('BEGIN');
  await c.query(
    `INSERT INTO tenants (id, name, daily_write_quota, incident_seq)
     SELECT ${tenantIdSql('i')}, 'Bench tenant ' || i, $1::int,
            CASE WHEN i = 0 THEN $2::int ELSE $3::int END
       FROM generate_series(0, ${last}) i`,
    [HUGE_QUOTA, BIG_TENANT_INCIDENTS, INCIDENTS_PER_TENANT],
  );
  await c.query(
    `INSERT INTO users (id, email, name, password_hash)
     SELECT ${userIdSql('i')}, 'owner' || i || '@bench.example', 'Bench owner ' || i, $1
       FROM generate_series(0, ${last}) i`,
    [passwordHash],
  );
  await c.query(
    `INSERT INTO memberships (tenant_id, user_id, role)
     SELECT ${tenantIdSql('i')}, ${userIdSql('i')}, 'owner' FROM generate_series(0, ${last}) i`,
  );
  await c.query(
    `INSERT INTO service_accounts (tenant_id, id, name, created_by)
     SELECT ${tenantIdSql('i')}, ${saIdSql('i')}, 'bench loader', ${userIdSql('i')} FROM generate_series(0, ${last}) i`,
  );
  // Numbers 1..n per tenant, created one second apart from a fixed origin, so the newest first
  // order is by number and the row at any depth is known. Status and severity vary by number,
  // with the status timestamps a real incident in that status would carry.
  await c.query(
    `INSERT INTO incidents (tenant_id, number, title, description, severity, status, created_by_type, created_by_id,
                            started_at, identified_at, monitoring_at, resolved_at, created_at, updated_at)
     SELECT t.id, n,
            'Incident ' || n || ': elevated error rate on checkout',
            'Seeded for the load benchmark. Customers see intermittent 502 responses.',
            (ARRAY['SEV1', 'SEV2', 'SEV3', 'SEV4'])[1 + n % 4],
            (ARRAY['investigating', 'identified', 'monitoring', 'resolved'])[1 + (n / 4) % 4],
            'service_account', t.sa,
            ts,
            CASE WHEN (n / 4) % 4 >= 1 THEN ts + interval '10 minutes' END,
            CASE WHEN (n / 4) % 4 >= 2 THEN ts + interval '20 minutes' END,
            CASE WHEN (n / 4) % 4 >= 3 THEN ts + interval '30 minutes' END,
            ts, ts
       FROM (SELECT ${tenantIdSql('i')} AS id, ${saIdSql('i')} AS sa,
                    CASE WHEN i = 0 THEN $1::int ELSE $2::int END AS cnt
               FROM generate_series(0, ${last}) i) t
       CROSS JOIN LATERAL generate_series(1, t.cnt) n
       CROSS JOIN LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + n * interval '1 second' AS ts) s`,
    [BIG_TENANT_INCIDENTS, INCIDENTS_PER_TENANT],
  );
  await seedAlertFixtures(c, BIG_TENANT_INCIDENTS);
  await c.query('COMMIT');
}

/** Fresh read+write keys for every tenant (existing bench keys are replaced: keys exist only in memory). */
async function issueKeys(c: pg.Client): Promise<Map<number, string>> {
  const keys = new Map<number, string>();
  const idx: number[] = [];
  const publicIds: string[] = [];
  const hashes: string[] = [];
  for (let i = 0; i <= REGULAR_TENANTS; i++) {
    const k = issueApiKey();
    keys.set(i, k.key);
    idx.push(i);
    publicIds.push(k.publicId);
    hashes.push(k.secretHash);
  }
  await c.query('BEGIN');
  await c.query(`DELETE FROM api_keys WHERE name = 'bench key'`);
  await c.query(
    `INSERT INTO api_keys (tenant_id, service_account_id, name, public_id, secret_hash, scopes, created_by)
     SELECT ${tenantIdSql('k.i')}, ${saIdSql('k.i')}, 'bench key', k.public_id, k.secret_hash, ARRAY['read', 'write'], ${userIdSql('k.i')}
       FROM unnest($1::int[], $2::text[], $3::text[]) AS k(i, public_id, secret_hash)`,
    [idx, publicIds, hashes],
  );
  await c.query('COMMIT');
  return keys;
}

function elapsed(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Creates, migrates and seeds `incident_tracker_bench` (or, with `reuse`, keeps a seeded one),
 * then issues API keys and reads the fixtures the scenarios need.
 */
export async function setUp(opts: { adminUrl: string; reuse: boolean; writeTenants: number; log: (line: string) => void }): Promise<BenchData> {
  const databaseUrl = benchDatabaseUrl(opts.adminUrl);
  const password = `bench-${randomBytes(12).toString('base64url')}`;
  const passwordHash = await hash(password, { ...ARGON2_POLICY });
  const timings = { createAndMigrateMs: 0, seedMs: 0, vacuumMs: 0, keysMs: 0 };

  const reuse = opts.reuse && (await benchDatabaseSeeded(opts.adminUrl));
  if (reuse) {
    opts.log(`reusing the seeded database ${BENCH_DATABASE}`);
    await withClient(databaseUrl, (c) => c.query(`UPDATE users SET password_hash = $1 WHERE email LIKE '%@bench.example'`, [passwordHash]));
    // A database seeded before P14/P15 existed gets their fixtures now.
    await withClient(databaseUrl, async (c) => {
      if (await alertFixturesSeeded(c)) return;
      opts.log('adding the P14/P15 fixtures to the reused database');
      await c.query('BEGIN');
      await seedAlertFixtures(c, BIG_TENANT_INCIDENTS);
      await c.query('COMMIT');
      await c.query('VACUUM ANALYZE incidents, alert_sources');
    });
  } else {
    let t = process.hrtime.bigint();
    await createAndMigrate(opts.adminUrl);
    timings.createAndMigrateMs = elapsed(t);
    t = process.hrtime.bigint();
    await withClient(databaseUrl, (c) => seed(c, passwordHash));
    timings.seedMs = elapsed(t);
    t = process.hrtime.bigint();
    await withClient(databaseUrl, (c) => c.query('VACUUM ANALYZE'));
    timings.vacuumMs = elapsed(t);
    const total = timings.seedMs + timings.vacuumMs;
    opts.log(
      `seeded in ${(timings.seedMs / 1000).toFixed(1)} s (+ VACUUM ANALYZE ${(timings.vacuumMs / 1000).toFixed(1)} s = ${(total / 1000).toFixed(1)} s${total > 60_000 ? ', OVER the 60 s budget' : ', under the 60 s budget'}); create + migrate ${(timings.createAndMigrateMs / 1000).toFixed(1)} s`,
    );
  }

  return withClient(databaseUrl, async (c) => {
    const t = process.hrtime.bigint();
    const keys = await issueKeys(c);
    timings.keysMs = elapsed(t);
    const tenantIds = await c.query<{ i: number; id: string }>(
      `SELECT i, ${tenantIdSql('i')}::text AS id FROM generate_series(0, ${REGULAR_TENANTS}) i ORDER BY i`,
    );
    const fixture = (i: number): TenantFixture => {
      const id = tenantIds.rows[i]?.id;
      const apiKey = keys.get(i);
      if (!id || !apiKey) throw new Error(`no fixture for tenant ${i}`);
      return { index: i, id, apiKey, ownerEmail: ownerEmail(i) };
    };
    const listTenants = Array.from({ length: 16 }, (_, k) => fixture(1 + k));
    const writeFixtures = Array.from({ length: Math.min(opts.writeTenants, 32) }, (_, k) => fixture(17 + k));
    const loginEmails = Array.from({ length: 16 }, (_, k) => ownerEmail(60 + k));
    const writes = await c.query<{ tenant_id: string; id: string; severity: string }>(
      `SELECT tenant_id::text, id::text, severity FROM incidents
        WHERE tenant_id = ANY($1::uuid[]) AND number <= $2 ORDER BY tenant_id, number`,
      [writeFixtures.map((f) => f.id), WRITE_INCIDENTS_PER_TENANT],
    );
    const writeTenants = writeFixtures.map((tenant) => ({
      tenant,
      incidents: writes.rows.filter((r) => r.tenant_id === tenant.id).map((r) => ({ id: r.id, severity: r.severity })),
    }));
    const big = fixture(0);
    const alertTenants = await issueRoutingKeys(c, fixture);
    const deep = await c.query<{ cursor_key: string }>(
      `SELECT ${keyset('newest first', 1).key} FROM incidents WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1`,
      [big.id, DEEP_OFFSET],
    );
    const deepRow = deep.rows[0];
    if (!deepRow) throw new Error('the big tenant has no row at the deep offset');
    const counts = await c.query<{ tenants: number; incidents: number; users: number; api_keys: number }>(
      `SELECT (SELECT count(*)::int FROM tenants) AS tenants, (SELECT count(*)::int FROM incidents) AS incidents,
              (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM api_keys) AS api_keys`,
    );
    const r = counts.rows[0];
    return {
      databaseUrl,
      password,
      passwordHash,
      bigTenant: big,
      listTenants,
      writeTenants,
      loginEmails,
      deepCursor: encodeCursor(cursorOfRow(deepRow)),
      alertTenants,
      tenant: fixture,
      timings,
      rows: { tenants: r?.tenants ?? 0, incidents: r?.incidents ?? 0, users: r?.users ?? 0, apiKeys: r?.api_keys ?? 0 },
    };
  });
}
