import type { Request } from 'express';
import type { FeatureDeps } from '../../deps.js';
import { AppError } from '../../platform/http/errors.js';
import { csrfTokenOf } from '../../platform/http/csrf.js';
import { answered, type HttpResult, type RouteRegistry } from '../../platform/http/route.js';
import { destroySession, newCsrfToken, regenerateSession, saveSession, sessionSetCookie } from '../../platform/session/session.js';
import { changeBody, forgotBody, loginBody, resetBody, signupBody } from './auth.schema.js';
import { findUserByEmail, findUserById, resetTokenUsable } from './auth.queries.js';
import {
  assertLoginAllowed,
  changePassword,
  currentAccount,
  issueResetLink,
  limitResetRequests,
  prepareChange,
  prepareReset,
  prepareSignUp,
  recordLogin,
  recordLogout,
  resetPassword,
  signUp,
  verifyLogin,
} from './auth.service.js';

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
  const { limits, hasher, mail, anonymousCsrf } = deps;
  const appBaseUrl = deps.config.appBaseUrl;
  const loggedOut = (): HttpResult => ({ status: 204, headers: { 'Set-Cookie': sessionSetCookie(deps.config.session, '') } });

  routes.account({
    method: 'get',
    path: '/auth/me',
    action: 'public',
    prepare({ req, ctx }) {
      if (ctx.principal.type === 'user') return Promise.resolve({ userId: ctx.principal.userId });
      // Nothing is stored for a visitor: the token is bound to the cookie (AnonymousCsrf).
      const nowMs = ctx.now.getTime();
      const held = csrfTokenOf(req, anonymousCsrf, nowMs);
      if (held !== null) return Promise.resolve(answered({ status: 200, body: { user: null, activeTenant: null, csrfToken: held } }));
      const { token, setCookie } = anonymousCsrf.issue(nowMs);
      return Promise.resolve(answered({ status: 200, body: { user: null, activeTenant: null, csrfToken: token }, headers: { 'Set-Cookie': setCookie } }));
    },
    async handler({ tx, req, prepared }) {
      const csrfToken = req.session.csrfToken;
      const tenantId = req.session.activeTenantId ?? null;
      const { user, activeTenant } = await currentAccount(tx, prepared.userId, tenantId);
      if (tenantId && !activeTenant) req.session.activeTenantId = null;
      return { status: 200, body: { user, activeTenant, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/signup',
    action: 'public',
    body: signupBody,
    prepare: ({ ctx, body }) => prepareSignUp(ctx, body.password, { limits, hasher }),
    handler: ({ tx, ctx, body, prepared }) => signUp(tx, ctx, { email: body.email, name: body.name, passwordHash: prepared.passwordHash }),
    async respond({ ctx, req, answer: { user, epoch } }) {
      const csrfToken = await startUserSession(req, { userId: user.id, epoch, activeTenantId: null }, ctx.now.getTime());
      return { status: 201, body: { user, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/login',
    action: 'public',
    body: loginBody,
    async prepare({ ctx, body, lookup }) {
      await assertLoginAllowed(ctx, body.email, { limits });
      const user = await lookup((tx) => findUserByEmail(tx, body.email));
      return verifyLogin(ctx, body.password, user, body.email, { limits, hasher });
    },
    // A failed attempt's audit rows carry no user setting, as before any sign-in.
    opensAs: (check) => ({ userId: check.ok ? check.user.id : null }),
    handler: ({ tx, ctx, prepared }) => recordLogin(tx, ctx, prepared),
    async respond({ ctx, req, answer }) {
      // The failed attempt's audit rows have committed; the sign-in is refused now.
      if (answer === null) throw new AppError('AUTH_INVALID_CREDENTIALS');
      const { user, epoch, activeTenant } = answer;
      const csrfToken = await startUserSession(req, { userId: user.id, epoch, activeTenantId: activeTenant?.id ?? null }, ctx.now.getTime());
      return { status: 200, body: { user, activeTenant, csrfToken } };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/logout',
    action: 'public',
    async prepare({ ctx, req }) {
      // An anonymous caller (or a session already ended elsewhere) has nothing to audit.
      if (ctx.principal.type === 'user') return { userId: ctx.principal.userId };
      await destroySession(req);
      return answered(loggedOut());
    },
    handler: ({ tx, ctx, prepared }) => recordLogout(tx, ctx, prepared.userId),
    async respond({ req }) {
      await destroySession(req);
      return loggedOut();
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/password/forgot',
    action: 'public',
    body: forgotBody,
    prepare: ({ ctx }) => limitResetRequests(ctx, { limits }),
    answerFirst: { answer: { status: 202, body: {} }, purpose: 'password reset request' },
    handler: ({ tx, ctx, body }) => issueResetLink(tx, ctx, body.email, { limits, mail, appBaseUrl }),
  });

  routes.account({
    method: 'post',
    path: '/auth/password/reset',
    action: 'public',
    body: resetBody,
    prepare: ({ ctx, body, lookup }) => prepareReset(body, (tokenHash) => lookup((tx) => resetTokenUsable(tx, tokenHash, ctx.now)), { hasher }),
    async handler({ tx, ctx, prepared }) {
      await resetPassword(tx, ctx, prepared, { limits, mail });
      return { status: 204 };
    },
  });

  routes.account({
    method: 'post',
    path: '/auth/password/change',
    action: 'signed_in',
    body: changeBody,
    async prepare({ ctx, body, lookup }) {
      // signed_in: the wrapper has already refused anyone else.
      if (ctx.principal.type !== 'user') throw new AppError('AUTH_REQUIRED');
      const { userId } = ctx.principal;
      return { userId, ...(await prepareChange(body, () => lookup((tx) => findUserById(tx, userId)), { hasher })) };
    },
    handler: async ({ tx, ctx, prepared }) => ({ userId: prepared.userId, epoch: await changePassword(tx, ctx, prepared, { mail }) }),
    async respond({ ctx, req, answer: { userId, epoch } }) {
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
