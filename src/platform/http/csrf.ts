import type { Request } from 'express';
import { csrfTokenMatches, type AnonymousCsrf } from '../session/session.js';
import { sessionOf } from './caller.js';
import { AppError } from './errors.js';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The request's CSRF token: a stored (signed-in) session's own, else the anonymous cookie's. */
export function csrfTokenOf(req: Request, anonymous: AnonymousCsrf, nowMs: number): string | null {
  return sessionOf(req)?.csrfToken ?? anonymous.tokenOf(req, nowMs);
}

/**
 * Step: CSRF. Every unsafe request under cookie auth must carry the session's token.
 * `details.reason` tells a client what to fix: `missing` (send the header), `no_session` (nothing
 * to compare it with: get a token from GET /v1/auth/me), `mismatch` (a stale or foreign token).
 */
export function checkCsrf(req: Request, anonymous: AnonymousCsrf, nowMs: number): void {
  if (!UNSAFE.has(req.method) || req.apiKey !== undefined) return;
  const presented = req.get('x-csrf-token');
  const expected = csrfTokenOf(req, anonymous, nowMs);
  const reason = !presented ? 'missing' : expected === null ? 'no_session' : csrfTokenMatches(expected, presented) ? null : 'mismatch';
  if (reason) throw new AppError('CSRF_TOKEN_INVALID', { details: { reason } });
}
