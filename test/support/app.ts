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

/** A clock tests can move. */
export class FakeClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestAppOptions {
  env?: Record<string, string>;
  clock?: Clock;
  smtpUrl?: string;
  poolMax?: number;
  eventStreams?: AppDeps['eventStreams'];
}

export interface TestApp {
  built: BuiltApp;
  app: BuiltApp['app'];
  db: Database;
  config: Config;
  mailer: Mailer;
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
  const mailer: Mailer = config.mail.smtpUrl
    ? new SmtpMailer(config.mail.smtpUrl, config.mail.from, logger, { maxAttempts: 50, baseDelayMs: 100, maxDelayMs: 500 })
    : new LogMailer(logger);
  validator ??= new ResponseValidator();
  const v = validator;
  const built = buildApp({
    config,
    db,
    redis,
    logger,
    mailer,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.eventStreams ? { eventStreams: opts.eventStreams } : {}),
    responseObserver: (req: Request, status: number, body: unknown) => {
      const problem = v.check(req.method, req.originalUrl.split('?')[0] ?? '', status, body);
      if (problem) recordContractProblem(problem);
    },
  });
  return {
    built,
    app: built.app,
    db,
    config,
    mailer,
    request: () => supertest.agent(built.app),
    async close() {
      built.close();
      await mailer.close();
      redis?.disconnect();
      await ownDb?.close();
    },
  };
}
