import { spawnSync, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HOST, waitFor } from '../../resilience/support/env.js';
import { Child, freePort, type Cleanup } from '../../resilience/support/processes.js';
import { query } from './cluster.js';

export { query };

/**
 * A throw-away primary and one asynchronous streaming standby (pg_basebackup -R) on free ports
 * under a temporary directory, as the `postgres` user when run as root (PostgreSQL refuses root).
 * What DATABASE_READ_HOSTS points at in production: a hot standby that replays the primary's WAL
 * some time after each commit.
 */

const BINARIES = ['initdb', 'postgres', 'pg_basebackup'];
export const DATABASE = 'app';

/** The newest PostgreSQL bin directory with initdb, postgres and pg_basebackup, or null. */
export function postgresBinDir(): string | null {
  if (!existsSync('/usr/lib/postgresql')) return null;
  for (const version of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (BINARIES.every((b) => existsSync(path.join(dir, b)))) return dir;
  }
  return null;
}

export class StreamingPair {
  private constructor(
    readonly primaryPort: number,
    readonly standbyPort: number,
    private readonly standby: Child,
  ) {}

  get standbyUrl(): string {
    return this.url(this.standbyPort);
  }

  /** Stops the standby (fast shutdown), as losing the replica host would. */
  async stopStandby(): Promise<void> {
    this.standby.signal('SIGINT');
    await this.standby.exited;
  }

  /** Pauses or resumes WAL replay on the standby; returns once the standby reports the new state. */
  async setReplayPaused(paused: boolean): Promise<void> {
    await query(this.standbyUrl, paused ? 'SELECT pg_wal_replay_pause()' : 'SELECT pg_wal_replay_resume()');
    await waitFor(
      paused ? 'replay to pause' : 'replay to resume',
      async () => {
        const rows = await query<{ state: string }>(this.standbyUrl, 'SELECT pg_get_wal_replay_pause_state() AS state');
        // 'pause requested' already stops replay before the next record.
        return (rows[0]?.state !== 'not paused') === paused ? true : undefined;
      },
      10_000,
    );
  }

  url(port: number): string {
    return `postgres://postgres@${HOST}:${String(port)}/${DATABASE}`;
  }

  get primaryUrl(): string {
    return this.url(this.primaryPort);
  }

  /** `host:port` of the standby, as DATABASE_READ_HOSTS lists it. */
  get standbyHost(): string {
    return `${HOST}:${String(this.standbyPort)}`;
  }

  static async start(cleanup: Cleanup, binDir: string): Promise<StreamingPair> {
    const dir = await mkdtemp(path.join(tmpdir(), 'replica-lane-'));
    cleanup.add('remove the replication directory', () => rm(dir, { recursive: true, force: true }));
    let owner: { uid: number; gid: number } | null = null;
    if (process.getuid?.() === 0) {
      const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
      owner = { uid: id('-u'), gid: id('-g') };
      await chown(dir, owner.uid, owner.gid);
    }
    const opts: SpawnOptions = { cwd: dir, env: { PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, LC_ALL: 'C' }, ...(owner ?? {}) };
    const bin = (name: string) => path.join(binDir, name);
    const primaryData = path.join(dir, 'primary');
    const standbyData = path.join(dir, 'standby');

    await runToEnd('initdb', bin('initdb'), ['-D', primaryData, '-U', 'postgres', '--auth=trust', '--no-sync'], opts);
    const primaryPort = await freePort();
    // fsync off: a throw-away cluster; replication and replay behave the same.
    const serverArgs = (data: string, port: number) => ['-D', data, '-p', String(port), '-k', dir, '-c', `listen_addresses=${HOST}`, '-c', 'fsync=off'];
    spawnServer(cleanup, 'primary', bin('postgres'), serverArgs(primaryData, primaryPort), opts);
    await waitReady(`postgres://postgres@${HOST}:${String(primaryPort)}/postgres`, false);
    await query(`postgres://postgres@${HOST}:${String(primaryPort)}/postgres`, `CREATE DATABASE ${DATABASE}`);

    await runToEnd('pg_basebackup', bin('pg_basebackup'), ['-h', HOST, '-p', String(primaryPort), '-U', 'postgres', '-D', standbyData, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], opts);
    const standbyPort = await freePort();
    const standby = spawnServer(cleanup, 'standby', bin('postgres'), serverArgs(standbyData, standbyPort), opts);
    const pair = new StreamingPair(primaryPort, standbyPort, standby);
    await waitReady(pair.url(standbyPort), true);
    return pair;
  }
}

function spawnServer(cleanup: Cleanup, name: string, command: string, args: string[], opts: SpawnOptions): Child {
  const child = new Child(name, command, args, opts);
  cleanup.add(`stop the ${name}`, async () => {
    // SIGINT: fast shutdown (SIGKILL would leave shared memory behind).
    child.signal('SIGINT');
    await child.exited;
  });
  return child;
}

/** A set-up command to its end (seconds); its output is shown only when it fails. */
function runToEnd(name: string, command: string, args: string[], opts: SpawnOptions): Promise<void> {
  const res = spawnSync(command, args, { ...opts, encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) return Promise.reject(new Error(`${name} failed (${String(res.status ?? res.signal)}):\n${res.stdout}${res.stderr}`));
  return Promise.resolve();
}

async function waitReady(url: string, standby: boolean): Promise<void> {
  await waitFor(
    standby ? 'the standby to accept reads' : 'the primary to start',
    async () => {
      const rows = await query<{ in_recovery: boolean }>(url, 'SELECT pg_is_in_recovery() AS in_recovery');
      return rows[0]?.in_recovery === standby ? true : undefined;
    },
    60_000,
    100,
  );
}
