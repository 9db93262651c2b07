import type { Request, Response, Router } from 'express';
import type { ZodType } from 'zod';
import type { Config } from '../../config.js';
import type { Clock } from '../clock.js';
import { apiKeyLookup, authenticateApiKey } from '../../features/api-keys/api-key.auth.js';
import { consumeWriteQuota, markQuotaExceeded, quotaHeaders, type QuotaState } from '../../features/usage/usage.quota.js';
import { recordAuditEvent } from '../audit/audit.js';
import type { Database, Queryable, TxLookup } from '../db/database.js';
import type { Action, Role } from '../rbac/roles.js';
import { enforce } from '../rbac/authorize.js';
import { csrfTokenMatches, destroySession, type AnonymousCsrf } from '../session/session.js';
import { recordQuotaRejection } from '../telemetry/metrics.js';
import { traceHandler } from '../telemetry/http.js';
import { setRequestSpanAttributes } from '../telemetry/tracing.js';
import type { Principal, RequestContext } from './context.js';
import { AppError } from './errors.js';
import { NeedsPrimary } from '../db/replicas.js';
import { requestRouting, sendPosition } from './consistency.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  parseIdempotencyKey,
  releaseIdempotencyKey,
  requestFingerprint,
  type IdempotencyScope,
} from './idempotency.js';
import { parseInput } from './validation.js';

export interface HttpResult {
  status: number;
  /**
   * The body, or on tenant routes a promise of it: a handler whose last statements are still in
   * flight returns their presented result as a promise, and the COMMIT leaves in the same round
   * trip as those statements. Such a promise only presents rows; it never decides anything, since
   * it settles after the commit. If a statement fails, the commit becomes a rollback and the
   * request fails with that statement's error.
   */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteDeps {
  db: Database;
  config: Config;
  clock: Clock;
  anonymousCsrf: AnonymousCsrf;
  /** The tenants feature's session check (its SQL), passed in so platform does not import it. */
  membershipLookup(userId: string, tenantId: string): TxLookup;
}

type Method = 'get' | 'post' | 'patch' | 'delete';

interface BaseSpec<B, Q, P> {
  method: Method;
  path: string;
  summary?: string;
  body?: ZodType<B>;
  query?: ZodType<Q>;
  params?: ZodType<P>;
}

interface HandlerArgs<B, Q, P> {
  ctx: RequestContext;
  body: B;
  query: Q;
  params: P;
  req: Request;
}

/**
 * A route with no tenant: auth and account routes. `action` is `public` (anyone, CSRF still
 * applies to unsafe methods) or `signed_in`.
 */
export interface AccountRouteSpec<B, Q, P> extends BaseSpec<B, Q, P> {
  action: 'public' | 'signed_in';
  /**
   * Accepts `Idempotency-Key` (signed-in callers; keyed by user). The handler must pass its result
   * to `recordResponse` inside the transaction that makes the change.
   */
  idempotent?: boolean;
  handler(args: HandlerArgs<B, Q, P> & { recordResponse: RecordResponse }): Promise<HttpResult>;
}

/** Stores an idempotent account route's response in the transaction of its write (a no-op without a key). */
export type RecordResponse = (tx: Queryable, result: HttpResult) => Promise<void>;

/**
 * A tenant route. The wrapper resolves the tenant (the active one, or `:tenantId` in the path,
 * which must be a membership of the caller or the answer is 404), opens one tenant transaction,
 * and runs the handler inside it. With `authorize: 'route'` the wrapper enforces `action` before
 * the handler (collection routes); with `'service'` the service loads the object first (404) and
 * then calls `enforce` (403). Either way a handler that returns without the declared action having
 * been authorised is a bug and fails the request.
 */
export interface TenantRouteSpec<B, Q, P> extends BaseSpec<B, Q, P> {
  action: Action;
  tenant: 'active' | 'path';
  authorize: 'route' | 'service';
  apiKeys?: boolean;
  /** Counts against the tenant's daily write quota (successful incident writes). */
  metered?: boolean;
  /** Accepts `Idempotency-Key`. */
  idempotent?: boolean;
  /** Body fields shown once and never stored for a replay (a new API key's secret). */
  notReplayed?: readonly string[];
  handler(args: HandlerArgs<B, Q, P> & { tx: Queryable; tenantId: string }): Promise<HttpResult>;
}

export interface RouteInventoryEntry {
  method: Method;
  path: string;
  action: string;
  apiKeys: boolean;
}

/** The session, or undefined on API-key requests (express-session's types say it always exists). */
function sessionOf(req: Request): Request['session'] | undefined {
  const session: Request['session'] | undefined = req.session;
  return session;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function baseContext(req: Request, now: Date, principal: Principal): RequestContext {
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

function send(res: Response, result: HttpResult): void {
  if (result.headers) for (const [k, v] of Object.entries(result.headers)) res.setHeader(k, v);
  res.status(result.status);
  if (result.body === undefined || result.status === 204) res.end();
  else res.json(result.body);
}

/** The request's CSRF token: a stored (signed-in) session's own, else the anonymous cookie's. */
export function csrfTokenOf(req: Request, anonymous: AnonymousCsrf, nowMs: number): string | null {
  return sessionOf(req)?.csrfToken ?? anonymous.tokenOf(req, nowMs);
}

/**
 * CSRF: every unsafe request under cookie auth must carry the session's token. `details.reason`
 * tells a client what to fix: `missing` (send the header), `no_session` (nothing to compare it
 * with: get a token from GET /v1/auth/me), `mismatch` (a stale or foreign token: get it again).
 */
function checkCsrf(req: Request, anonymous: AnonymousCsrf, nowMs: number): void {
  if (!UNSAFE.has(req.method) || req.apiKey !== undefined) return;
  const presented = req.get('x-csrf-token');
  const expected = csrfTokenOf(req, anonymous, nowMs);
  const reason = !presented ? 'missing' : expected === null ? 'no_session' : csrfTokenMatches(expected, presented) ? null : 'mismatch';
  if (reason) throw new AppError('CSRF_TOKEN_INVALID', { details: { reason } });
}

export class RouteRegistry {
  readonly inventory: RouteInventoryEntry[] = [];

  constructor(
    private readonly router: Router,
    private readonly deps: RouteDeps,
  ) {}

  account<B = undefined, Q = undefined, P = undefined>(spec: AccountRouteSpec<B, Q, P>): void {
    this.inventory.push({ method: spec.method, path: spec.path, action: spec.action, apiKeys: false });
    this.router[spec.method](spec.path, traceHandler(`/v1${spec.path}`, async (req: Request, res: Response) => {
      if (req.apiKey !== undefined) throw new AppError('SESSION_REQUIRED');
      const now = this.deps.clock.now();
      checkCsrf(req, this.deps.anonymousCsrf, now.getTime());
      let userId = sessionOf(req)?.userId;
      // A session ended elsewhere (password reset or change) is deleted and the request goes on as
      // anonymous, as after a logout: public routes answer, signed-in routes 401 AUTH_REQUIRED.
      if (userId && !(await this.sessionEpochCurrent(req, userId))) {
        await destroySession(req);
        userId = undefined;
      }
      if (spec.action === 'signed_in' && !userId) throw new AppError('AUTH_REQUIRED');
      const ctx = baseContext(req, now, userId ? { type: 'user', userId } : { type: 'anonymous' });
      setRequestSpanAttributes(req, ctx);
      const input = parseAll(spec, req);
      const key = spec.idempotent && userId ? parseIdempotencyKey(req.get('idempotency-key')) : null;
      if (!userId || key === null) {
        send(res, await spec.handler({ ctx, ...input, req, recordResponse: () => Promise.resolve() }));
        return;
      }
      const idem: IdempotencyScope = {
        tenantId: null,
        principalType: 'user',
        principalId: userId,
        key,
        fingerprint: requestFingerprint(req.method, req.path, req.body),
      };
      send(
        res,
        await this.withClaim(userId, idem, now, async () => {
          const recording = { done: false };
          const result = await spec.handler({
            ctx,
            ...input,
            req,
            recordResponse: async (tx, r) => {
              await completeIdempotencyKey(tx, idem, { status: r.status, body: r.body, headers: r.headers ?? {} });
              recording.done = true;
            },
          });
          if (!recording.done) throw new Error(`idempotent route ${spec.method} ${spec.path} did not record its response`);
          return result;
        }),
      );
    }));
  }

  tenant<B = undefined, Q = undefined, P = undefined>(spec: TenantRouteSpec<B, Q, P>): void {
    this.inventory.push({ method: spec.method, path: spec.path, action: spec.action, apiKeys: spec.apiKeys ?? false });
    this.router[spec.method](spec.path, traceHandler(`/v1${spec.path}`, async (req: Request, res: Response) => {
      const now = this.deps.clock.now();
      const apiKey = req.apiKey;
      if (apiKey !== undefined && !spec.apiKeys) throw new AppError('SESSION_REQUIRED');
      checkCsrf(req, this.deps.anonymousCsrf, now.getTime());
      const userId = apiKey === undefined ? sessionOf(req)?.userId : undefined;
      if (apiKey === undefined && !userId) throw new AppError('AUTH_REQUIRED');
      const input = parseAll(spec, req);
      const routing = requestRouting(req, this.deps.db, this.deps.config.session.cookieName);

      let tenantId: string | undefined;
      if (spec.tenant === 'path') {
        tenantId = (req.params as Record<string, string | undefined>).tenantId;
        if (!tenantId || !UUID_RE.test(tenantId)) throw new AppError('NOT_FOUND');
      } else if (apiKey === undefined) {
        tenantId = sessionOf(req)?.activeTenantId ?? undefined;
        if (!tenantId) {
          // No membership lookup will see the epoch here: a session ended elsewhere must still be
          // 401 (as with a tenant active), not an invitation to choose a tenant.
          if (userId && !(await this.sessionEpochCurrent(req, userId))) {
            await destroySession(req);
            throw new AppError('AUTH_REQUIRED');
          }
          throw new AppError('TENANT_CONTEXT_REQUIRED');
        }
      }

      const ctx = baseContext(req, now, { type: 'anonymous' });
      const run = async (tx: Queryable, resolvedTenant: string): Promise<HttpResult> => {
        ctx.tenant = { id: resolvedTenant, role: ctx.tenant?.role ?? null };
        if (spec.authorize === 'route') enforce(spec.action, { tenantId: resolvedTenant }, ctx);
        const result = await spec.handler({ ctx, ...input, req, tx, tenantId: resolvedTenant });
        if (!ctx.authorized.has(spec.action)) throw new Error(`route ${spec.method} ${spec.path} did not authorize ${spec.action}`);
        return result;
      };

      let idem: IdempotencyScope | null = null;
      const inTransaction = async (): Promise<HttpResult> =>
        this.deps.db.withAppTx(
          apiKey !== undefined
            ? { tenantId: null, userId: null, ...apiKeySettings(apiKeyPublicIdOf(apiKey)) }
            : {
                tenantId: tenantId ?? null,
                userId: userId ?? null,
                ...(userId !== undefined && tenantId !== undefined ? { lookup: this.deps.membershipLookup(userId, tenantId) } : {}),
              },
          async (tx, opened) => {
            let resolvedTenant: string;
            // A standby may not have replayed a new key or membership yet: only the primary refuses.
            if (opened.standby === true && !(apiKey !== undefined ? apiKeyRowPresent(opened.lookupRows) : membershipConfirmed(req, opened.lookupRows))) {
              throw new NeedsPrimary('the standby does not confirm the caller');
            }
            if (apiKey !== undefined) {
              const key = await authenticateApiKey(tx, apiKey, now, opened.lookupRows);
              ctx.principal = { type: 'service_account', serviceAccountId: key.serviceAccountId, apiKeyId: key.apiKeyId, scopes: key.scopes };
              ctx.tenant = { id: key.tenantId, role: null };
              resolvedTenant = key.tenantId;
            } else {
              ctx.principal = { type: 'user', userId: userId as string };
              resolvedTenant = tenantId as string;
              const role = await checkMembership(req, opened.lookupRows, spec.tenant);
              ctx.tenant = { id: resolvedTenant, role };
            }
            setRequestSpanAttributes(req, ctx);
            if (spec.idempotent && idem === null) {
              const key = parseIdempotencyKey(req.get('idempotency-key'));
              if (key !== null) {
                // The claim needs its own committed transaction; signal the caller to claim and rerun.
                throw new NeedsIdempotencyClaim({
                  tenantId: resolvedTenant,
                  principalType: ctx.principal.type === 'user' ? 'user' : 'service_account',
                  principalId: ctx.principal.type === 'user' ? ctx.principal.userId : (ctx.principal as { serviceAccountId: string }).serviceAccountId,
                  key,
                  fingerprint: requestFingerprint(req.method, req.path, req.body),
                });
              }
            }
            // Counted first, in the same round trip as the handler's first statements; a failed
            // write rolls the count back. A metered handler signals failure by throwing.
            const checkQuota = spec.metered ? consumeWriteQuota(tx, resolvedTenant, now, this.deps.config.dailyWriteQuota) : null;
            let result = await run(tx, resolvedTenant);
            if (checkQuota) {
              const quota: QuotaState = await checkQuota();
              if (result.status >= 300) throw new Error(`metered route ${spec.method} ${spec.path} answered ${String(result.status)} without throwing`);
              result = { ...result, headers: { ...result.headers, ...quotaHeaders(quota) } };
            }
            if (result.body instanceof Promise) {
              // Settles after the commit; a failure is reported by the commit (rolled back) first.
              result.body.catch(() => undefined);
              // The stored response must be complete before its transaction commits.
              if (idem !== null) result = { ...result, body: (await result.body) as unknown };
            }
            if (idem !== null) {
              await completeIdempotencyKey(tx, idem, { status: result.status, body: withoutFields(result.body, spec.notReplayed), headers: result.headers ?? {} });
            }
            return result;
          },
          routing,
        );

      // The result with its body settled (a handler's body promise settles after the commit).
      const execute = async (): Promise<HttpResult> => {
        const result = await inTransaction();
        return result.body instanceof Promise ? { ...result, body: (await result.body) as unknown } : result;
      };

      let result: HttpResult;
      try {
        result = await execute();
      } catch (err) {
        if (err instanceof NeedsIdempotencyClaim) {
          idem = err.scope;
          try {
            result = await this.withClaim(userId ?? null, idem, now, execute);
          } catch (inner) {
            throw await this.afterFailure(inner, ctx, req);
          }
        } else {
          throw await this.afterFailure(err, ctx, req);
        }
      }
      sendPosition(req, res, routing, this.deps.config.session);
      send(res, result);
    }));
  }

  /**
   * Claims an idempotency key: a completed claim's answer is replayed, else `run` goes once and a
   * failure releases the claim so that the client may retry with the same key.
   */
  private async withClaim(userId: string | null, scope: IdempotencyScope, now: Date, run: () => Promise<HttpResult>): Promise<HttpResult> {
    const stored = await claimIdempotencyKey(this.deps.db, userId, scope, now);
    if (stored) return { status: stored.status, body: stored.body, headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } };
    try {
      return await run();
    } catch (err) {
      await releaseIdempotencyKey(this.deps.db, userId, scope).catch(() => undefined);
      throw err;
    }
  }

  /** A quota rejection is audited once per tenant per day, after the write rolled back. */
  private async afterFailure(err: unknown, ctx: RequestContext, req: Request): Promise<unknown> {
    if (err instanceof AppError && err.code === 'QUOTA_EXCEEDED' && ctx.tenant) {
      recordQuotaRejection();
      const tenantId = ctx.tenant.id;
      await this.deps.db
        .withAppTx({ tenantId, userId: ctx.principal.type === 'user' ? ctx.principal.userId : null }, async (tx) => {
          if (await markQuotaExceeded(tx, tenantId, ctx.now)) {
            await recordAuditEvent(tx, ctx, tenantId, {
              action: 'quota.exceeded',
              target: { type: 'tenant', id: tenantId },
              metadata: { limit: err.details.limit, method: req.method, path: req.path },
            });
          }
        })
        .catch(() => undefined);
    }
    return err;
  }

  /** A password reset or change bumps the epoch and so ends every other session of the user. */
  private async sessionEpochCurrent(req: Request, userId: string): Promise<boolean> {
    const { rows } = await this.deps.db.withAppTx({ tenantId: null, userId }, (tx) =>
      tx.query<{ session_epoch: number }>('SELECT session_epoch FROM users WHERE id = $1', [userId]),
    );
    return rows[0]?.session_epoch === req.session.epoch;
  }
}

/** On a standby: the key's row is there (a key too new for the standby is checked on the primary). */
function apiKeyRowPresent(lookupRows: readonly Record<string, unknown>[]): boolean {
  return lookupRows.length === 1;
}

/** On a standby: the session's membership and epoch as checkMembership would accept them. */
function membershipConfirmed(req: Request, lookupRows: readonly Record<string, unknown>[]): boolean {
  const row = lookupRows[0] as { role: Role | null; session_epoch: number } | undefined;
  return row !== undefined && row.role !== null && row.session_epoch === req.session.epoch;
}

/**
 * The session's user and role in the tenant, from the row the opening round trip read (see
 * `RouteDeps.membershipLookup`): a stale epoch ends the session; no membership is 404 for a tenant named in
 * the path, and clears a stale active tenant otherwise.
 */
async function checkMembership(req: Request, lookupRows: readonly Record<string, unknown>[], mode: 'active' | 'path'): Promise<Role> {
  const row = lookupRows[0] as { role: Role | null; session_epoch: number } | undefined;
  if (!row || row.session_epoch !== req.session.epoch) {
    await destroySession(req);
    throw new AppError('AUTH_REQUIRED');
  }
  if (row.role === null) {
    if (mode === 'path') throw new AppError('NOT_FOUND');
    req.session.activeTenantId = null;
    throw new AppError('TENANT_CONTEXT_REQUIRED');
  }
  return row.role;
}

/** The body as stored for replays: without the fields that are shown only once. */
function withoutFields(body: unknown, fields: readonly string[] | undefined): unknown {
  if (!fields || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([k]) => !fields.includes(k)));
}

class NeedsIdempotencyClaim extends Error {
  constructor(readonly scope: IdempotencyScope) {
    super('idempotency claim needed');
  }
}

function apiKeySettings(publicId: string): { apiKeyPublicId: string; lookup: TxLookup } {
  return { apiKeyPublicId: publicId, lookup: apiKeyLookup(publicId) };
}

function apiKeyPublicIdOf(key: string): string {
  // authenticateApiKey re-validates the format and checksum; this only extracts the lookup id.
  const m = /^itk_([0-9a-f]{32})_/.exec(key);
  if (!m?.[1]) throw new AppError('API_KEY_INVALID');
  return m[1];
}

function parseAll<B, Q, P>(spec: BaseSpec<B, Q, P>, req: Request): { body: B; query: Q; params: P } {
  return {
    params: spec.params ? parseInput(spec.params, req.params, 'params') : (undefined as P),
    query: spec.query ? parseInput(spec.query, req.query, 'query') : (undefined as Q),
    body: spec.body ? parseInput(spec.body, req.body, 'body') : (undefined as B),
  };
}
