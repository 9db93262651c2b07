import { z } from 'zod';
import { AppError } from './errors.js';

export const limitSchema = z.coerce.number().int().min(1).max(100).default(25);

export interface Cursor {
  createdAt: string;
  id: string;
}

const cursorSchema = z.object({ t: z.iso.datetime({ offset: true }), i: z.uuid() });

/** Opaque keyset cursor: base64url of the last row's (created_at, id). */
export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify({ t: row.createdAt.toISOString(), i: row.id })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Cursor | null {
  if (cursor === undefined) return null;
  try {
    const parsed = cursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt: parsed.t, id: parsed.i };
  } catch {
    throw new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'cursor', message: 'Invalid cursor' }] } });
  }
}

/**
 * Builds `{ data, nextCursor }` from database rows fetched with `limit + 1`; the cursor is the last
 * returned row's `(created_at, id)`.
 */
export function pageOf<R extends { created_at: Date; id: string }, O>(rows: R[], limit: number, present: (r: R) => O) {
  const hasMore = rows.length > limit;
  const page = hasMore ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { data: page.map(present), nextCursor: hasMore && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
}

export const listQuery = z.object({ limit: limitSchema, cursor: z.string().min(1).max(200).optional() }).strict();
