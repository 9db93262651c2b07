import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Child, freePort, type Cleanup } from './processes.js';
import { GiveUp, HOST, PG_ADMIN_URL, waitFor } from './env.js';

/** Debian installs pgbouncer to /usr/sbin, which is not always on PATH. */
export function pgbouncerBinary(): string {
  for (const candidate of ['pgbouncer', '/usr/sbin/pgbouncer', '/usr/local/sbin/pgbouncer']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  throw new Error('pgbouncer is not installed (apt-get install -y pgbouncer)');
}

export interface PgBouncer {
  port: number;
  /** The scenario database, reached through PgBouncer. */
  url: string;
}

/**
 * Debian's PgBouncer on its own port in transaction mode with a server pool of two for one
 * database: consecutive transactions of one client land on different server connections and
 * one server connection serves many clients, which is what would leak a session-level setting.
 */
export async function startPgBouncer(cleanup: Cleanup, database: string, opts: { poolSize?: number } = {}): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  const dir = await mkdtemp(path.join(tmpdir(), 'resilience-pgbouncer-'));
  cleanup.add('pgbouncer config', () => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const upstream = new URL(PG_ADMIN_URL);
  const user = decodeURIComponent(upstream.username || 'postgres');
  const ini = [
    '[databases]',
    `${database} = host=${upstream.hostname} port=${upstream.port || '5432'} dbname=${database} user=${user}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${HOST}`,
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    'max_client_conn = 200',
    `default_pool_size = ${opts.poolSize ?? 2}`,
    'reserve_pool_size = 0',
    // Stock settings otherwise: no ignore_startup_parameters, so the app must not depend on any.
    `admin_users = ${user}`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'pgbouncer.ini'), ini);
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" ""\n`);
  // PgBouncer refuses to run as root; it then runs as the postgres account, which must read these.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    await chmod(dir, 0o755);
    for (const f of ['pgbouncer.ini', 'userlist.txt']) await chmod(path.join(dir, f), 0o644);
  }
  const args = [...(asRoot ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')];
  const child = new Child('pgbouncer', binary, args, {});
  cleanup.add(`pgbouncer on ${port}`, () => child.stop(5000));
  const url = new URL(PG_ADMIN_URL);
  url.port = String(port);
  url.pathname = `/${database}`;
  await waitFor(
    `pgbouncer on ${port}`,
    async () => {
      if (!child.running) throw new GiveUp('pgbouncer exited');
      const client = new pg.Client({ connectionString: url.toString() });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    10_000,
    100,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${child.tail()}`);
  });
  return { port, url: url.toString() };
}
