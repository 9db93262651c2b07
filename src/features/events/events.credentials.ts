import type { Request } from 'express';
import type { SessionData } from 'express-session';
import type { Database } from '../../platform/db/database.js';
import { withOpenedTx } from '../../platform/db/tx.js';
import type { Clock } from '../../platform/clock.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { apiKeyLookup, authenticateApiKey } from '../api-keys/api-key.auth.js';
import { parseApiKey } from '../api-keys/api-key.token.js';
import { membershipLookup } from '../tenants/members.queries.js';

/**
 * What a long-lived stream asks again every interval: are the credentials it was opened with still
 * good? A key must still authenticate (not revoked, not expired); a session must still exist in
 * the store for the same user and epoch (logout destroys it; a password change moves the epoch),
 * and its user must still be a member of the stream's tenant. A database or store error is thrown
 * (the caller keeps the stream: an outage is not a revocation).
 */
export function streamCredentialCheck(db: Database, clock: Clock, req: Request, ctx: RequestContext, tenantId: string): () => Promise<boolean> {
  const principal = ctx.principal;
  const key = req.apiKey;
  if (principal.type === 'service_account' && key !== undefined) {
    const publicId = parseApiKey(key)?.publicId;
    if (publicId === undefined) return () => Promise.resolve(false);
    return async () => {
      try {
        await withOpenedTx(db, { tenantId: null, userId: null, apiKeyPublicId: publicId, lookups: [apiKeyLookup(publicId)] }, (tx, opened) =>
          authenticateApiKey(tx, key, clock.now(), opened.lookups[0] ?? []),
        );
        return true;
      } catch (err) {
        if (err instanceof AppError) return false;
        throw err;
      }
    };
  }
  if (principal.type === 'user') {
    const { sessionID, sessionStore } = req;
    const epoch = req.session.epoch;
    const userId = principal.userId;
    return async () => {
      const stored = await new Promise<SessionData | null | undefined>((resolve, reject) => {
        sessionStore.get(sessionID, (err: unknown, s?: SessionData | null) => {
          if (err) reject(err instanceof Error ? err : new Error('session store error'));
          else resolve(s);
        });
      });
      if (!stored || stored.userId !== userId || stored.epoch !== epoch) return false;
      const rows = await withOpenedTx(db, { tenantId, userId, lookups: [membershipLookup(userId, tenantId)] }, (_tx, opened) => Promise.resolve(opened.lookups[0] ?? []));
      const row = rows[0] as { role: string | null; session_epoch: number } | undefined;
      return row !== undefined && row.role !== null && row.session_epoch === epoch;
    };
  }
  return () => Promise.resolve(false);
}
