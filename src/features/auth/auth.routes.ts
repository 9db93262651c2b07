import type { Request } from 'express';
import type { FeatureDeps } from '../../app.js';
import { AppError } from '../../platform/http/errors.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { destroySession, newCsrfToken, regenerateSession, saveSession } from '../../platform/session/session.js';
import { changeBody, forgotBody, loginBody, resetBody, signupBody } from './auth.schema.js';
import { changePassword, currentAccount, logIn, recordLogout, requestPasswordReset, resetPassword, signUp } from './auth.service.js';

interface SessionStart {
  userId: string;
  epoch: number;
  activeTenantId: string | null;
  /** Carried over when an existing sign-in is rotated, so rotation never extends the absolute lifetime. */
  createdAtMs?: number | undefined;
  authenticatedAtMs?: number | undefined;
}

/** Starts a fresh session id for a signed-in user (docs/security.md 11) with a new CSRF token. */
async function startUserSession(req: Request, start: SessionStart, nowMs: number): Promise<string> {
  await regenerateSession(req);
  const csrfToken = newCsrfToken();
  Object.assign(req.session, {
    csrfToken,
    userId: start.userId,
    epoch: start.epoch,
    activeTenantId: start.activeTenantId,
    createdAtMs: start.createdAtMs ?? nowMs,
    authenticatedAtMs: start.authenticatedAtMs ?? nowMs,
    lastSeenAtMs: nowMs,
  });
  await saveSession(req);
  return csrfToken;
}

/**
 * A session exists after GET /v1/auth/me even for anonymous callers: it carries the CSRF token.
 * A new one is saved before answering (503 if the store is down): express-session saves it while
 * finishing the response and can then only log a failure, so the client would hold a CSRF token
 * for a session the store never kept.
 */
async function ensureSession(req: Request, nowMs: number): Promise<string> {
  if (!(req.session as typeof req.session | undefined)) req.sessionStore.generate(req);
  if (!req.session.csrfToken) {
    req.session.csrfToken = newCsrfToken();
    req.session.createdAtMs = nowMs;
    req.session.lastSeenAtMs = nowMs;
    await saveSession(req);
  }
  return req.session.csrfToken;
}

export function registerAuthRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.account({
    method: 'get',
    path: '/auth/me',
    action: 'public',
    async handler({ req, ctx }) {
      const csrfToken = await ensureSession(req, ctx.now.getTime());
      const userId = req.session.userId;
      if (!userId) return { status: 200, body: { user: null, activeTenant: null, csrfToken } };
      const tenantId = req.session.activeTenantId ?? null;
      const { user, activeTenant } = await currentAccount(deps, userId, tenantId);
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
      const csrfToken = await startUserSession(req, { userId: user.id, epoch, activeTenantId: null }, ctx.now.getTime());
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
      const csrfToken = await startUserSession(req, { userId: user.id, epoch, activeTenantId: activeTenant?.id ?? null }, ctx.now.getTime());
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

  routes.account({
    method: 'post',
    path: '/auth/password/forgot',
    action: 'public',
    body: forgotBody,
    async handler({ ctx, body }) {
      await requestPasswordReset(deps, ctx, body);
      return { status: 202, body: {} };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/password/reset',
    action: 'public',
    body: resetBody,
    async handler({ ctx, body }) {
      await resetPassword(deps, ctx, body);
      return { status: 204 };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/password/change',
    action: 'signed_in',
    body: changeBody,
    async handler({ ctx, body, req }) {
      // signed_in: the wrapper has already refused anyone else.
      if (ctx.principal.type !== 'user') throw new AppError('AUTH_REQUIRED');
      const { userId } = ctx.principal;
      const epoch = await changePassword(deps, ctx, userId, body);
      // The epoch bump ended every session of the user; this one moves to the new epoch under a
      // fresh id and CSRF token (the client reads the token again from GET /v1/auth/me).
      await startUserSession(
        req,
        {
          userId,
          epoch,
          activeTenantId: req.session.activeTenantId ?? null,
          createdAtMs: req.session.createdAtMs,
          authenticatedAtMs: req.session.authenticatedAtMs,
        },
        ctx.now.getTime(),
      );
      return { status: 204 };
    },
  });
}
