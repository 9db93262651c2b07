/**
 * Production migrations run from the compiled output (`node dist/src/migrate.js`, Render's
 * preDeployCommand and the container's), with production dependencies only: no tsx, and no
 * import of a devDependency from dist/ (a resolve hook refuses one, as a production install would).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readMigrations } from '../../src/platform/db/migrator.js';
import { adminQuery, urlFor } from './support/database.js';
import { REPO_ROOT } from './support/env.js';
import { Cleanup } from './support/processes.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/**
 * A module-resolution hook: a bare import from dist/ must name a Node built-in or a production
 * dependency (the hook runs off-thread, so its data is passed in through `register`).
 */
const HOOKS = `
import { isBuiltin } from 'node:module';
let allowed, dist;
export function initialize(data) { allowed = new Set(data.dependencies); dist = data.dist; }
export async function resolve(specifier, context, next) {
  const bare = !/^(\\.|\\/|node:|file:|data:)/.test(specifier) && !isBuiltin(specifier);
  if (bare && context.parentURL?.startsWith(dist)) {
    const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
    if (!allowed.has(name)) throw new Error('dist/ imports ' + name + ', which is not a production dependency');
  }
  return next(specifier, context);
}`;
const REGISTER = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)}, { data: ${JSON.stringify({
  dependencies: Object.keys(pkg.dependencies),
  dist: pathToFileURL(path.join(REPO_ROOT, 'dist/')).href,
})} });`;

function migrateCompiled(databaseUrl: string): { status: number | null; lines: { msg?: string; applied?: string[] }[]; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, 'dist/src/migrate.js'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // The production environment a Render preDeployCommand sees.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      REDIS_URL: 'redis://127.0.0.1:1',
      SMTP_URL: 'smtp://127.0.0.1:1',
      APP_BASE_URL: 'https://incidents.example.com',
      SESSION_SECRET: randomBytes(32).toString('base64'),
      DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    },
  });
  const lines = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg?: string; applied?: string[] });
  return { status: result.status, lines, stderr: result.stderr };
}

describe('compiled migrations (dist/src/migrate.js)', () => {
  it('when run with node on an empty database, then every migration is applied with production dependencies only, and a second run finds nothing to do', async () => {
    const name = `resilience_migrate_${randomBytes(4).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    cleanup.add(`drop database ${name}`, () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const expected = (await readMigrations()).map((m) => `${String(m.version).padStart(4, '0')}_${m.name}`);

    const first = migrateCompiled(urlFor(name));
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.lines.find((l) => l.msg === 'migrations applied')?.applied).toEqual(expected);
    const rows = await adminQuery<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version', [], name);
    expect(rows.map((r) => r.version)).toEqual(expected.map((l) => Number(l.slice(0, 4))));

    const second = migrateCompiled(urlFor(name));
    expect(second.status).toBe(0);
    expect(second.lines.map((l) => l.msg)).toContain('database is up to date');
  });
});
