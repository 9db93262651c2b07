import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/errors.js';
import { withTenantTx } from '../../platform/db/tx.js';
import type { EventRow } from './events.presenters.js';
import { lastEventSeq, listEventRows } from './events.queries.js';
import { EVENTS_CHANNEL } from './events.record.js';

/** What a stream gives the hub: every new event of its tenant, in seq order, and an end. */
export interface EventSink {
  push(row: EventRow): void;
  /** Ends the stream (shutdown, or a failed credential check). */
  end(reason: string): void;
  /** Re-checks the stream's credentials; false ends it. */
  recheck(): Promise<boolean>;
}

const FETCH_BATCH = 500;

/** One tenant's live feed on this node: read once per commit, fanned out to its streams. */
class TenantFeed {
  readonly sinks = new Set<EventSink>();
  private running = false;
  private again = false;

  constructor(
    private readonly db: Database,
    private readonly tenantId: string,
    /** Every event up to here was in the table before any current sink joined. */
    public last: number,
    private readonly logger: Logger,
  ) {}

  private takeAgain(): boolean {
    const again = this.again;
    this.again = false;
    return again;
  }

  /** Reads what was committed after `last` and hands it to every sink; one reader at a time. */
  async wake(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      let more: boolean;
      do {
        const rows = await withTenantTx(this.db, { tenantId: this.tenantId, userId: null }, (tx) => listEventRows(tx, this.tenantId, {}, this.last, FETCH_BATCH));
        for (const row of rows) {
          this.last = Number(row.seq);
          for (const sink of this.sinks) sink.push(row);
        }
        // A notification during the read set `again` (the read may have missed its row).
        more = rows.length === FETCH_BATCH || this.takeAgain();
      } while (more);
    } catch (err) {
      // The next notification or poll retries from the same seq: a failed read costs latency only.
      this.logger.warn({ err: { message: (err as Error).message } }, 'event feed read failed');
    } finally {
      this.running = false;
    }
  }
}

export interface EventHubOptions {
  /** How often every feed re-reads the table even without a notification (a missed one costs at most this). */
  pollIntervalMs: number;
  /** How often every stream's credentials are checked again (SECURITY.md 55: at most 60 s). */
  recheckIntervalMs: number;
}

/**
 * Fans committed events out to this node's streams. Writers announce each event with pg_notify in
 * their own transaction (delivered at commit, on every node listening); the hub keeps one
 * listening connection per process, and on a notification reads the tenant's new rows once from
 * the table for all its streams. The table is the truth: a lost notification (a listener
 * reconnecting) is made up by the catch-up on reconnect and by the periodic poll.
 */
export class EventHub {
  private readonly feeds = new Map<string, TenantFeed>();
  private readonly pendingFeeds = new Map<string, Promise<TenantFeed>>();
  private listening: Promise<void> | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly opts: EventHubOptions,
  ) {}

  /** Read through a method: `closed` changes while join() awaits. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Open streams on this node for one tenant. */
  openStreams(tenantId: string): number {
    return this.feeds.get(tenantId)?.sinks.size ?? 0;
  }

  /**
   * Adds a stream to its tenant's feed. From then on it gets every event numbered above the seq
   * this resolves to; everything up to that seq is already in the table for its own catch-up.
   */
  async join(tenantId: string, sink: EventSink): Promise<{ liveAfter: number; leave: () => void }> {
    const closing = (): AppError => new AppError('SERVICE_UNAVAILABLE', { message: 'This server is shutting down; reconnect.', headers: { 'Retry-After': '1' } });
    if (this.closed) throw closing();
    await this.startListening();
    const feed = await this.feedOf(tenantId);
    if (this.isClosed()) throw closing();
    feed.sinks.add(sink);
    return {
      liveAfter: feed.last,
      leave: () => {
        feed.sinks.delete(sink);
        if (feed.sinks.size === 0 && this.feeds.get(tenantId) === feed) this.feeds.delete(tenantId);
      },
    };
  }

  /** Checks every stream's credentials now (the timer's work; tests call it directly). */
  async recheckAll(): Promise<void> {
    const sinks = [...this.feeds.values()].flatMap((f) => [...f.sinks]);
    await Promise.all(
      sinks.map(async (sink) => {
        const ok = await sink.recheck().catch(() => true);
        if (!ok) sink.end('credentials no longer valid');
      }),
    );
  }

  /** Reads every feed's table tail now (the poll's work). */
  async pollAll(): Promise<void> {
    await Promise.all([...this.feeds.values()].map((f) => f.wake()));
  }

  /** Ends every stream (SIGTERM: clients reconnect elsewhere with Last-Event-ID) and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const feed of this.feeds.values()) for (const sink of [...feed.sinks]) sink.end('shutting down');
    this.feeds.clear();
    const unlisten = this.unlisten;
    this.unlisten = null;
    if (unlisten) await unlisten();
  }

  private feedOf(tenantId: string): Promise<TenantFeed> {
    const existing = this.feeds.get(tenantId);
    if (existing) return Promise.resolve(existing);
    let pending = this.pendingFeeds.get(tenantId);
    if (!pending) {
      pending = withTenantTx(this.db, { tenantId, userId: null }, (tx) => lastEventSeq(tx, tenantId))
        .then((last) => {
          const feed = this.feeds.get(tenantId) ?? new TenantFeed(this.db, tenantId, last, this.logger);
          this.feeds.set(tenantId, feed);
          return feed;
        })
        .finally(() => this.pendingFeeds.delete(tenantId));
      this.pendingFeeds.set(tenantId, pending);
    }
    return pending;
  }

  private startListening(): Promise<void> {
    this.listening ??= (async () => {
      this.unlisten = await this.db.listen(
        EVENTS_CHANNEL,
        (payload) => {
          this.onNotify(payload);
        },
        () => {
          this.pollAll().catch(() => undefined);
        },
      );
      const poll = setInterval(() => {
        this.pollAll().catch(() => undefined);
      }, this.opts.pollIntervalMs);
      const recheck = setInterval(() => {
        this.recheckAll().catch(() => undefined);
      }, this.opts.recheckIntervalMs);
      poll.unref();
      recheck.unref();
      this.timers.push(poll, recheck);
    })();
    return this.listening;
  }

  private onNotify(payload: string): void {
    const [tenantId, seqText] = payload.split(':');
    const feed = tenantId === undefined ? undefined : this.feeds.get(tenantId);
    if (feed && Number(seqText) > feed.last) feed.wake().catch(() => undefined);
  }
}
