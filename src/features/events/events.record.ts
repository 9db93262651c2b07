import { randomUUID } from 'node:crypto';
import { headWrite, prepareAuditChain, type ChainHead } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import { actorOf, type Actor, type RequestContext } from '../../platform/http/context.js';
import { countEventWritten } from '../../platform/telemetry/metrics.js';
import { activeTraceParent } from '../../platform/telemetry/tracing.js';

/** Every type the event record holds (API.md, Events). `webhook.test` is never recorded here. */
export const EVENT_TYPES = [
  'incident.created',
  'incident.updated',
  'incident.status_changed',
  'incident.acknowledged',
  'timeline_event.created',
  'task.created',
  'task.updated',
  'status_update.created',
  'alert.triggered',
  'alert.acknowledged',
  'alert.resolved',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The PostgreSQL channel each committed event is announced on, as `<tenantId>:<seq>`. */
export const EVENTS_CHANNEL = 'incident_tracker_events';

export interface NewEvent {
  type: EventType;
  /** The incident the event belongs to (filters `?incidentId=`); null for tenant-level events. */
  incidentId: string | null;
  /** The resource as the API returns it after the change, plus `changes` for updates. */
  data: Record<string, unknown>;
  /** Defaults to the request's principal. */
  actor?: Actor;
}

export interface RecordedEvent {
  id: string;
  seq: number;
}

/** An event numbered and ready to insert (see numberEvent). */
export interface NumberedEvent extends RecordedEvent {
  params: unknown[];
}

/**
 * The INSERT of a numbered event and its announcement, for a data-modifying statement: `insert`
 * is a CTE body, `notify` a select-list expression; parameters start at `$first` (ten of them, numberEvent's params).
 * The notification is delivered to listeners when (and only if) the transaction commits.
 */
export function eventStatement(first: number): { insert: string; notify: string } {
  const n = (k: number): string => `$${String(first + k)}`;
  return {
    insert: `INSERT INTO events (tenant_id, seq, id, type, incident_id, actor_type, actor_id, data, occurred_at, trace_parent)
      VALUES (${n(0)}, ${n(1)}, ${n(2)}, ${n(3)}, ${n(4)}, ${n(5)}, ${n(6)}, ${n(7)}, ${n(8)}, ${n(9)})`,
    notify: `pg_notify('${EVENTS_CHANNEL}', ${n(0)}::text || ':' || ${n(1)}::text)`,
  };
}

/**
 * Numbers one event of the tenant onto the transaction's locked chain head without writing it:
 * the caller must issue, in this transaction, a statement that inserts it (eventStatement) and
 * writes the head (headWrite), as recordEvent does. The number is the counter on the tenant's
 * audit chain head row, whose lock
 * (`prepareAuditChain`, usually already taken in the request's first round trip, so no extra wait)
 * is held to commit: numbers follow commit order, have no gaps (a rollback takes its numbers back
 * with it), and a reader that has seen `seq = n` never later finds an event below n. The lock order
 * is that of the audit writer: quota counter, the rows the request changes, then the chain (call
 * this after the changes).
 */
export function numberEvent(head: ChainHead, tx: Queryable, ctx: Pick<RequestContext, 'principal' | 'now'>, tenantId: string, event: NewEvent): NumberedEvent {
  head.event_seq += 1;
  const seq = head.event_seq;
  const actor = event.actor ?? actorOf(ctx.principal);
  const id = randomUUID();
  countEventWritten(tx, event.type);
  return {
    id,
    seq,
    params: [tenantId, seq, id, event.type, event.incidentId, actor.type, actor.id, JSON.stringify(event.data), ctx.now, activeTraceParent()],
  };
}

/**
 * Records one event in the caller's transaction: a rolled-back change leaves no event, a
 * committed one always has one. One statement inserts it, moves the chain head's counter and
 * announces it on EVENTS_CHANNEL as `<tenantId>:<seq>`.
 */
export async function recordEvent(
  tx: Queryable,
  ctx: Pick<RequestContext, 'principal' | 'now'>,
  tenantId: string,
  event: NewEvent,
): Promise<RecordedEvent> {
  const head = await prepareAuditChain(tx, tenantId);
  const numbered = numberEvent(head, tx, ctx, tenantId, event);
  const statement = eventStatement(1);
  const write = headWrite(tenantId, head, numbered.params.length + 1);
  await tx.query(`WITH event AS (${statement.insert}), head AS (${write.sql}) SELECT ${statement.notify} AS notified`, [
    ...numbered.params,
    ...write.params,
  ]);
  return { id: numbered.id, seq: numbered.seq };
}
