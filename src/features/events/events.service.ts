import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/errors.js';
import { presentEvent } from './events.presenters.js';
import { listEventRows, type EventFilter } from './events.queries.js';
import type { ListEventsQuery } from './events.schema.js';

const cursorSchema = z.object({ s: z.number().int().min(0), f: z.string() });

/** The filters a cursor is bound to: types as a set, and the incident. */
function fingerprint(filter: EventFilter): string {
  const types = filter.types ? [...new Set(filter.types)].sort() : null;
  return createHash('sha256').update(JSON.stringify([types, filter.incidentId ?? null])).digest('base64url').slice(0, 16);
}

function encodeCursor(seq: number, filter: EventFilter): string {
  return Buffer.from(JSON.stringify({ s: seq, f: fingerprint(filter) })).toString('base64url');
}

function decodeCursor(cursor: string, filter: EventFilter): number {
  const invalid = (message: string) => new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'cursor', message }] } });
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw invalid('Invalid cursor');
  }
  if (parsed.f !== fingerprint(filter)) throw invalid('This cursor was issued for other filters: send the same filters as the first page, or start again without a cursor.');
  return parsed.s;
}

/**
 * A page of the tenant's events, oldest first by seq, after `after` (a seq) or the cursor. A
 * poller keeps the last seq it saw and asks `?after=` it: seq follows commit order, so nothing it
 * has not seen can appear below it later.
 */
export async function listEvents(tx: Queryable, tenantId: string, q: ListEventsQuery) {
  const filter: EventFilter = { types: q.types, incidentId: q.incidentId };
  const after = q.cursor !== undefined ? decodeCursor(q.cursor, filter) : (q.after ?? 0);
  const rows = await listEventRows(tx, tenantId, filter, after, q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { data: page.map(presentEvent), nextCursor: rows.length > q.limit && last ? encodeCursor(Number(last.seq), filter) : null };
}
