import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PG_ADMIN_URL, REPO_ROOT } from './env.js';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * The resilience lane runs the built server (`pnpm build` first) against this machine's
 * PostgreSQL and a throwaway `redis-server`. Refuses to start without them, naming what is missing.
 */
export default async function setup(): Promise<void> {
  const main = path.join(REPO_ROOT, 'dist/src/main.js');
  if (!existsSync(main)) throw new Error('dist/src/main.js is missing: `pnpm test:resilience` builds it first; run `pnpm build`');
  if (newestMtime(path.join(REPO_ROOT, 'src')) > statSync(main).mtimeMs) {
    process.stderr.write('[resilience] warning: src/ changed after the last build; the suite runs dist/ (run `pnpm build`)\n');
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not on PATH');
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL at ${PG_ADMIN_URL} is not reachable: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
