import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/platform/db/migrator.js';
import { createPgliteDatabase } from '../../src/platform/db/pglite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated PGlite data directory (tar), or null on the postgres lane. */
    pgliteImagePath: string | null;
  }
}

/**
 * The postgres lane's database is created and migrated by scripts/test-postgres.ts before vitest
 * starts. On PGlite, one database is migrated here and its data directory dumped to a file: every
 * test app starts from that image, which skips initdb (most of a fresh PGlite's start-up) and the
 * migrations.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if ((process.env.TEST_DATABASE_URL === undefined) !== (process.env.TEST_REDIS_URL === undefined)) {
    throw new Error('set both TEST_DATABASE_URL and TEST_REDIS_URL, or neither');
  }
  if (process.env.TEST_DATABASE_URL !== undefined) {
    project.provide('pgliteImagePath', null);
    return undefined;
  }
  const db = await createPgliteDatabase({ dataDir: null, statementTimeoutMs: 600_000 });
  await migrate(db);
  const image = await db.pglite.dumpDataDir('none');
  await db.close();
  const file = path.join(tmpdir(), `incident-tracker-pglite-${randomUUID()}.tar`);
  await writeFile(file, new Uint8Array(await image.arrayBuffer()));
  project.provide('pgliteImagePath', file);
  return () => rm(file, { force: true });
}
