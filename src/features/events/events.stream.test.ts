import { EventEmitter } from 'node:events';
import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../../platform/db/database.js';
import type { EventHub } from './events.hub.js';
import type { EventRow } from './events.presenters.js';
import { EventStream, MAX_PENDING_EVENTS } from './events.stream.js';

/** A response whose socket never drains (a consumer that stopped reading). */
class StuckResponse extends EventEmitter {
  written: string[] = [];
  ended = false;
  destroyed = false;
  get writableEnded(): boolean {
    return this.ended;
  }
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return false;
  }
  end(): this {
    this.ended = true;
    return this;
  }
}

// The catch-up reads an empty table.
const noRows = { query: () => Promise.resolve({ rows: [], rowCount: 0 }) } as unknown as Queryable;
const db = { withAppTx: (_s: unknown, fn: (tx: Queryable) => Promise<unknown>) => fn(noRows) } as unknown as Database;

function row(seq: number): EventRow {
  return { seq, id: `id-${String(seq)}`, type: 'task.created', incident_id: null, actor_type: 'user', actor_id: null, data: {}, occurred_at: new Date(0), trace_parent: null };
}

async function stuckStream() {
  const res = new StuckResponse();
  let left = false;
  const hub = { join: () => Promise.resolve({ liveAfter: 0, leave: () => (left = true) }) } as unknown as EventHub;
  const stream = new EventStream(res as unknown as Response, { db, hub, tenantId: 't', filter: {}, after: null, keepAliveMs: 60_000, recheck: () => Promise.resolve(true), onEnd: () => undefined });
  await stream.start();
  return { res, stream, left: () => left };
}

describe('EventStream back-pressure', () => {
  it('when a consumer stops reading, then events wait in memory up to the limit and one more disconnects it', async () => {
    const { res, stream, left } = await stuckStream();
    stream.push(row(1)); // written; the socket reports it full
    for (let seq = 2; seq <= MAX_PENDING_EVENTS + 1; seq += 1) stream.push(row(seq));
    expect(res.ended).toBe(false);
    expect(res.written.filter((w) => w.startsWith('id:'))).toHaveLength(1);
    stream.push(row(MAX_PENDING_EVENTS + 2));
    expect(res.ended).toBe(true);
    expect(left()).toBe(true);
  });

  it('when the socket drains, then the waiting events follow in seq order', async () => {
    const { res, stream } = await stuckStream();
    for (let seq = 1; seq <= 5; seq += 1) stream.push(row(seq));
    res.write = (chunk: string) => {
      res.written.push(chunk);
      return true;
    };
    res.emit('drain');
    expect(res.written.filter((w) => w.startsWith('id:')).map((w) => w.split('\n')[0])).toEqual(['id: 1', 'id: 2', 'id: 3', 'id: 4', 'id: 5']);
  });
});
