/**
 * The failover lane (README "High availability"): the built API, with every data node of a
 * pg_auto_failover formation in DATABASE_URL, takes writes from API clients while the primary
 * node is killed outright, and again while the monitor performs a planned switchover. No
 * acknowledged write may be lost, no request may get a 500, writes must resume within 25 s of the
 * kill, and the API process must never restart.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SmtpSink } from '../support/smtp-sink.js';
import { REPO_ROOT, sleep } from '../resilience/support/env.js';
import { codeOf, isCleanUnavailable, statuses, type ApiKeyClient, type Response } from '../resilience/support/http.js';
import { Child, Cleanup } from '../resilience/support/processes.js';
import { ThrowawayRedis } from '../resilience/support/redis.js';
import { ServerProcess } from '../resilience/support/server.js';
import { createApiKey, ownerWithTenant } from '../resilience/support/stack.js';
import { AutoFailoverCluster, MONITOR_SETTINGS, NETWORK_PARTITION_TIMEOUT_S, NUMBER_SYNC_STANDBYS, autoFailoverBinDir } from './support/cluster.js';

const skipReason = inject('haSkipReason');
const WRITERS = 4;
const WRITE_FOR_MS = 20_000;
const RESUME_WITHIN_MS = 25_000;
const CONNECTION_TIMEOUT_MS = 2000;

const cleanup = new Cleanup();
let cluster: AutoFailoverCluster;
let server: ServerProcess;
let bot: ApiKeyClient;
let tenantId: string;

interface Attempt {
  key: string;
  title: string;
  res: Response;
  startedAt: number;
  endedAt: number;
}

/** Applies the migrations through the multi-host URL, as a deployment's pre-deploy step would. */
async function migrate(databaseUrl: string): Promise<void> {
  const child = new Child('migrate', process.execPath, [path.join(REPO_ROOT, 'dist/src/migrate.js')], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'test', LOG_LEVEL: 'warn', DATABASE_URL: databaseUrl },
  });
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`migrate failed:\n${child.tail()}`);
}

/**
 * Clients creating incidents as fast as they are answered, each create with its own
 * Idempotency-Key and retried with the same key after a 503, as README "High availability" tells
 * clients to. `event` runs `eventAfterMs` into the run; writing goes on for WRITE_FOR_MS, and past
 * it until writes have worked again for two seconds (at most RESUME_WITHIN_MS + 10 s after the event).
 */
async function writeThrough(event: () => Promise<void>, eventAfterMs: number): Promise<{ attempts: Attempt[]; eventAt: number; eventDone: Promise<void> }> {
  const attempts: Attempt[] = [];
  const started = performance.now();
  let eventAt = Number.POSITIVE_INFINITY;
  let resumedAt = Number.POSITIVE_INFINITY;
  const done = (): boolean => {
    const now = performance.now();
    if (now > eventAt + RESUME_WITHIN_MS + 10_000) return true;
    return now - started >= WRITE_FOR_MS && now - resumedAt >= 2000;
  };
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; !done(); n++) {
      const key = randomUUID();
      const title = `ha ${String(w)}.${String(n)} ${key.slice(0, 8)}`;
      for (;;) {
        const startedAt = performance.now();
        const res = await bot.post('/v1/incidents', { title, severity: 'SEV2' }, { headers: { 'idempotency-key': key } });
        const endedAt = performance.now();
        attempts.push({ key, title, res, startedAt, endedAt });
        if (res.status === 201 && startedAt > eventAt && resumedAt === Number.POSITIVE_INFINITY) resumedAt = endedAt;
        // A claim the failover stranded (its release failed with the database) keeps the key
        // in progress; the client gives that key up (its write never committed, checked below).
        if (res.status !== 503 || done()) break;
        await sleep(250);
      }
    }
  };
  const eventDone = sleep(eventAfterMs).then(async () => {
    eventAt = performance.now();
    await event();
  });
  eventDone.catch(() => undefined);
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return { attempts, eventAt, eventDone };
}

/** The longest time without an acknowledged write, from `from` on. */
function longestGap(attempts: Attempt[], from: number): number {
  const acks = attempts.filter((a) => a.res.status === 201 && a.endedAt >= from).map((a) => a.endedAt).sort((a, b) => a - b);
  let gap = 0;
  let previous = from;
  for (const t of acks) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return gap;
}

/** Every 2xx create is stored on the current primary, and no Idempotency-Key made two incidents. */
async function expectAcknowledgedWritesPresent(attempts: Attempt[]): Promise<number> {
  const acked = new Map<string, string>();
  for (const a of attempts) if (a.res.status === 201) acked.set(a.key, (a.res.body as { id: string }).id);
  const primary = await cluster.primary();
  const stored = await cluster.nodeQuery<{ id: string; title: string }>(primary, 'SELECT id, title FROM incidents WHERE tenant_id = $1', [tenantId]);
  const storedIds = new Set(stored.map((r) => r.id));
  expect([...acked.values()].filter((id) => !storedIds.has(id))).toEqual([]);
  const perTitle = new Map<string, number>();
  for (const r of stored) perTitle.set(r.title, (perTitle.get(r.title) ?? 0) + 1);
  expect([...perTitle].filter(([, n]) => n > 1)).toEqual([]);
  // A key left in progress never wrote its incident (the claim completes in the write's transaction).
  const stranded = new Set(attempts.filter(inProgress).map((a) => a.title));
  expect([...stranded].filter((title) => perTitle.has(title) && !attempts.some((a) => a.title === title && a.res.status === 201))).toEqual([]);
  return acked.size;
}

const inProgress = (a: Attempt): boolean => a.res.status === 409 && codeOf(a.res) === 'IDEMPOTENCY_IN_PROGRESS';

/**
 * Only 201s, clean 503s with Retry-After: 1, and 409 IDEMPOTENCY_IN_PROGRESS for a key whose
 * earlier attempt failed with the database before its claim could be released; returns how many 503s.
 */
function expectNo500(attempts: Attempt[]): number {
  const unexpected = attempts.filter((a) => a.res.status !== 201 && !inProgress(a) && !(isCleanUnavailable(a.res) && a.res.headers['retry-after'] === '1'));
  expect(unexpected.map((a) => `${String(a.res.status)} ${a.res.text}`)).toEqual([]);
  return attempts.filter((a) => a.res.status === 503).length;
}

function print(scenario: string, figures: Record<string, string>): void {
  process.stdout.write(`[ha] ${scenario}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

if (skipReason) {
  describe('failover lane', () => {
    it.skip(`skipped: ${skipReason}`, () => undefined);
  });
} else {
  describe('failover on pg_auto_failover (a monitor and three data nodes)', () => {
    beforeAll(async () => {
      const started = performance.now();
      cluster = await AutoFailoverCluster.start(cleanup, autoFailoverBinDir() ?? '');
      await migrate(cluster.databaseUrl);
      const redis = await ThrowawayRedis.start(cleanup);
      const sink = new SmtpSink();
      await sink.start();
      cleanup.add('smtp sink', () => sink.stop());
      server = await ServerProcess.start(cleanup, {
        databaseUrl: cluster.databaseUrl,
        redisUrl: redis.url,
        smtpUrl: sink.url,
        env: { DAILY_WRITE_QUOTA: '10000000', DATABASE_CONNECTION_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS) },
      });
      let owner;
      ({ owner, tenantId } = await ownerWithTenant(server.baseUrl));
      bot = await createApiKey(owner, tenantId);
      print('formation up', {
        setup: seconds(performance.now() - started),
        nodes: cluster.hostList,
        number_sync_standbys: String(NUMBER_SYNC_STANDBYS),
        network_partition_timeout: `${String(NETWORK_PARTITION_TIMEOUT_S)}s`,
        ...Object.fromEntries(Object.entries(MONITOR_SETTINGS).map(([k, v]) => [k.replace('pgautofailover.', ''), v])),
      });
    });
    afterAll(() => cleanup.run());

    it('when the primary node is killed (SIGKILL) under writes, then every acknowledged write survives, nothing answers 500, writes resume within 25 s and the API never restarts', async () => {
      const pid = server.pid;
      const victim = await cluster.primary();
      const { attempts, eventAt } = await writeThrough(() => {
        cluster.kill(victim);
        return Promise.resolve();
      }, 3000);

      const unavailable = expectNo500(attempts);
      const firstAfter = attempts.filter((a) => a.res.status === 201 && a.startedAt > eventAt).sort((a, b) => a.endedAt - b.endedAt)[0];
      expect(firstAfter, 'no write succeeded after the kill').toBeDefined();
      const resumedAfter = (firstAfter?.endedAt ?? Number.POSITIVE_INFINITY) - eventAt;
      const checked = await expectAcknowledgedWritesPresent(attempts);
      const promoted = await cluster.primary();
      print('primary killed', {
        killed: victim.name,
        promoted: promoted.name,
        first_write_after_kill: seconds(resumedAfter),
        acknowledged_writes_checked: String(checked),
        answered_503: String(unavailable),
        keys_left_in_progress: String(new Set(attempts.filter(inProgress).map((a) => a.key)).size),
        answered_500: '0',
        statuses: JSON.stringify(statuses(attempts.map((a) => a.res))),
      });
      expect(resumedAfter).toBeLessThan(RESUME_WITHIN_MS);
      expect(server.running).toBe(true);
      expect(server.pid).toBe(pid);
      expect(promoted.name).not.toBe(victim.name);
    });

    it('when the monitor performs a planned switchover under writes, then every acknowledged write survives, nothing answers 500 and the API never restarts', async () => {
      // The node killed before comes back as a secondary (pg_rewind if needed) first.
      for (const node of cluster.nodes) if (!node.child.running) cluster.restart(node);
      await cluster.waitHealthy(120_000);
      const pid = server.pid;
      const before = await cluster.primary();
      const { attempts, eventAt, eventDone } = await writeThrough(() => cluster.switchover(), 3000);
      await eventDone;

      const unavailable = expectNo500(attempts);
      const gap = longestGap(attempts, eventAt);
      expect(gap).toBeLessThan(RESUME_WITHIN_MS);
      const checked = await expectAcknowledgedWritesPresent(attempts);
      const after = await cluster.primary();
      expect(after.name).not.toBe(before.name);
      expect(server.running).toBe(true);
      expect(server.pid).toBe(pid);
      print('planned switchover', {
        from: before.name,
        to: after.name,
        longest_time_without_an_acknowledged_write: seconds(gap),
        acknowledged_writes_checked: String(checked),
        answered_503: String(unavailable),
        keys_left_in_progress: String(new Set(attempts.filter(inProgress).map((a) => a.key)).size),
        answered_500: '0',
        statuses: JSON.stringify(statuses(attempts.map((a) => a.res))),
      });
    });

  });
}
