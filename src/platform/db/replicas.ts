/**
 * Read replicas (DATABASE_READ_HOSTS): standbys that may serve read-only transactions once they
 * have replayed the caller's position (read-position.ts). A read whose standby is behind after a
 * short wait, has failed, or whose work tries to write runs on the primary instead; nothing is
 * ever answered from a standby that might not show the caller's own writes.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { DbTarget } from '../telemetry/database.js';
import { databaseHosts, type HostTarget } from './hosts.js';
import { isConnectionFailure, isRecoveryConflict } from './pg-errors.js';
import type { ReadPosition } from './read-position.js';

/**
 * How long a read waits for its standby to replay the caller's position before going to the
 * primary. Replay on a healthy standby trails the commit by about a millisecond; a standby further
 * behind than this serves only callers whose position it has reached.
 */
export const REPLAY_WAIT_MS = 50;
const POLL_MS = 2;
/** A standby that failed is left alone this long; its reads go to the primary meanwhile. */
const DOWN_FOR_MS = 5000;
/** A standby that does not accept a connection quickly is not worth waiting for: the primary is there. */
const REPLICA_CONNECT_TIMEOUT_MS = 1000;

/**
 * On a standby: has replay reached the position? `pg_last_wal_replay_lsn()` is the end of the last
 * record applied, so at or past the end of a commit record means the commit is visible to every
 * snapshot taken afterwards. A host that is not in recovery is a primary: it has everything.
 */
const CAUGHT_UP_SQL = 'SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught_up';

/**
 * Decides, on the transaction's client, whether it may go on. Called right before the
 * transaction's opening statement is sent, so its first check is sent ahead of it in the same
 * round trip; it resolves before the transaction's work starts.
 */
export type TxGate = (client: pg.ClientBase) => Promise<boolean>;

/** The standby had not replayed the position within REPLAY_WAIT_MS (the read goes to the primary). */
export class ReplicaBehind extends Error {
  constructor() {
    super('the standby has not replayed the caller position');
    this.name = 'ReplicaBehind';
  }
}

/** Thrown by work on a standby that must not decide from what the standby shows: it runs on the primary. */
export class NeedsPrimary extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'NeedsPrimary';
  }
}

/** Waits (polling, at most REPLAY_WAIT_MS) until the client's server has replayed `lsn`. */
export function replayGate(lsn: string, waitMs = REPLAY_WAIT_MS): TxGate {
  return async (client) => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { rows } = await client.query<{ caught_up: boolean }>(CAUGHT_UP_SQL, [lsn]);
      if (rows[0]?.caught_up === true) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
}

export interface ReadReplica {
  readonly label: string;
  readonly pool: pg.Pool;
  readonly target: DbTarget;
  downUntil: number;
}

type Fallback = 'behind' | 'down' | 'other';

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

/** Why a failed replica read may run on the primary instead, or null when its error is the answer. */
function fallbackReason(err: unknown): Fallback | null {
  if (err instanceof ReplicaBehind) return 'behind';
  if (err instanceof NeedsPrimary) return 'other';
  // The work tried to write (a READ ONLY transaction, or a standby), or the standby cancelled it.
  if (codeOf(err) === '25006' || isRecoveryConflict(err)) return 'other';
  if (isConnectionFailure(err)) return 'down';
  // All of the standby's connections are busy: the primary has its own.
  if (err instanceof Error && err.message.includes('timeout exceeded when trying to connect')) return 'other';
  return null;
}

export class ReadReplicas {
  readonly replicas: ReadReplica[];
  private next = 0;

  constructor(
    hosts: HostTarget[],
    config: pg.PoolConfig,
    private readonly logger: Logger,
  ) {
    const connectionTimeoutMillis = Math.min(config.connectionTimeoutMillis ?? REPLICA_CONNECT_TIMEOUT_MS, REPLICA_CONNECT_TIMEOUT_MS);
    this.replicas = hosts.map((h) => {
      const pool = new pg.Pool({ ...config, connectionTimeoutMillis, connectionString: h.url });
      pool.on('error', (err) => {
        logger.warn({ host: h.label, err: { message: err.message, code: codeOf(err) } }, 'idle read replica client error');
      });
      const target: DbTarget = { prefix: 'pg', namespace: pool.options.database ?? undefined, serverAddress: h.host, serverPort: h.port };
      return { label: h.label, pool, target, downUntil: 0 };
    });
  }

  /** The next standby in turn that is not marked down, or null. */
  private pick(): ReadReplica | null {
    const now = Date.now();
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[(this.next + i) % this.replicas.length];
      if (replica && replica.downUntil <= now) {
        this.next = (this.next + i + 1) % this.replicas.length;
        return replica;
      }
    }
    return null;
  }

  /**
   * Runs read-only work on a standby that has replayed `position` (`onReplica` runs the
   * transaction there, with the gate when there is a position to wait for), else on the primary.
   * Records on `position` which way the read went.
   */
  async read<T>(position: ReadPosition, onReplica: (replica: ReadReplica, gate: TxGate | null) => Promise<T>, onPrimary: () => Promise<T>): Promise<T> {
    const replica = this.pick();
    if (replica === null) {
      position.lastRead = 'primary_no_replica';
      return onPrimary();
    }
    const lsn = position.lsn;
    try {
      const result = await onReplica(replica, lsn === null ? null : replayGate(lsn));
      position.lastRead = 'replica';
      return result;
    } catch (err) {
      const reason = fallbackReason(err);
      if (reason === null) throw err;
      if (reason === 'down') {
        replica.downUntil = Date.now() + DOWN_FOR_MS;
        this.logger.warn({ host: replica.label, err: { message: err instanceof Error ? err.message : String(err), code: codeOf(err) } }, 'read replica failed; its reads go to the primary for a while');
      }
      position.lastRead = reason === 'behind' ? 'primary_lagging' : 'primary_fallback';
      return onPrimary();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.pool.end()));
  }
}

/**
 * The standbys of DATABASE_READ_HOSTS (`host[:port]`, comma-separated), each reached with the
 * credentials, database and options of DATABASE_URL. Null when the list is malformed.
 */
export function readHostTargets(databaseUrl: string, readHosts: string): HostTarget[] | null {
  const parts = /^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?)[^/?#]*(.*)$/s.exec(databaseUrl);
  if (!parts || !/^[^\s/?#@]+$/.test(readHosts)) return null;
  return databaseHosts(`${parts[1] ?? ''}${readHosts}${parts[2] ?? ''}`);
}
