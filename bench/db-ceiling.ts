import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { apiKeyLookup } from '../src/features/api-keys/api-key.auth.js';
import { INCIDENT_COLUMNS as COLUMNS } from '../src/features/incidents/incidents.queries.js';
import { appTxPreamble } from '../src/platform/db/database.js';
import { log } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { BENCH_DATABASE, benchDatabaseSeeded, withClient } from './lib/setup.js';
import { median, round } from './lib/stats.js';

/**
 * `pnpm bench:db-ceiling`: what the database alone allows P4, with no application in the way.
 *
 * pgbench runs the statements of the app's `PATCH /v1/incidents/:id` transaction (tenant
 * preamble and API-key lookup, quota, the incident's and the audit chain head's row locks, then
 * one statement with the UPDATE, a timeline event, the audit row, the event with its pg_notify and
 * the chain head's move, COMMIT; in the app's three pipelined round trips) beside B-update's bare
 * UPDATE, on a copy of the seeded bench database, with `pnpm bench`'s `--connections`, `--rounds`
 * and `--duration` (or `--quick`), interleaved; then with the writes as separate statements, and
 * that form without each of its parts, so each part's database cost is visible. The texts mirror
 * src/ (the preamble and the lookup are imported; the others follow incidents.queries.ts,
 * usage.quota.ts, audit.ts and events.record.ts), with literals for the parameters: one script per
 * tenant and incident, picked at random per transaction.
 *
 * The ratio `patch / bare` bounds P4 from above: the app cannot run the transaction faster than
 * PostgreSQL does with only pgbench beside it.
 */
const COPY = `${BENCH_DATABASE}_ceiling`;
const TENANTS = 16;
const INCIDENTS_PER_TENANT = 4;

interface Pick {
  tenantId: string;
  publicId: string;
  serviceAccountId: string;
  incidentId: string;
}

const opts = parseOptions(process.argv.slice(2), process.env);
const adminUrl = opts.adminDatabaseUrl;

function pgbenchBinary(): string {
  if (process.env.PGBENCH) return process.env.PGBENCH;
  const onPath = spawnSync('pgbench', ['--version']);
  if (onPath.status === 0) return 'pgbench';
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, 'bin', 'pgbench')).find((p) => existsSync(p));
  if (!found) throw new Error('pgbench not found: install postgresql-client (or set PGBENCH)');
  return found;
}

function scripts(p: Pick): Record<string, string[]> {
  const lit = (sql: string, ...values: string[]): string => values.reduce((s, v, i) => s.replaceAll(`$${String(i + 1)}`, `'${v}'`), sql);
  const settings = { tenantId: null, userId: null, apiKeyPublicId: p.publicId };
  const preamble = appTxPreamble(settings, 5000).replace(/^BEGIN; /, '');
  const lookup = apiKeyLookup(p.publicId);
  const update = `UPDATE incidents SET title = 'Ceiling ' || random()::text, severity = (ARRAY['SEV1','SEV2','SEV3','SEV4'])[1 + floor(random() * 4)::int],
       updated_at = now(), version = version + 1 WHERE tenant_id = '${p.tenantId}' AND id = '${p.incidentId}' RETURNING ${COLUMNS}`;
  const timeline = `INSERT INTO timeline_events (tenant_id, incident_id, type, message, occurred_at, actor_type, actor_id, created_at)
       VALUES ('${p.tenantId}', '${p.incidentId}', 'severity_changed', 'Severity changed from SEV2 to SEV3.', now(), 'service_account', '${p.serviceAccountId}', now())`;
  // The audit row and its chain head's move: one statement in the app (audit.ts), the head's seq
  // taken from the locked head row.
  const auditInsert = `INSERT INTO audit_log_events (id, tenant_id, seq, actor_type, actor_id, action, target_type, target_id,
           metadata, ip, user_agent, trace_id, created_at, prev_hash, hash)
         VALUES (gen_random_uuid(), '${p.tenantId}', (SELECT seq + 1 FROM audit_chain_heads WHERE tenant_id = '${p.tenantId}'), 'service_account',
           '${p.serviceAccountId}', 'incident.updated', 'incident', '${p.incidentId}',
           '{"changes": {"title": {"to": "Ceiling 1", "from": "Ceiling 0"}, "severity": {"to": "SEV3", "from": "SEV2"}}, "version": 35}',
           '198.18.0.1', 'node', md5(random()::text), now(), md5(random()::text) || md5(random()::text), md5(random()::text) || md5(random()::text))`;
  const headMove = `UPDATE audit_chain_heads SET seq = seq + 1, hash = md5(random()::text) || md5(random()::text), created_at = now() WHERE tenant_id = '${p.tenantId}'`;
  const eventData = JSON.stringify({ incident: { id: p.incidentId, title: 'Ceiling 1', severity: 'SEV3', status: 'investigating', version: 35 }, changes: { title: { from: 'Ceiling 0', to: 'Ceiling 1' } } }).replaceAll(':', ': ');
  const eventValues = (seq: string): string =>
    `'${p.tenantId}', ${seq}, gen_random_uuid(), 'incident.updated', '${p.incidentId}', 'service_account', '${p.serviceAccountId}', '${eventData}', now(), NULL`;
  const eventColumns = 'tenant_id, seq, id, type, incident_id, actor_type, actor_id, data, occurred_at, trace_parent';
  const headSeq = `(SELECT event_seq + 1 FROM audit_chain_heads WHERE tenant_id = '${p.tenantId}')`;
  const parts = {
    open: ['BEGIN;', `${preamble};`, `${lit(lookup.sql, p.publicId)};`],
    // The tenant set directly, as a session request's preamble does: no key lookup.
    openWithoutLookup: ['BEGIN;', `${appTxPreamble({ tenantId: p.tenantId, userId: null }, 5000).replace(/^BEGIN; /, '')};`],
    quota: [
      `WITH lim AS (SELECT COALESCE((SELECT daily_write_quota FROM tenants WHERE id = '${p.tenantId}'), 1000) AS n)
       INSERT INTO usage_counters AS u (tenant_id, day, incident_writes) SELECT '${p.tenantId}', current_date, 1 FROM lim WHERE lim.n >= 1
       ON CONFLICT (tenant_id, day) DO UPDATE SET incident_writes = u.incident_writes + 1 WHERE u.incident_writes < (SELECT n FROM lim)
       RETURNING incident_writes, (SELECT n FROM lim) AS quota_limit;`,
    ],
    // The incident's row lock, then the chain head's, in one statement (incidents.queries.ts, lockIncidentAndChain).
    locks: [
      `WITH locked AS MATERIALIZED (SELECT ${COLUMNS} FROM incidents WHERE tenant_id = '${p.tenantId}' AND id = '${p.incidentId}' FOR UPDATE)
       SELECT locked.*, head.* FROM locked LEFT JOIN LATERAL (SELECT seq, hash, created_at, event_seq FROM audit_chain_heads
         WHERE tenant_id = '${p.tenantId}' AND locked.id IS NOT NULL FOR UPDATE) head ON true;`,
    ],
    update: [`${update};`],
    timeline: [`${timeline};`],
    audit: [`WITH event AS (${auditInsert}) ${headMove};`],
    // The event on its own (events.record.ts, recordEvent): numbered from the locked head's counter.
    event: [
      `WITH event AS (INSERT INTO events (${eventColumns}) VALUES (${eventValues(headSeq)}) RETURNING seq),
         head AS (UPDATE audit_chain_heads SET event_seq = event_seq + 1 WHERE tenant_id = '${p.tenantId}')
       SELECT pg_notify('incident_tracker_events', '${p.tenantId}:' || seq::text) FROM event;`,
    ],
  };
  // The app's write (incidents.queries.ts, updateIncidentWithRecords): one statement, the event
  // numbered from the locked head's counter.
  const folded = `WITH u AS (${update}),
      t AS (${timeline} RETURNING 1),
      a AS (${auditInsert} RETURNING 1),
      e AS (INSERT INTO events (${eventColumns}) VALUES (${eventValues(headSeq)}) RETURNING seq),
      h AS (${headMove.replace(', created_at = now()', ', created_at = now(), event_seq = event_seq + 1')})
    SELECT u.id, pg_notify('incident_tracker_events', '${p.tenantId}:' || (SELECT seq FROM e)::text) FROM u;`;
  const patch = (without: string[] = [], fold = false): string[] => {
    const pipe = (lines: string[]): string[] => (lines.length === 0 ? [] : ['\\startpipeline', ...lines, '\\endpipeline']);
    const keep = (name: Exclude<keyof typeof parts, 'openWithoutLookup'>): string[] => (without.includes(name) ? [] : parts[name]);
    const open = without.includes('role') ? ['BEGIN;'] : without.includes('lookup') ? parts.openWithoutLookup : parts.open;
    const writes = fold ? [folded] : [...keep('update'), ...keep('timeline'), ...keep('audit'), ...keep('event')];
    return [...pipe(open), ...pipe([...keep('quota'), ...keep('locks')]), ...pipe([...writes, 'COMMIT;'])];
  };
  return {
    bare: [`UPDATE incidents SET title = 'Ceiling ' || random()::text, version = version + 1, updated_at = now() WHERE tenant_id = '${p.tenantId}' AND id = '${p.incidentId}';`],
    patch: patch([], true),
    'patch, writes as separate statements': patch(),
    'patch without the API-key lookup': patch(['lookup']),
    'patch as the table owner (no RLS)': patch(['role']),
    'patch without quota': patch(['quota']),
    'patch without row + head locks': patch(['locks']),
    'patch without timeline event': patch(['timeline']),
    'patch without audit row': patch(['audit']),
    'patch without event row': patch(['event']),
    'BEGIN; UPDATE; COMMIT (as the owner)': patch(['role', 'quota', 'locks', 'timeline', 'audit', 'event']),
  };
}

async function main(): Promise<void> {
  if (!(await benchDatabaseSeeded(adminUrl))) throw new Error(`no seeded ${BENCH_DATABASE}: run \`pnpm bench\` (or \`pnpm bench --quick --only=P4\`) first`);
  const pgbench = pgbenchBinary();
  // A copy, so pgbench's audit rows (with made-up hashes) never land in the bench database.
  await withClient(adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${COPY} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${COPY} TEMPLATE ${BENCH_DATABASE}`);
  });
  const copyUrl = new URL(adminUrl);
  copyUrl.pathname = `/${COPY}`;
  const dir = path.join(os.tmpdir(), 'incident-tracker-db-ceiling');
  rmSync(dir, { recursive: true, force: true });
  try {
    const picks = await withClient(copyUrl.toString(), async (c: pg.Client) => {
      const { rows } = await c.query<Pick>(
        `WITH t AS (
           SELECT DISTINCT ON (k.tenant_id) k.tenant_id, k.public_id, k.service_account_id
             FROM api_keys k JOIN tenants tn ON tn.id = k.tenant_id
            WHERE tn.incident_seq BETWEEN 1 AND 10000 AND k.revoked_at IS NULL
            ORDER BY k.tenant_id, k.created_at DESC LIMIT $1)
         SELECT t.tenant_id::text AS "tenantId", t.public_id AS "publicId", t.service_account_id::text AS "serviceAccountId", i.id::text AS "incidentId"
           FROM t CROSS JOIN LATERAL (SELECT id FROM incidents WHERE tenant_id = t.tenant_id ORDER BY number LIMIT $2) i`,
        [TENANTS, INCIDENTS_PER_TENANT],
      );
      // Every chain needs its head row (the app creates it with the tenant's first audit event).
      await c.query(
        `INSERT INTO audit_chain_heads (tenant_id, seq, hash, created_at)
         SELECT DISTINCT tenant_id, 1000000, 'ceiling', now() FROM unnest($1::uuid[]) AS tenant_id ON CONFLICT DO NOTHING`,
        [rows.map((r) => r.tenantId)],
      );
      // Event numbers past every seeded or benched event of these tenants.
      await c.query('UPDATE audit_chain_heads SET event_seq = 1000000 WHERE tenant_id = ANY($1::uuid[])', [rows.map((r) => r.tenantId)]);
      return rows;
    });
    if (picks.length < TENANTS) throw new Error(`only ${String(picks.length)} tenants with API keys and incidents in ${BENCH_DATABASE}`);
    const variants = Object.keys(scripts(picks[0] as Pick));
    for (const v of variants) mkdirSync(path.join(dir, String(variants.indexOf(v))), { recursive: true });
    picks.forEach((p, n) => {
      const s = scripts(p);
      variants.forEach((v, i) => {
        writeFileSync(path.join(dir, String(i), `${String(n)}.sql`), `${(s[v] ?? []).join('\n')}\n`);
      });
    });
    const url = new URL(copyUrl);
    const tps: Record<string, number[]> = {};
    const ratios: Record<string, number[]> = {};
    log(
      `pgbench on ${COPY}: ${String(picks.length)} scripts per variant (${String(TENANTS)} tenants x ${String(INCIDENTS_PER_TENANT)} incidents), ${String(opts.connections)} clients, 2 threads, -M prepared, ${String(opts.rounds)} x ${String(opts.roundSeconds)} s`,
    );
    for (let r = 0; r < opts.rounds; r++) {
      let bare = Number.NaN;
      for (const [i, v] of variants.entries()) {
        const files = readdirSync(path.join(dir, String(i))).flatMap((f) => ['-f', path.join(dir, String(i), f)]);
        const run = spawnSync(
          pgbench,
          ['-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username) || 'postgres', '-n', '-M', 'prepared', '-c', String(opts.connections), '-j', '2', '-T', String(opts.roundSeconds), ...files, COPY],
          { encoding: 'utf8', env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) } },
        );
        const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(run.stdout);
        const failed = /number of failed transactions: (\d+)/.exec(run.stdout)?.[1];
        if (run.status !== 0 || !m || (failed !== undefined && failed !== '0')) throw new Error(`pgbench failed for "${v}":\n${run.stdout}\n${run.stderr}`);
        const value = Number(m[1]);
        if (v === 'bare') bare = value;
        (tps[v] ??= []).push(value);
        (ratios[v] ??= []).push(value / bare);
        log(`  round ${String(r + 1)}/${String(opts.rounds)} ${v}: ${value.toFixed(0)} tps`);
      }
    }
    log('\nvariant                                   | tps (median) | / bare UPDATE (median of rounds)');
    for (const v of variants) log(`${v.padEnd(41)} | ${median(tps[v] ?? []).toFixed(0).padStart(12)} | ${String(round(median(ratios[v] ?? []), 3))}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${COPY} WITH (FORCE)`));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
