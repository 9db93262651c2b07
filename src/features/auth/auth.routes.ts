import type { Request } from 'express';
import type { FeatureDeps } from '../../deps.js';
import { AppError } from '../../platform/http/errors.js';
import { csrfTokenOf } from '../../platform/http/csrf.js';
import type { RouteRegistry } from '../../platform/http/route.js';
import { destroySession, newCsrfToken, regenerateSession, saveSession, sessionSetCookie } from '../../platform/session/session.js';
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

export function registerAuthRoutes(routes: RouteRegistry, deps: FeatureDeps): void {
  routes.account({
    method: 'get',
    path: '/auth/me',
    action: 'public',
    async handler({ req, ctx }) {
      if (ctx.principal.type !== 'user') {
        // Nothing is stored for a visitor: the token is bound to the cookie (AnonymousCsrf).
        const nowMs = ctx.now.getTime();
        const held = csrfTokenOf(req, deps.anonymousCsrf, nowMs);
        if (held !== null) return { status: 200, body: { user: null, activeTenant: null, csrfToken: held } };
        const { token, setCookie } = deps.anonymousCsrf.issue(nowMs);
        return { status: 200, body: { user: null, activeTenant: null, csrfToken: token }, headers: { 'Set-Cookie': setCookie } };
      }
      const { userId } = ctx.principal;
      const csrfToken = req.session.csrfToken;
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
      // An anonymous caller (or a session already ended elsewhere) has nothing to audit or delete.
      if (ctx.principal.type === 'user') await recordLogout(deps, ctx, ctx.principal.userId);
      await destroySession(req);
      return {
        status: 204,
        headers: { 'Set-Cookie': sessionSetCookie(deps.config.session, '') },
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
      // fresh id and CSRF token, which the client needs for its next unsafe request.
      const csrfToken = await startUserSession(
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
      return { status: 200, body: { csrfToken } };
    },
  });
}
