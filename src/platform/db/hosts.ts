/**
 * Several PostgreSQL hosts, one writable primary among them (an HA cluster such as
 * pg_auto_failover or Patroni). `DATABASE_URL` may name several hosts the way libpq does,
 * `postgres://user:pass@db1:5432,db2:5432,db3:5432/app`; the pool then connects only to the host
 * that is writable, finds it again after a connection error or a read-only answer, and keeps
 * looking across every host until the connection timeout before the request gets a 503. With one
 * host nothing of this applies: the pool is node-postgres's own, as it always was.
 */
import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import { isConnectionFailure } from './pg-errors.js';

/** One host of the list and the connection string that reaches it (same user, database, options). */
export interface HostTarget {
  host: string;
  port: number;
  /** `host:port`, for logs (never the connection string, which may hold a password). */
  label: string;
  url: string;
}

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/s;
const HOST_PART = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

/**
 * The hosts of a `postgres://` URL: one, or several separated by commas as libpq writes them.
 * Null when the URL is not one (config validation reports it). Each host gets a URL of its own
 * with the same credentials, database and query string.
 */
export function databaseHosts(url: string): HostTarget[] | null {
  const parts = URL_PARTS.exec(url);
  if (!parts) return null;
  const [, scheme = '', userinfo = '', authority = '', rest = ''] = parts;
  if (!authority.includes(',')) {
    if (!URL.canParse(url)) return null;
    const { hostname, port, host } = new URL(url);
    return [{ host: hostname, port: port === '' ? 5432 : Number(port), label: host, url }];
  }
  const hosts: HostTarget[] = [];
  for (const entry of authority.split(',')) {
    const m = HOST_PART.exec(entry);
    if (!m?.[1]) return null;
    const port = m[2] === undefined ? 5432 : Number(m[2]);
    if (port < 1 || port > 65535) return null;
    const label = `${m[1]}:${String(port)}`;
    const hostUrl = `${scheme}${userinfo}${label}${rest}`;
    if (!URL.canParse(hostUrl)) return null;
    hosts.push({ host: m[1].replace(/^\[|\]$/g, ''), port, label, url: hostUrl });
  }
  return hosts;
}

/** Thrown when no host answered as a writable primary before the deadline (08001: no connection). */
export class NoPrimaryError extends Error {
  readonly code = '08001';
  constructor(hosts: number, timeoutMs: number, failures: string[]) {
    super(`no writable PostgreSQL primary among ${String(hosts)} hosts within ${String(timeoutMs)} ms (${failures.join('; ')})`);
    this.name = 'NoPrimaryError';
  }
}

/** A host that turned out to be read-only (a standby) when the pool expected the primary. */
class ReadOnlyHostError extends Error {
  readonly code = '25006';
  constructor(label: string) {
    super(`${label} is read-only (a standby), not the primary`);
    this.name = 'ReadOnlyHostError';
  }
}

interface ParameterStatus {
  parameterName: string;
  parameterValue: string;
}

/** The client's protocol connection, which emits one event per server message. */
function connectionOf(client: pg.Client): EventEmitter {
  return client.connection;
}

/** The parameters the server reports at connect (and whenever one of them changes). */
function reportedParameters(client: pg.Client): Map<string, string> {
  const reported = new Map<string, string>();
  connectionOf(client).on('parameterStatus', (msg: ParameterStatus) => reported.set(msg.parameterName, msg.parameterValue));
  return reported;
}

/**
 * Whether a connected server takes no writes. PostgreSQL 14 and later report `in_hot_standby`
 * and `default_transaction_read_only` at connect, so no round trip is needed; older servers (and
 * poolers that do not pass the parameters on) are asked.
 */
async function isReadOnly(client: pg.Client, reported: Map<string, string>): Promise<boolean> {
  const hotStandby = reported.get('in_hot_standby');
  if (hotStandby !== undefined) return hotStandby === 'on' || reported.get('default_transaction_read_only') === 'on';
  const res = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
  return res.rows[0]?.transaction_read_only !== 'off';
}

const ROUND_PAUSE_MS = 100;

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Which host is the primary: known after a search, forgotten on the first sign it no longer is. */
export class PrimaryLocator {
  private primary: HostTarget | null = null;
  private last: HostTarget;
  private search: Promise<HostTarget> | null = null;

  constructor(
    readonly hosts: HostTarget[],
    private readonly logger: Logger,
    private readonly applicationName: string,
  ) {
    const first = hosts[0];
    if (!first) throw new Error('no database hosts');
    this.last = first;
  }

  /** Where a new connection goes: the primary, or while it is being looked for the last one known. */
  get current(): HostTarget {
    return this.primary ?? this.last;
  }

  /** The primary, searching every host (shared by concurrent callers) when it is not known. */
  find(deadline: number): Promise<HostTarget> {
    if (this.primary) return Promise.resolve(this.primary);
    this.search ??= this.discover(deadline).finally(() => {
      this.search = null;
    });
    return this.search;
  }

  /** `target` failed or is read-only: the next connection searches for the primary again. */
  forget(target: HostTarget, reason: unknown): void {
    if (this.primary !== target) return;
    this.primary = null;
    const code = (reason as { code?: unknown } | null)?.code;
    this.logger.warn({ host: target.label, err: { message: reasonOf(reason), code } }, 'database primary lost; searching the hosts for it');
  }

  /**
   * Probes every host at once, in rounds until `deadline`. The first writable host in list order
   * wins (a later host is not waited for once an earlier one answered writable).
   */
  private async discover(deadline: number): Promise<HostTarget> {
    const started = Date.now();
    for (let round = 1; ; round++) {
      const probes = this.hosts.map((h) => this.probe(h, deadline));
      const failures: string[] = [];
      for (const [i, probe] of probes.entries()) {
        const outcome = await probe;
        const target = this.hosts[i];
        if (!target) continue;
        if (outcome === 'writable') {
          this.primary = target;
          this.last = target;
          this.logger.info({ host: target.label, round, ms: Date.now() - started }, 'database primary found');
          return target;
        }
        failures.push(`${target.label}: ${outcome}`);
      }
      const pause = Math.min(ROUND_PAUSE_MS, deadline - Date.now());
      if (pause <= 0) throw new NoPrimaryError(this.hosts.length, Date.now() - started, failures);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** 'writable', or why the host is not the primary. Never rejects; the probe connection is closed. */
  private async probe(target: HostTarget, deadline: number): Promise<string> {
    const remaining = Math.max(1, deadline - Date.now());
    const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: remaining, query_timeout: remaining, application_name: this.applicationName });
    // In the same tick as the client exists: an error event with no listener ends the process.
    client.on('error', () => undefined);
    const reported = reportedParameters(client);
    try {
      await client.connect();
      return (await isReadOnly(client, reported)) ? 'read-only' : 'writable';
    } catch (err) {
      return reasonOf(err);
    } finally {
      client.end().catch(() => undefined);
    }
  }
}

type ConnectCallback = (err: Error | null, client?: pg.Client) => void;

/**
 * The pool's client class: connects to the locator's current primary, refuses the connection if
 * that host turns out to be read-only, and reports every sign of a failed or demoted primary to
 * the locator. A client that saw one is retired, so the pool drops it instead of reusing it.
 */
function failoverClientClass(locator: PrimaryLocator): typeof pg.Client {
  return class FailoverClient extends pg.Client {
    private readonly target: HostTarget;
    private readonly reported: Map<string, string>;

    constructor(config?: string | pg.ClientConfig) {
      const target = locator.current;
      super({ ...(typeof config === 'object' ? config : {}), connectionString: target.url });
      this.target = target;
      // In the same tick as the client exists, for its whole life: whoever else listens (the
      // pool while idle, the transaction while checked out), a dead socket never goes unheard.
      this.on('error', (err: Error) => {
        locator.forget(target, err);
      });
      this.reported = reportedParameters(this);
      connectionOf(this).on('errorMessage', (msg: unknown) => {
        if (!isConnectionFailure(msg)) return;
        locator.forget(target, msg);
        // node-postgres's own flag for a broken client: the pool discards it on release.
        (this as unknown as { _queryable: boolean })._queryable = false;
      });
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): Promise<pg.Client> | undefined {
      if (callback === undefined) {
        return new Promise((resolve, reject) => {
          this.connect((err: Error | null) => {
            if (err) reject(err);
            else resolve(this);
          });
        });
      }
      const done = callback as ConnectCallback;
      const fail = (err: Error): void => {
        locator.forget(this.target, err);
        done(err);
      };
      super.connect((err: Error | null) => {
        if (err) {
          fail(err);
          return;
        }
        isReadOnly(this, this.reported).then(
          (readOnly) => {
            if (!readOnly) {
              done(null, this);
              return;
            }
            this.end().catch(() => undefined);
            fail(new ReadOnlyHostError(this.target.label));
          },
          (probeErr: unknown) => {
            this.end().catch(() => undefined);
            fail(probeErr instanceof Error ? probeErr : new Error(String(probeErr)));
          },
        );
      });
      return undefined;
    }
  };
}

type PoolCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;
const NOOP = (): void => undefined;
const RETRY_PAUSE_MS = 50;

/**
 * node-postgres's pool over the locator's primary. A checkout that fails because the host failed
 * or is read-only is tried again (the locator searching every host) until the connection timeout
 * has passed since the checkout began; nothing of a request has been sent at that point.
 */
export class FailoverPool extends pg.Pool {
  constructor(
    config: pg.PoolConfig,
    readonly locator: PrimaryLocator,
  ) {
    super({ ...config, Client: failoverClientClass(locator) });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: PoolCallback): void;
  override connect(callback?: PoolCallback): Promise<pg.PoolClient> | undefined {
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.connect((err, client) => {
          if (err || !client) reject(err ?? new Error('no client from the pool'));
          else resolve(client);
        });
      });
    }
    const deadline = Date.now() + (this.options.connectionTimeoutMillis ?? 0);
    const attempt = (): void => {
      this.locator.find(deadline).then(
        () => {
          super.connect((err, client, done) => {
            if (err && isConnectionFailure(err) && Date.now() < deadline) {
              setTimeout(attempt, RETRY_PAUSE_MS);
              return;
            }
            // Called in the same tick as the hand-over, so the caller's listeners are in place.
            callback(err, client, done);
          });
        },
        (err: unknown) => {
          callback(err instanceof Error ? err : new Error(String(err)), undefined, NOOP);
        },
      );
    };
    attempt();
    return undefined;
  }
}

/** The pool for `url`: node-postgres's own for one host, a FailoverPool for several. */
export function createPool(url: string, config: pg.PoolConfig, logger: Logger): pg.Pool {
  const hosts = databaseHosts(url);
  if (hosts === null) throw new Error('DATABASE_URL is not a valid postgres:// URL');
  if (hosts.length === 1) return new pg.Pool({ ...config, connectionString: url });
  return new FailoverPool(config, new PrimaryLocator(hosts, logger, config.application_name ?? 'incident-tracker-api'));
}
