/** An `events` row as the list, the stream and webhooks read it. */
export interface EventRow {
  seq: number | string;
  id: string;
  type: string;
  incident_id: string | null;
  actor_type: string;
  actor_id: string | null;
  data: Record<string, unknown>;
  occurred_at: Date;
  trace_parent: string | null;
}

/** The columns every reader selects, in `EventRow`'s shape. */
export const EVENT_COLUMNS = 'seq, id, type, incident_id, actor_type, actor_id, data, occurred_at, trace_parent';

/** API.md's Event: the same JSON in the list, on the stream and in a webhook body. */
export function presentEvent(row: EventRow) {
  return {
    id: row.id,
    seq: Number(row.seq),
    type: row.type,
    occurredAt: row.occurred_at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    data: row.data,
  };
}

export type EventJson = ReturnType<typeof presentEvent>;
