import type { Response } from 'express';
import type { Database } from '../../platform/db/database.js';
import { withTenantTx } from '../../platform/db/tx.js';
import { AppError } from '../../platform/http/errors.js';
import { countEventStream } from '../../platform/telemetry/metrics.js';
import type { EventHub, EventSink } from './events.hub.js';
import { presentEvent, type EventRow } from './events.presenters.js';
import { listEventRows, type EventFilter } from './events.queries.js';

/** A consumer this many matching events behind is disconnected (it resumes with Last-Event-ID). */
export const MAX_PENDING_EVENTS = 1000;
const CATCH_UP_PAGE = 500;

export interface EventStreamOptions {
  db: Database;
  hub: EventHub;
  tenantId: string;
  filter: EventFilter;
  /** Resume point: the stream sends every matching event with a larger seq; null means from now on. */
  after: number | null;
  keepAliveMs: number;
  recheck(): Promise<boolean>;
  /** Runs once, when the stream ends for any reason. */
  onEnd(): void;
}

/** Frames by row: the hub hands one row object to every stream of its tenant, so it is serialized once. */
const frames = new WeakMap<EventRow, string>();

function frame(row: EventRow): string {
  let text = frames.get(row);
  if (text === undefined) {
    // JSON.stringify escapes line breaks, so the data is one `data:` line.
    text = `id: ${String(row.seq)}\nevent: ${row.type}\ndata: ${JSON.stringify(presentEvent(row))}\n\n`;
    frames.set(row, text);
  }
  return text;
}

/**
 * One `GET /v1/events/stream` connection. It joins the tenant's live feed first (buffering what
 * arrives), then sends everything after its resume point from the table, then the buffer: the
 * feed delivers every event above the seq it joined at and the table read covers everything up
 * to it, so nothing is skipped, and seq de-duplicates the overlap. Writes respect back-pressure;
 * more than MAX_PENDING_EVENTS waiting ends the stream.
 */
export class EventStream implements EventSink {
  private cursor: number;
  private readonly fromNow: boolean;
  private readonly pending: EventRow[] = [];
  private catchingUp = true;
  private blocked = false;
  private ended = false;
  private keepAlive: NodeJS.Timeout | null = null;
  private leave: (() => void) | null = null;

  constructor(
    private readonly res: Response,
    private readonly opts: EventStreamOptions,
  ) {
    this.cursor = opts.after ?? 0;
    this.fromNow = opts.after === null;
  }

  /**
   * Joins the feed before answering, so that everything committed after the client sees the 200
   * reaches it (a stream without a resume point starts there). A failure to join throws before
   * anything is written, and the client gets an error answer.
   */
  async start(): Promise<void> {
    const joined = await this.opts.hub.join(this.opts.tenantId, this);
    this.leave = joined.leave;
    if (this.fromNow) this.cursor = Math.max(this.cursor, joined.liveAfter);
    if (this.ended) throw new AppError('SERVICE_UNAVAILABLE', { headers: { 'Retry-After': '1' } });
    countEventStream(1);
    this.res.on('close', () => {
      this.end('client closed');
    });
    this.res.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    this.res.write('retry: 3000\n\n');
    this.keepAlive = setInterval(() => {
      if (!this.blocked) this.res.write(': keep-alive\n\n');
    }, this.opts.keepAliveMs);
    this.keepAlive.unref();
    // The client may have gone while the stream joined (its 'close' came before the listener).
    if (this.res.destroyed) {
      this.end('client closed');
      return;
    }
    try {
      await this.catchUp();
      this.catchingUp = false;
      this.flush();
    } catch {
      this.end('catch-up failed');
    }
  }

  push(row: EventRow): void {
    if (this.ended || Number(row.seq) <= this.cursor || !this.matches(row)) return;
    this.pending.push(row);
    if (this.pending.length > MAX_PENDING_EVENTS) {
      this.end('consumer too far behind');
      return;
    }
    if (!this.catchingUp) this.flush();
  }

  recheck(): Promise<boolean> {
    return this.opts.recheck();
  }

  end(_reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.leave?.();
    this.pending.length = 0;
    this.opts.onEnd();
    // Before start() answered (the hub closed while it joined), the request's error answer ends it.
    if (this.keepAlive === null) return;
    clearInterval(this.keepAlive);
    countEventStream(-1);
    if (!this.res.writableEnded) this.res.end();
  }

  /** Read through a method: `ended` changes while the catch-up awaits. */
  private hasEnded(): boolean {
    return this.ended;
  }

  private matches(row: EventRow): boolean {
    const { types, incidentId } = this.opts.filter;
    return (types === undefined || types.includes(row.type)) && (incidentId === undefined || row.incident_id === incidentId);
  }

  private write(row: EventRow): void {
    const seq = Number(row.seq);
    if (seq <= this.cursor) return;
    this.cursor = seq;
    if (!this.res.write(frame(row))) this.blocked = true;
  }

  /** Sends the table's events after the cursor, a page at a time, waiting for the socket to drain between pages. */
  private async catchUp(): Promise<void> {
    for (;;) {
      const rows = await withTenantTx(this.opts.db, { tenantId: this.opts.tenantId, userId: null }, (tx) =>
        listEventRows(tx, this.opts.tenantId, this.opts.filter, this.cursor, CATCH_UP_PAGE),
      );
      if (this.hasEnded()) return;
      for (const row of rows) this.write(row);
      if (rows.length < CATCH_UP_PAGE) return;
      if (this.blocked) await new Promise<void>((resolve) => this.res.once('drain', resolve).once('close', resolve));
      if (this.hasEnded()) return;
    }
  }

  private flush(): void {
    while (!this.blocked && !this.catchingUp && !this.ended) {
      const row = this.pending.shift();
      if (!row) return;
      this.write(row);
    }
  }
}
