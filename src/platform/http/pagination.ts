import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError } from './errors.js';

export const limitSchema = z.coerce.number().int().min(1).max(100).default(25);

export interface Cursor {
  createdAt: string;
  id: string;
}

const cursorSchema = z.object({ t: z.iso.datetime({ offset: true }), i: z.uuid(), f: z.string().optional() });

/** What a list is filtered by (query filters, a parent id); `limit` and `cursor` are not filters. */
export type ListFilters = Record<string, string | number | boolean | readonly string[] | null | undefined>;

/**
 * A short digest of the filters a cursor was issued with, or undefined when there are none. Keys
 * are sorted and multi-value filters sorted and deduplicated, so the same filters written in
 * another order (`status=a,b` or `status=b&status=a`) keep the cursor valid.
 */
function filtersFingerprint(filters: ListFilters): string | undefined {
  const entries = Object.entries(filters)
    .filter((e): e is [string, Exclude<ListFilters[string], undefined>] => e[1] !== undefined && e[0] !== 'limit' && e[0] !== 'cursor')
    .map(([k, v]) => [k, Array.isArray(v) ? [...new Set(v as readonly string[])].sort() : v] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return undefined;
  return createHash('sha256').update(JSON.stringify(entries)).digest('base64url').slice(0, 16);
}

/** Opaque keyset cursor: base64url of the last row's (created_at, id) and the list's filters digest. */
export function encodeCursor(row: { createdAt: Date; id: string }, filters: ListFilters = {}): string {
  return Buffer.from(JSON.stringify({ t: row.createdAt.toISOString(), i: row.id, f: filtersFingerprint(filters) })).toString('base64url');
}

function invalidCursor(message: string): AppError {
  return new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'cursor', message }] } });
}

/**
 * Decodes `cursor`, which must have been issued for the same filters: reused with other filters it
 * would silently page through a different list, so that is 400 VALIDATION_FAILED.
 */
export function decodeCursor(cursor: string | undefined, filters: ListFilters = {}): Cursor | null {
  if (cursor === undefined) return null;
  let parsed: z.infer<typeof cursorSchema>;
  try {
    parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw invalidCursor('Invalid cursor');
  }
  if (parsed.f !== filtersFingerprint(filters)) {
    throw invalidCursor('This cursor was issued for other filters: send the same filters as the first page, or start again without a cursor.');
  }
  return { createdAt: parsed.t, id: parsed.i };
}

/**
 * Builds `{ data, nextCursor }` from database rows fetched with `limit + 1`; the cursor is the last
 * returned row's `(created_at, id)`, bound to `filters` (see decodeCursor).
 */
export function pageOf<R extends { created_at: Date; id: string }, O>(rows: R[], limit: number, present: (r: R) => O, filters: ListFilters = {}) {
  const hasMore = rows.length > limit;
  const page = hasMore ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { data: page.map(present), nextCursor: hasMore && last ? encodeCursor({ createdAt: last.created_at, id: last.id }, filters) : null };
}

export const listQuery = z.object({ limit: limitSchema, cursor: z.string().min(1).max(200).optional() }).strict();
