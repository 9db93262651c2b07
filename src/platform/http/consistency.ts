/**
 * Step: read-your-writes across standbys (DATABASE_READ_HOSTS; README "High availability"). Writes
 * return the caller's position (`Consistency-Token`, and a cookie for browser sessions); a GET goes
 * to a standby only once it has replayed that position. Off, none of this runs.
 */
import type { Request, Response } from 'express';
import type { Database, TxOpened, TxRouting } from '../db/database.js';
import { laterLsn, parseLsn, ReadPosition } from '../db/read-position.js';
import { NeedsPrimary } from '../db/replicas.js';
import { cookieValue } from '../session/session.js';
import type { Caller } from './caller.js';
import { AppError } from './errors.js';

export const CONSISTENCY_HEADER = 'Consistency-Token';

/** The session cookie's name and flags: the position cookie is named after it and set alike. */
export interface SessionCookie {
  cookieName: string;
  secure: boolean;
}

/** The position cookie of a browser session: named after the session cookie (`__Host-sid_lsn` in production). */
function cookieName(session: SessionCookie): string {
  return `${session.cookieName}_lsn`;
}

/**
 * The request's routing, or undefined when replica reads are off. API-key clients send the token
 * back; one that sends none reads from the primary as before (`0/0` opts into any standby). A
 * browser session's cookie holds its position; without one (it never wrote) any standby serves it.
 * A token that is not one is a 400, so a client's bug is seen rather than silently read stale.
 */
export function requestRouting(req: Request, caller: Caller, db: Database, session: SessionCookie): TxRouting | undefined {
  if (!db.replicaReads) return undefined;
  const header = req.get(CONSISTENCY_HEADER);
  if (header !== undefined && parseLsn(header) === null) {
    throw new AppError('VALIDATION_FAILED', { details: { header: CONSISTENCY_HEADER, reason: 'expected a token from an earlier response, such as 16/B374D848' } });
  }
  const apiKey = caller.type === 'api_key';
  const fromCookie = apiKey ? null : cookieValue(req.get('cookie'), cookieName(session));
  const position = new ReadPosition(laterLsn(header ?? null, fromCookie !== null && parseLsn(fromCookie) !== null ? fromCookie : null));
  const reads = req.method === 'GET' || req.method === 'HEAD';
  return { position, readOnly: reads && (!apiKey || header !== undefined) };
}

/**
 * On a standby, the identity lookup (the first of `opened.lookups`) must confirm the caller before
 * anything is decided from it: a key or membership too new for the standby, or a session epoch it
 * has not replayed, is settled on the primary (NeedsPrimary reruns the work there). A standby
 * never refuses a caller.
 */
export function confirmOnStandby(opened: TxOpened, caller: { type: 'api_key' } | { type: 'user' }, req: Request): void {
  if (opened.standby !== true) return;
  const rows = opened.lookups[0] ?? [];
  const row = rows[0] as { role: unknown; session_epoch: unknown } | undefined;
  const confirmed = caller.type === 'api_key' ? rows.length === 1 : row !== undefined && row.role !== null && row.session_epoch === req.session.epoch;
  if (!confirmed) throw new NeedsPrimary('the standby does not confirm the caller');
}

/** Returns the position after a tenant request: the header always, the cookie when a session's write moved it. */
export function sendPosition(req: Request, res: Response, routing: TxRouting | undefined, session: SessionCookie): void {
  const lsn = routing?.position.lsn ?? null;
  if (routing === undefined || lsn === null) return;
  res.setHeader(CONSISTENCY_HEADER, lsn);
  if (req.apiKey !== undefined || routing.readOnly) return;
  const name = cookieName(session);
  if (cookieValue(req.get('cookie'), name) === lsn) return;
  res.append('Set-Cookie', `${name}=${lsn}; Path=/; HttpOnly; SameSite=Lax${session.secure ? '; Secure' : ''}`);
}
