import { spawnSync, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { HOST, sleep, waitFor } from '../../resilience/support/env.js';
import { Child, freePort, type Cleanup } from '../../resilience/support/processes.js';

/**
 * A pg_auto_failover formation on this machine: a monitor and three data nodes, each a
 * `pg_autoctl ... --run` process (its own process group, so that killing the group kills the
 * node's PostgreSQL with it, as losing the machine would), all under one temporary directory.
 * `pg_autoctl` refuses to run as root, so as root the nodes run as the `postgres` user.
 */

export const DATABASE = 'app';
const MONITOR_DB = 'pg_auto_failover';

/** Monitor settings (docs: README "High availability"): fail over in seconds, not the ~50 s default. */
export const MONITOR_SETTINGS: Record<string, string> = {
  'pgautofailover.primary_demote_timeout': '10s',
  'pgautofailover.node_considered_unhealthy_timeout': '3s',
  'pgautofailover.health_check_period': '1s',
  'pgautofailover.health_check_max_retries': '1',
  'pgautofailover.health_check_retry_delay': '1s',
  'pgautofailover.health_check_timeout': '1s',
};
/** Keeper setting of every data node. */
export const NETWORK_PARTITION_TIMEOUT_S = 5;
export const NUMBER_SYNC_STANDBYS = 1;

/** The PostgreSQL bin directory that has the pgautofailover extension, or null. */
export function autoFailoverBinDir(): string | null {
  if (spawnSync('pg_autoctl', ['--version']).status !== 0) return null;
  for (const version of readdirSync('/usr/lib/postgresql').sort().reverse()) {
    if (existsSync(`/usr/share/postgresql/${version}/extension/pgautofailover.control`)) return `/usr/lib/postgresql/${version}/bin`;
  }
  return null;
}

export interface DataNode {
  name: string;
  port: number;
  pgdata: string;
  child: Child;
}

interface NodeState {
  nodename: string;
  nodeport: number;
  current_group_state: string;
  assigned_group_state: string;
}

export class AutoFailoverCluster {
  readonly nodes: DataNode[] = [];
  private monitor: Child | null = null;
  private monitorPort = 0;
  private readonly spawnOptions: SpawnOptions;

  private constructor(
    private readonly dir: string,
    private readonly binDir: string,
    private readonly cleanup: Cleanup,
    owner: { uid: number; gid: number } | null,
  ) {
    const env = {
      PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      PG_CONFIG: path.join(binDir, 'pg_config'),
      // Everything pg_autoctl keeps (its configuration and state files) stays in the directory.
      HOME: dir,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_RUNTIME_DIR: dir,
      PGCONNECT_TIMEOUT: '2',
    };
    this.spawnOptions = { cwd: dir, env, detached: true, ...(owner ?? {}) };
  }

  static async start(cleanup: Cleanup, binDir: string): Promise<AutoFailoverCluster> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ha-lane-'));
    let owner: { uid: number; gid: number } | null = null;
    if (process.getuid?.() === 0) {
      const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
      owner = { uid: id('-u'), gid: id('-g') };
      await chown(dir, owner.uid, owner.gid);
    }
    const cluster = new AutoFailoverCluster(dir, binDir, cleanup, owner);
    cleanup.add('remove the cluster directory', () => rm(dir, { recursive: true, force: true }));
    await cluster.startMonitor();
    await cluster.startDataNodes();
    return cluster;
  }

  /** `host:port` of every data node, in order: what DATABASE_URL lists. */
  get hostList(): string {
    return this.nodes.map((n) => `${HOST}:${String(n.port)}`).join(',');
  }

  get databaseUrl(): string {
    return `postgres://postgres@${this.hostList}/${DATABASE}`;
  }

  private spawnNode(name: string, args: string[]): Child {
    const child = new Child(name, 'pg_autoctl', args, this.spawnOptions);
    this.cleanup.add(`stop ${name}`, async () => {
      killGroup(child);
      await child.exited;
    });
    return child;
  }

  /** A short pg_autoctl command (config, switchover) as the nodes' user; throws on failure. */
  private async autoctl(args: string[], timeoutMs = 60_000): Promise<string> {
    const child = new Child('pg_autoctl', 'pg_autoctl', args, this.spawnOptions);
    const timer = setTimeout(() => { killGroup(child); }, timeoutMs);
    const exit = await child.exited;
    clearTimeout(timer);
    if (exit.code !== 0) throw new Error(`pg_autoctl ${args.slice(0, 2).join(' ')} failed (${String(exit.code ?? exit.signal)}):\n${child.tail()}`);
    return child.lines.join('\n');
  }

  private async startMonitor(): Promise<void> {
    this.monitorPort = await freePort();
    const pgdata = path.join(this.dir, 'monitor');
    this.monitor = this.spawnNode('monitor', ['create', 'monitor', '--pgdata', pgdata, '--pgport', String(this.monitorPort), '--hostname', HOST, '--listen', HOST, '--auth', 'trust', '--no-ssl', '--run']);
    const monitor = this.monitor;
    await waitFor(
      'the pg_auto_failover monitor',
      async () => {
        if (!monitor.running) throw new Error(`monitor exited:\n${monitor.tail()}`);
        return (await this.monitorQuery('SELECT 1 AS ok')).length === 1 ? true : undefined;
      },
      60_000,
      250,
    );
    for (const [name, value] of Object.entries(MONITOR_SETTINGS)) await this.monitorQuery(`ALTER SYSTEM SET ${name} = '${value}'`);
    await this.monitorQuery('SELECT pg_reload_conf()');
  }

  private get monitorUrl(): string {
    return `postgres://autoctl_node@${HOST}:${String(this.monitorPort)}/${MONITOR_DB}?sslmode=disable`;
  }

  async monitorQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return query<T>(`postgres://postgres@${HOST}:${String(this.monitorPort)}/${MONITOR_DB}`, sql, params);
  }

  /** A statement as the superuser on a data node's application database. */
  nodeQuery<T extends pg.QueryResultRow>(node: DataNode, sql: string, params: unknown[] = []): Promise<T[]> {
    return query<T>(`postgres://postgres@${HOST}:${String(node.port)}/${DATABASE}`, sql, params);
  }

  private async createDataNode(index: number): Promise<DataNode> {
    const name = `node${String(index + 1)}`;
    const port = await freePort();
    const pgdata = path.join(this.dir, name);
    const child = this.spawnNode(name, [
      'create', 'postgres', '--pgdata', pgdata, '--pgport', String(port), '--hostname', HOST, '--listen', HOST,
      '--auth', 'trust', '--no-ssl', '--monitor', this.monitorUrl, '--name', name, '--dbname', DATABASE, '--run',
    ]);
    const node = { name, port, pgdata, child };
    this.nodes[index] = node;
    return node;
  }

  private async startDataNodes(): Promise<void> {
    const first = await this.createDataNode(0);
    await this.waitForStates('the first node to run alone', (s) => s.some((n) => n.nodename === first.name && n.current_group_state === 'single'), 60_000);
    await Promise.all([this.createDataNode(1), this.createDataNode(2)]);
    // pg_basebackup waits for a checkpoint (a spread one can take minutes); ask for immediate ones.
    const cloning = { done: false };
    const nudge = (async () => {
      while (!cloning.done) {
        await this.nodeQuery(first, 'CHECKPOINT').catch(() => undefined);
        await sleep(1000);
      }
    })();
    try {
      await this.waitHealthy(120_000);
    } finally {
      cloning.done = true;
      await nudge;
    }
    await this.monitorQuery('SELECT pgautofailover.set_formation_number_sync_standbys($1, $2)', ['default', NUMBER_SYNC_STANDBYS]);
    for (const node of this.nodes) {
      await this.autoctl(['config', 'set', '--pgdata', node.pgdata, 'timeout.network_partition_timeout', String(NETWORK_PARTITION_TIMEOUT_S)]);
      await this.autoctl(['reload', '--pgdata', node.pgdata]);
    }
    await this.waitHealthy(60_000);
  }

  async states(): Promise<NodeState[]> {
    return this.monitorQuery<NodeState>("SELECT nodename, nodeport, current_group_state, assigned_group_state FROM pgautofailover.current_state('default') ORDER BY nodename");
  }

  async waitForStates(what: string, ok: (states: NodeState[]) => boolean, timeoutMs: number): Promise<NodeState[]> {
    return waitFor(what, async () => {
      const states = await this.states();
      return ok(states) ? states : undefined;
    }, timeoutMs, 250);
  }

  /** One primary and every other node a secondary, as assigned and as reported. */
  waitHealthy(timeoutMs: number): Promise<NodeState[]> {
    return this.waitForStates(
      'one primary and secondaries',
      (s) =>
        s.length === this.nodes.length &&
        s.every((n) => n.current_group_state === n.assigned_group_state) &&
        s.filter((n) => n.current_group_state === 'primary').length === 1 &&
        s.filter((n) => n.current_group_state === 'secondary').length === this.nodes.length - 1,
      timeoutMs,
    );
  }

  /**
   * The node that is primary as assigned and as reported (a killed primary keeps its last reported
   * state, 'primary'), waiting while the monitor is still moving the role (a promoted node between
   * wait_primary and primary).
   */
  async primary(timeoutMs = 30_000): Promise<DataNode> {
    const settled = (s: NodeState): boolean =>
      (s.assigned_group_state === 'primary' || s.assigned_group_state === 'wait_primary') && s.current_group_state === s.assigned_group_state;
    const states = await this.waitForStates('a settled primary', (all) => all.some(settled), timeoutMs);
    const primary = states.find(settled);
    const node = this.nodes.find((n) => n.name === primary?.nodename);
    if (!node) throw new Error(`no primary: ${JSON.stringify(states)}`);
    return node;
  }

  /** The whole node at once (pg_autoctl and its PostgreSQL): SIGKILL to its process group. */
  kill(node: DataNode): void {
    killGroup(node.child);
  }

  /** Starts a killed node's pg_autoctl again; it rejoins as a secondary (pg_rewind if needed). */
  restart(node: DataNode): void {
    node.child = this.spawnNode(node.name, ['run', '--pgdata', node.pgdata]);
  }

  /** A planned switchover through the monitor; returns when pg_autoctl reports it done. */
  async switchover(): Promise<void> {
    const alive = this.nodes.find((n) => n.child.running);
    if (!alive) throw new Error('no running node');
    await this.autoctl(['perform', 'switchover', '--pgdata', alive.pgdata, '--wait', '60'], 90_000);
  }
}

/** One statement on a connection of its own (the nodes come and go; no pool outlives them). */
export async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, query_timeout: 15_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** SIGKILL to a detached child's process group (the node's PostgreSQL included). */
function killGroup(child: Child): void {
  const pid = child.pid;
  child.signal('SIGKILL');
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}
