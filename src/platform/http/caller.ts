import type { Request } from 'express';
import type { Database } from '../db/database.js';
import { withAccountTx } from '../db/tx.js';
import { destroySession } from '../session/session.js';
import type { Principal, RequestContext } from './context.js';

/** Who presents the request, before anything is checked against the database. */
export type Caller = { type: 'api_key'; key: string } | { type: 'user'; userId: string } | { type: 'anonymous' };

/** The session, or undefined on API-key requests (express-session's types say it always exists). */
export function sessionOf(req: Request): Request['session'] | undefined {
  const session: Request['session'] | undefined = req.session;
  return session;
}

/** Step: the caller, from the API key (checked for form by the middleware) or the session. */
export function callerOf(req: Request): Caller {
  if (req.apiKey !== undefined) return { type: 'api_key', key: req.apiKey };
  const userId = sessionOf(req)?.userId;
  return userId ? { type: 'user', userId } : { type: 'anonymous' };
}

/**
 * Step: the session epoch, for requests whose transaction reads no membership. A password reset or
 * change bumps the epoch and so ends every other session of the user: such a session is deleted
 * and false returned.
 */
export async function sessionStillCurrent(db: Database, req: Request, userId: string): Promise<boolean> {
  const { rows } = await withAccountTx(db, userId, (tx) => tx.query<{ session_epoch: number }>('SELECT session_epoch FROM users WHERE id = $1', [userId]));
  if (rows[0]?.session_epoch === req.session.epoch) return true;
  await destroySession(req);
  return false;
}

export function requestContext(req: Request, now: Date, principal: Principal): RequestContext {
  return {
    requestId: req.requestId,
    ip: req.ip ?? null,
    userAgent: req.get('user-agent')?.slice(0, 500) ?? null,
    principal,
    tenant: null,
    now,
    authorized: new Set(),
  };
}
