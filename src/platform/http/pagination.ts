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

/** Opaque keyset cursor: base64url of the last row's key (created_at to the microsecond, id) and the list's filters digest. */
export function encodeCursor(key: Cursor, filters: ListFilters = {}): string {
  return Buffer.from(JSON.stringify({ t: key.createdAt, i: key.id, f: filtersFingerprint(filters) })).toString('base64url');
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
 * Keyset pagination, the one way every list pages. A list statement is a fixed text built once
 * with `keyset()`: it selects `cursor_key` (the row's created_at to the microsecond, then its id),
 * compares `(created_at, id)` with three parameters and orders and limits by them. A first page
 * binds a sentinel key beyond every row ('infinity' or '-infinity'), so the comparison is always
 * there and always an index range condition; `limit + 1` rows tell whether a next page exists.
 */
export type KeysetOrder = 'newest first' | 'oldest first';

export interface PageRequest {
  after: Cursor | null;
  limit: number;
  /** What the cursor is bound to (see decodeCursor); the next cursor is issued for the same. */
  filters: ListFilters;
}

/** The page a list request asks for; a cursor issued for other filters is 400. */
export function pageRequest(query: { cursor?: string | undefined; limit: number }, filters: ListFilters = {}): PageRequest {
  return { after: decodeCursor(query.cursor, filters), limit: query.limit, filters };
}

export interface KeysetSql {
  /** The select-list entry `cursor_key` (every list row type includes `KeyedRow`). */
  key: string;
  /** `(created_at, id) < ($n, $n+1)` (or `>` oldest first). */
  after: string;
  /** `ORDER BY created_at DESC, id DESC LIMIT $n+2` (or ASC). */
  orderAndLimit: string;
}

/**
 * The keyset parts of a list statement whose three keyset parameters start at `$first` (bound by
 * `keysetParams`); `columns` name the ordering columns when they are not `created_at` and `id`.
 */
export function keyset(order: KeysetOrder, first: number, columns: { createdAt: string; id: string } = { createdAt: 'created_at', id: 'id' }): KeysetSql {
  const { createdAt, id } = columns;
  const [cmp, dir] = order === 'newest first' ? ['<', 'DESC'] : ['>', 'ASC'];
  return {
    key: `to_char(${createdAt} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '/' || ${id}::text AS cursor_key`,
    after: `(${createdAt}, ${id}) ${cmp} ($${String(first)}::timestamptz, $${String(first + 1)}::uuid)`,
    orderAndLimit: `ORDER BY ${createdAt} ${dir}, ${id} ${dir} LIMIT $${String(first + 2)}`,
  };
}

const BEYOND: Record<KeysetOrder, Cursor> = {
  'newest first': { createdAt: 'infinity', id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' },
  'oldest first': { createdAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' },
};

/** The three keyset parameters of `keyset()`: the key to continue after, and `limit + 1`. */
export function keysetParams(page: PageRequest, order: KeysetOrder): [string, string, number] {
  const after = page.after ?? BEYOND[order];
  return [after.createdAt, after.id, page.limit + 1];
}

export interface KeyedRow {
  cursor_key: string;
}

/** Builds `{ data, nextCursor }` from the `limit + 1` rows a keyset statement returned. */
export function pageOf<R extends KeyedRow, O>(rows: R[], page: PageRequest, present: (r: R) => O) {
  const hasMore = rows.length > page.limit;
  const data = hasMore ? rows.slice(0, page.limit) : rows;
  const last = data[data.length - 1];
  return { data: data.map(present), nextCursor: hasMore && last ? encodeCursor(cursorOfRow(last), page.filters) : null };
}

/** The cursor that continues after `row`. */
export function cursorOfRow(row: KeyedRow): Cursor {
  const slash = row.cursor_key.indexOf('/');
  return { createdAt: row.cursor_key.slice(0, slash), id: row.cursor_key.slice(slash + 1) };
}

export const listQuery = z.object({ limit: limitSchema, cursor: z.string().min(1).max(200).optional() }).strict();
