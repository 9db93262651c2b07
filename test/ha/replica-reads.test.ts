/**
 * Read-your-writes replica reads (README "High availability", DATABASE_READ_HOSTS) against a real
 * asynchronous streaming standby: a read with the caller's commit position never misses the
 * caller's write, however far behind the standby is; without the position it may.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, TxSettings } from '../../src/platform/db/database.js';
import { migrate } from '../../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import { ReadPosition, type ReadRoute } from '../../src/platform/db/read-position.js';
import { readHostTargets } from '../../src/platform/db/replicas.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { SmtpSink } from '../support/smtp-sink.js';
import { waitFor } from '../resilience/support/env.js';
import { send, type ApiKeyClient, type SessionClient } from '../resilience/support/http.js';
import { Cleanup } from '../resilience/support/processes.js';
import { ThrowawayRedis } from '../resilience/support/redis.js';
import { ServerProcess } from '../resilience/support/server.js';
import { createApiKey, ownerWithTenant } from '../resilience/support/stack.js';
import { postgresBinDir, query, StreamingPair } from './support/standby.js';

const binDir = postgresBinDir();
const PAIRS = 1000;
const SETTINGS: TxSettings = { tenantId: null, userId: null };

const cleanup = new Cleanup();
let pair: StreamingPair;
let db: Database;
let nextId = 0;

function print(scenario: string, figures: Record<string, string>): void {
  process.stdout.write(`[ha] ${scenario}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
}

/** A committed write through the primary; the position it leaves is the caller's. */
async function write(position: ReadPosition): Promise<number> {
  const id = ++nextId;
  await db.withAppTx(SETTINGS, (tx) => tx.query('INSERT INTO replica_probe (id) VALUES ($1)', [id]), { position, readOnly: false });
  return id;
}

/** Whether a read routed by `position` sees row `id`. */
async function sees(id: number, position: ReadPosition): Promise<boolean> {
  const { rows } = await db.withAppTx(SETTINGS, (tx) => tx.query('SELECT id FROM replica_probe WHERE id = $1', [id]), { position, readOnly: true });
  return rows.length === 1;
}

if (binDir === null) {
  describe('replica reads', () => {
    it.skip('skipped: PostgreSQL server binaries (initdb, postgres, pg_basebackup) not found under /usr/lib/postgresql', () => undefined);
  });
} else {
  describe('read-your-writes replica reads on a streaming standby', () => {
    beforeAll(async () => {
      process.stdout.write('[ha] replica reads: starting a primary and a streaming standby\n');
      pair = await StreamingPair.start(cleanup, binDir);
      db = createPostgresDatabase({
        url: pair.primaryUrl,
        poolMax: 4,
        statementTimeoutMs: 5000,
        connectionTimeoutMs: 2000,
        preparedStatements: true,
        readHosts: readHostTargets(pair.primaryUrl, pair.standbyHost),
        logger: createLogger('warn'),
      });
      cleanup.add('close the database', () => db.close());
      await migrate(db);
      await query(pair.primaryUrl, 'CREATE TABLE replica_probe (id int PRIMARY KEY); GRANT SELECT, INSERT, UPDATE ON replica_probe TO incident_app');
      await waitFor('the standby to replay the set-up', async () => ((await query(pair.standbyUrl, "SELECT to_regclass('replica_probe') AS t"))[0]?.t ? true : undefined), 30_000);
    });
    afterAll(() => cleanup.run());

    it('when the standby has not replayed the caller\'s write, then the read goes to the primary and sees it; a read without a position is served stale by the standby', async () => {
      expect(db.replicaReads).toBe(true);
      await pair.setReplayPaused(true);
      try {
        const position = new ReadPosition(null);
        const id = await write(position);
        expect(position.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        expect(await sees(id, position)).toBe(true);
        expect(position.lastRead).toBe('primary_lagging');
        const anywhere = new ReadPosition(null);
        expect(await sees(id, anywhere)).toBe(false);
        expect(anywhere.lastRead).toBe('replica');
      } finally {
        await pair.setReplayPaused(false);
      }
    });

    it(`over ${String(PAIRS)} write-then-read pairs, a read with the write's position is never stale; without it some are`, async () => {
      const measure = async (withPosition: boolean) => {
        const routes: Partial<Record<ReadRoute, number>> = {};
        let stale = 0;
        const started = performance.now();
        for (let i = 0; i < PAIRS; i++) {
          const position = new ReadPosition(null);
          const id = await write(position);
          const reader = withPosition ? position : new ReadPosition(null);
          if (!(await sees(id, reader))) stale++;
          const route = reader.lastRead ?? 'replica';
          routes[route] = (routes[route] ?? 0) + 1;
        }
        return { stale, routes, ms: performance.now() - started };
      };
      const without = await measure(false);
      const withWait = await measure(true);
      print('replica reads', {
        pairs: String(PAIRS),
        stale_with_position: `${String(withWait.stale)} (${JSON.stringify(withWait.routes)}, ${(withWait.ms / PAIRS).toFixed(2)}ms/pair)`,
        stale_without_position: `${String(without.stale)} = ${((100 * without.stale) / PAIRS).toFixed(1)}% (${(without.ms / PAIRS).toFixed(2)}ms/pair)`,
      });
      expect(withWait.stale).toBe(0);
      // The standby did serve reads with a position, not only the primary.
      expect(withWait.routes.replica ?? 0).toBeGreaterThan(0);
      expect(without.routes.replica).toBe(PAIRS);
    });

    it('when read-only work tries to write, then it runs again on the primary and the write is applied', async () => {
      const position = new ReadPosition(null);
      const id = await write(position);
      await db.withAppTx(SETTINGS, (tx) => tx.query('UPDATE replica_probe SET id = -id WHERE id = $1', [id]), { position, readOnly: true });
      expect(position.lastRead).toBe('primary_fallback');
      expect(await query(pair.primaryUrl, 'SELECT 1 FROM replica_probe WHERE id = $1', [-id])).toHaveLength(1);
    });

    describe('through the built API (DATABASE_READ_HOSTS)', () => {
      let owner: SessionClient;
      let bot: ApiKeyClient;
      const API_PAIRS = 100;

      beforeAll(async () => {
        const redis = await ThrowawayRedis.start(cleanup);
        const sink = new SmtpSink();
        await sink.start();
        cleanup.add('smtp sink', () => sink.stop());
        const server = await ServerProcess.start(cleanup, { databaseUrl: pair.primaryUrl, redisUrl: redis.url, smtpUrl: sink.url, env: { DATABASE_READ_HOSTS: pair.standbyHost } });
        let tenantId: string;
        ({ owner, tenantId } = await ownerWithTenant(server.baseUrl));
        bot = await createApiKey(owner, tenantId);
      });

      const create = async (client: ApiKeyClient | SessionClient) => {
        const res = await client.post('/v1/incidents', { title: 'replica read', severity: 'SEV3' });
        expect(res.status).toBe(201);
        const token = res.headers['consistency-token'];
        expect(token).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        return { id: (res.body as { id: string }).id, token: String(token), setCookie: res.headers['set-cookie'] ?? [] };
      };

      it(`an API-key client that sends back the Consistency-Token of its write reads it ${String(API_PAIRS)} times in ${String(API_PAIRS)}`, async () => {
        let stale = 0;
        for (let i = 0; i < API_PAIRS; i++) {
          const { id, token } = await create(bot);
          const res = await bot.get(`/v1/incidents/${id}`, { headers: { 'consistency-token': token } });
          if (res.status !== 200) stale++;
          expect(res.headers['consistency-token']).toBe(token);
        }
        print('replica reads through the API', { pairs: String(API_PAIRS), stale_with_token: String(stale) });
        expect(stale).toBe(0);
      });

      it('while the standby replays nothing: a write\'s token reads from the primary, 0/0 reads the stale standby, no token reads the primary, a malformed token is a 400', async () => {
        await pair.setReplayPaused(true);
        try {
          const { id, token } = await create(bot);
          expect((await bot.get(`/v1/incidents/${id}`, { headers: { 'consistency-token': token } })).status).toBe(200);
          const anywhere = await bot.get(`/v1/incidents/${id}`, { headers: { 'consistency-token': '0/0' } });
          expect(anywhere.status).toBe(404);
          expect((await bot.get(`/v1/incidents/${id}`)).status).toBe(200);
          const bad = await bot.get(`/v1/incidents/${id}`, { headers: { 'consistency-token': 'latest' } });
          expect(bad.status).toBe(400);
          expect((bad.body as { code: string }).code).toBe('VALIDATION_FAILED');
        } finally {
          await pair.setReplayPaused(false);
        }
      });

      it('while the standby replays nothing: a browser session\'s write sets the position cookie, and its reads with it see the write', async () => {
        await pair.setReplayPaused(true);
        try {
          const { id, setCookie } = await create(owner);
          const lsnCookie = setCookie.map((c) => c.split(';')[0] ?? '').find((c) => c.startsWith('__Host-sid_lsn='));
          expect(lsnCookie).toBeDefined();
          const withCookie = await send(owner.baseUrl, 'GET', `/v1/incidents/${id}`, { headers: { cookie: `${owner.cookie ?? ''}; ${lsnCookie ?? ''}` } });
          expect(withCookie.status).toBe(200);
          // The same session without its position cookie (a session that never wrote) reads the standby.
          const withoutCookie = await send(owner.baseUrl, 'GET', `/v1/incidents/${id}`, { headers: { cookie: owner.cookie ?? '' } });
          expect(withoutCookie.status).toBe(404);
        } finally {
          await pair.setReplayPaused(false);
        }
      });
    });

    it('when the standby is down, then reads go to the primary', async () => {
      const position = new ReadPosition(null);
      const id = await write(position);
      await pair.stopStandby();
      expect(await sees(id, position)).toBe(true);
      expect(position.lastRead).toBe('primary_fallback');
      // Marked down: the next read does not try it again.
      const next = new ReadPosition(null);
      expect(await sees(id, next)).toBe(true);
      expect(next.lastRead).toBe('primary_no_replica');
    });
  });
}
