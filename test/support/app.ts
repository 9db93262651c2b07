import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { Request } from 'express';
import supertest from 'supertest';
import { inject } from 'vitest';
import { buildApp, type BuiltApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { AppDeps } from '../../src/deps.js';
import type { Database } from '../../src/platform/db/database.js';
import { createPgliteDatabase } from '../../src/platform/db/pglite.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import type { Clock } from '../../src/platform/clock.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { LogMailer, SmtpMailer, type Mailer } from '../../src/platform/mail/mailer.js';
import { createRedis } from '../../src/runtime.js';
import { TEST_DATABASE_URL, TEST_REDIS_KEY_PREFIX, TEST_REDIS_URL } from './backend.js';
import { ResponseValidator } from './contract.js';
import { recordContractProblem, logCapture } from './state.js';

/**
 * The one fake clock of the suite. By default it follows the real clock plus whatever the test
 * advanced it by, so requests still get distinct, increasing timestamps; `frozen()` makes it stand
 * still between advances, for tests that compare stamped times exactly.
 */
export class FakeClock implements Clock {
  private offsetMs = 0;
  private frozenAtMs: number | null = null;

  /** A clock that moves only when advanced, starting now. */
  static frozen(): FakeClock {
    const clock = new FakeClock();
    clock.frozenAtMs = Date.now();
    return clock;
  }

  now(): Date {
    return new Date((this.frozenAtMs ?? Date.now()) + this.offsetMs);
  }

  /** Moves the clock forward by `ms`; returns the new time. */
  advance(ms: number): Date {
    this.offsetMs += ms;
    return this.now();
  }
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  smtpUrl?: string;
  poolMax?: number;
  /** Wraps the database the app uses (a StatementGate, say); the test's `t.db` stays the bare one. */
  wrapDb?: (db: Database) => Database;
  eventStreams?: AppDeps['eventStreams'];
}

export interface TestApp {
  built: BuiltApp;
  app: BuiltApp['app'];
  db: Database;
  config: Config;
  /** The mail transport the worker delivers with (tests spy on its `send`). */
  mailer: Mailer;
  /**
   * Waits for the work requests started after answering, then runs the background queues until
   * nothing is due: every mail a request queued has been delivered (or has failed and waits for
   * its retry) when it resolves. The workers also run by themselves, as in `pnpm start`.
   */
  drain(): Promise<void>;
  request: () => supertest.Agent;
  close(): Promise<void>;
}

let validator: ResponseValidator | null = null;
let workerPglite: Promise<Database> | null = null;

/**
 * One in-memory PGlite per worker process, started from the migrated image global-setup.ts
 * dumped, and shared by every app the worker's test files build: the tests already share one
 * database on the postgres lane (each makes its own tenants and users, nothing truncates), and
 * starting a PGlite costs seconds of CPU where a test file's own work often costs less.
 */
function workerPgliteDatabase(): Promise<Database> {
  const file = inject('pgliteImagePath');
  if (!file) throw new Error('no migrated PGlite image: run with test/support/global-setup.ts as globalSetup');
  workerPglite ??= readFile(file).then((bytes) => createPgliteDatabase({ dataDir: null, statementTimeoutMs: 30_000, loadDataDir: new Blob([bytes]) }));
  return workerPglite;
}

/** Captures every log line so tests can search them for leaked secrets (docs/security.md 42). */
const logSink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logCapture.push(chunk.toString('utf8'));
    cb();
  },
});

/**
 * Builds the real app on the suite's backend: the worker's in-memory PGlite or the
 * PostgreSQL database and Redis the postgres lane prepared. Every response is checked against
 * openapi.yaml; mismatches fail the test (see setup.ts).
 */
export async function createTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123456789',
    APP_BASE_URL: 'http://app.test',
    ...(TEST_DATABASE_URL ? { DATABASE_URL: TEST_DATABASE_URL } : {}),
    ...(TEST_REDIS_URL ? { REDIS_URL: TEST_REDIS_URL } : {}),
    ...(opts.smtpUrl ? { SMTP_URL: opts.smtpUrl } : {}),
    ...opts.env,
  });
  const logger = createLogger('info', logSink);
  // The worker's PGlite outlives the app; a PostgreSQL pool is the app's own.
  const ownDb = config.database.kind === 'postgres' ? createPostgresDatabase({ ...config.database, poolMax: opts.poolMax ?? config.database.poolMax, logger }) : null;
  const db = ownDb ?? (await workerPgliteDatabase());
  // Every test app gets its own key namespace: files (and engineers) share one Redis and one
  // client address, so per-IP limiter counters would otherwise leak between unrelated tests.
  const redis = config.redisUrl ? createRedis(config.redisUrl, logger, { keyPrefix: `${TEST_REDIS_KEY_PREFIX}${randomUUID()}:` }) : null;
  // The client has no offline queue, so a test's first request must not race the connection.
  if (redis && redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const mailer: Mailer = config.mail.smtpUrl ? new SmtpMailer(config.mail.smtpUrl, config.mail.from, logger) : new LogMailer(logger);
  validator ??= new ResponseValidator();
  const v = validator;
  const built = buildApp({
    config,
    db: opts.wrapDb ? opts.wrapDb(db) : db,
    redis,
    logger,
    mailer,
    // Apps share the database but not the mail server: each delivers only the mail it queued.
    mailScope: `test-${randomUUID()}`,
    webhookDelivery: false,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.eventStreams ? { eventStreams: opts.eventStreams } : {}),
    responseObserver: (req: Request, status: number, body: unknown) => {
      const problem = v.check(req.method, req.originalUrl.split('?')[0] ?? '', status, body);
      if (problem) recordContractProblem(problem);
    },
  });
  // As main.ts: the workers run in the app's process unless WORKERS=off.
  if (config.workers) built.jobs.start();
  return {
    built,
    app: built.app,
    db,
    config,
    mailer,
    async drain() {
      await built.deps.afterResponse.settled();
      await built.jobs.drain();
    },
    request: () => supertest.agent(built.app),
    async close() {
      built.close();
      await built.deps.afterResponse.settled();
      await built.jobs.stop();
      await mailer.close();
      redis?.disconnect();
      await ownDb?.close();
    },
  };
}
