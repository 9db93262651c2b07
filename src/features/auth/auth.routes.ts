import type { Request } from 'express';
import type { FeatureDeps } from '../../app.js';
import { withAccountTx } from '../../platform/db/tx.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { destroySession, newCsrfToken, regenerateSession, saveSession } from '../../platform/session/session.js';
import { findOwnMembership } from './auth.queries.js';
import { loginBody, signupBody } from './auth.schema.js';
import { currentUser, logIn, recordLogout, signUp } from './auth.service.js';

/** Starts a fresh session id for a signed-in user (SECURITY.md 11) with a new CSRF token. */
async function startUserSession(req: Request, userId: string, epoch: number, activeTenantId: string | null, nowMs: number): Promise<string> {
  await regenerateSession(req);
  const csrfToken = newCsrfToken();
  Object.assign(req.session, {
    csrfToken,
    userId,
    epoch,
    activeTenantId,
    createdAtMs: nowMs,
    authenticatedAtMs: nowMs,
    lastSeenAtMs: nowMs,
  });
  await saveSession(req);
  return csrfToken;
}

/** A session exists after GET /v1/auth/me even for anonymous callers: it carries the CSRF token. */
function ensureSession(req: Request, nowMs: number): string {
  if (!(req.session as typeof req.session | undefined)) req.sessionStore.generate(req);
  if (!req.session.csrfToken) {
    req.session.csrfToken = newCsrfToken();
    req.session.createdAtMs = nowMs;
    req.session.lastSeenAtMs = nowMs;
  }
  return req.session.csrfToken;
}

export function registerAuthRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.account({
    method: 'get',
    path: '/auth/me',
    action: 'public',
    async handler({ req, ctx }) {
      const csrfToken = ensureSession(req, ctx.now.getTime());
      const userId = req.session.userId;
      if (!userId) return { status: 200, body: { user: null, activeTenant: null, csrfToken } };
      const user = await currentUser(deps, userId);
      const tenantId = req.session.activeTenantId;
      const activeTenant = tenantId ? await withAccountTx(deps.db, userId, (tx) => findOwnMembership(tx, userId, tenantId)) : null;
      if (tenantId && !activeTenant) req.session.activeTenantId = null;
      return { status: 200, body: { user, activeTenant, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/signup',
    action: 'public',
    body: signupBody,
    async handler({ ctx, body, req }) {
      const { user, epoch } = await signUp(deps, ctx, body);
      const csrfToken = await startUserSession(req, user.id, epoch, null, ctx.now.getTime());
      return { status: 201, body: { user, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/login',
    action: 'public',
    body: loginBody,
    async handler({ ctx, body, req }) {
      const { user, epoch, activeTenant } = await logIn(deps, ctx, body);
      const csrfToken = await startUserSession(req, user.id, epoch, activeTenant?.id ?? null, ctx.now.getTime());
      return { status: 200, body: { user, activeTenant, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/logout',
    action: 'public',
    async handler({ ctx, req }) {
      const userId = req.session.userId;
      if (userId) await recordLogout(deps, ctx, userId);
      await destroySession(req);
      return {
        status: 204,
        headers: {
          'Set-Cookie': `${deps.config.session.cookieName}=; Path=/; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT${deps.config.session.secure ? '; Secure' : ''}`,
        },
      };
    },
  });
}
