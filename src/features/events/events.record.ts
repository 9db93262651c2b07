import { randomUUID } from 'node:crypto';
import { prepareAuditChain } from '../../platform/audit/audit.js';
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

// seq is max + 1 under the tenant's audit chain lock (see recordEvent); the notification is
// delivered to listeners when (and only if) the transaction commits.
const INSERT_EVENT_SQL = `WITH event AS (
    INSERT INTO events (tenant_id, seq, id, type, incident_id, actor_type, actor_id, data, occurred_at, trace_parent)
    SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9 FROM events WHERE tenant_id = $1
    RETURNING seq)
  SELECT seq, pg_notify('${EVENTS_CHANNEL}', $1::text || ':' || seq::text) AS notified FROM event`;

/**
 * Records one event in the caller's transaction: a rolled-back change leaves no event, a
 * committed one always has one. The event is numbered under the tenant's audit chain head lock
 * (`prepareAuditChain`, usually already taken in the request's first round trip, so no extra
 * wait): the lock is held to commit, so numbers follow commit order and a reader that has seen
 * `seq = n` never later finds an event below n. The lock order is that of the audit writer:
 * quota counter, the rows the request changes, then the chain (call this after the changes).
 */
export async function recordEvent(
  tx: Queryable,
  ctx: Pick<RequestContext, 'principal' | 'now'>,
  tenantId: string,
  event: NewEvent,
): Promise<RecordedEvent> {
  await prepareAuditChain(tx, tenantId);
  const actor = event.actor ?? actorOf(ctx.principal);
  const id = randomUUID();
  const { rows } = await tx.query<{ seq: number | string }>(INSERT_EVENT_SQL, [
    tenantId,
    id,
    event.type,
    event.incidentId,
    actor.type,
    actor.id,
    JSON.stringify(event.data),
    ctx.now,
    activeTraceParent(),
  ]);
  const seq = rows[0]?.seq;
  if (seq === undefined) throw new Error('event insert returned no seq');
  countEventWritten(tx, event.type);
  return { id, seq: Number(seq) };
}
