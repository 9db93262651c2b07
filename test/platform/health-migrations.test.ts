/**
 * `/health` and pending migrations: a deploy whose migrations have not run (or a database never
 * migrated) must fail its health check instead of going live and answering every request with a
 * 500. Each backend gets a database of its own, since the suite's is fully migrated.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuiltApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/platform/db/database.js';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../../src/platform/db/migrator.js';
import { createPgliteDatabase } from '../../src/platform/db/pglite.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import { LogMailer } from '../../src/platform/mail/mailer.js';
import { TEST_DATABASE_URL } from '../support/backend.js';
import { ResponseValidator } from '../support/contract.js';
import { capturingLogger } from '../support/log-capture.js';

const { logger, lines } = capturingLogger();

let db: Database;
let built: BuiltApp;
let dropDatabase: () => Promise<void> = () => Promise.resolve();
/** The migrations folder minus its newest file: the database of a deploy that ships a new one. */
let allButLast: string;
let lastLabel: string;

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  if (TEST_DATABASE_URL) {
    const name = `${new URL(TEST_DATABASE_URL).pathname.slice(1)}_health_${randomBytes(4).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    dropDatabase = () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    db = createPostgresDatabase({ url: url.toString(), poolMax: 2, statementTimeoutMs: 60_000, connectionTimeoutMs: 5000, preparedStatements: true, logger });
  } else {
    db = await createPgliteDatabase({ dataDir: null, statementTimeoutMs: 60_000 });
  }
  const files = await readMigrations();
  allButLast = await mkdtemp(path.join(tmpdir(), 'migrations-'));
  for (const f of files.slice(0, -1)) {
    const file = `${String(f.version).padStart(4, '0')}_${f.name}.sql`;
    await copyFile(path.join(MIGRATIONS_DIR, file), path.join(allButLast, file));
  }
  const last = files.at(-1);
  lastLabel = `${String(last?.version).padStart(4, '0')}_${last?.name ?? ''}`;
  const config = loadConfig({ NODE_ENV: 'test', SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123456789' });
  built = buildApp({ config, db, redis: null, logger, mailer: new LogMailer(logger) });
});

afterAll(async () => {
  built.close();
  await db.close();
  await dropDatabase();
  await rm(allButLast, { recursive: true, force: true });
});

const validator = new ResponseValidator();

async function health(): Promise<supertest.Response> {
  const res = await supertest(built.app).get('/health');
  expect(validator.check('GET', '/health', res.status, res.body)).toBeNull();
  return res;
}

describe('GET /health and migrations', () => {
  it('when the database was never migrated, then 503 with checks.migrations pending', async () => {
    const res = await health();
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      message: 'Unavailable: migrations pending.',
      details: { checks: { database: 'ok', sessionStore: 'ok', migrations: 'pending' } },
    });
  });

  it('when the database lacks the newest migration, then 503 pending and the log names it; once migrated, then 200', async () => {
    await migrate(db, allButLast);
    const res = await health();
    expect(res.status).toBe(503);
    expect((res.body as { details: unknown }).details).toEqual({ checks: { database: 'ok', sessionStore: 'ok', migrations: 'pending' } });
    const warnings = lines.filter((l) => l.msg.startsWith('migrations pending'));
    expect(warnings.at(-1)?.pending).toEqual([lastLabel]);

    await migrate(db);
    const after = await health();
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ status: 'ok', checks: { database: 'ok', sessionStore: 'ok', migrations: 'ok' } });
  });
});
