/**
 * The request pipeline. Rules for route and feature authors:
 * - Steps run in this order, each in its own module under platform/http: caller (API key or
 *   session) and CSRF (csrf.ts), input validation, tenant (tenant-access.ts), idempotency claim
 *   (idempotency.ts: a transaction of its own, committed before the request's), then the request's
 *   one transaction, whose opening round trip runs BEGIN and settings, the identity lookup
 *   (membership or API key) and, on metered routes, the quota count (quota.ts); then identity,
 *   the quota decision (429 before the handler: a metered handler never runs over quota), route
 *   authorisation, the handler, the check that the declared action was authorised, the stored
 *   idempotent response, COMMIT. With DATABASE_READ_HOSTS, consistency.ts routes the request's
 *   transactions (a GET to a standby that has replayed the caller's position, a write learning
 *   its commit position) and returns the position; off, it does nothing.
 * - A handler gets `tx`, which closes when the handler returns: a statement issued later (from a
 *   `.then`, a timer) is refused with TxClosedError. Issue independent statements together and
 *   await them together (Promise.all). To let COMMIT share the round trip of the last statements,
 *   return `whenAnswered(rows, present)` (result.ts). Effects after commit: `tx.afterCommit(fn)`.
 * - Account routes (no tenant of their own) declare their transaction too: `prepare` (rate
 *   limits, password hashing: no connection held), the handler in the transaction the pipeline
 *   opens (`opensAs` may name its user or tenant), `respond` after the commit (session changes).
 *   No handler or service opens a transaction (eslint enforces it).
 * - Feature rules reach the platform through RouteDeps (API keys, membership lookup, quota),
 *   built by featureRouteDeps (src/features/index.ts); platform/ imports nothing from features/ (eslint enforces it).
 */
import type { Request, Response, Router } from 'express';
import type { ZodType } from 'zod';
import type { Clock } from '../clock.js';
import type { Database, Queryable, TxRouting } from '../db/database.js';
import { withAccountTx, withLookupTx, withOpenedTx, withTenantTx, type Lookup as NamedLookup } from '../db/tx.js';
import type { AfterResponse } from '../jobs/after-response.js';
import { enforce } from '../rbac/authorize.js';
import type { Action } from '../rbac/roles.js';
import type { AnonymousCsrf } from '../session/session.js';
import { recordQuotaRejection } from '../telemetry/metrics.js';
import { traceHandler } from '../telemetry/http.js';
import { setRequestSpanAttributes } from '../telemetry/tracing.js';
import { callerOf, requestContext, sessionStillCurrent } from './caller.js';
import { confirmOnStandby, requestRouting, sendPosition, type SessionCookie } from './consistency.js';
import type { RequestContext } from './context.js';
import { checkCsrf } from './csrf.js';
import { AppError } from './errors.js';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  parseIdempotencyKey,
  releaseIdempotencyKey,
  requestFingerprint,
  type IdempotencyScope,
} from './idempotency.js';
import type { WriteQuota } from './quota.js';
import { isPending, sendResult, whenAnswered, type HttpResult, type PendingResult, type ResponseBody } from './result.js';
import { identify, identityOpening, tenantCaller, type TenantAccessDeps, type TenantCaller } from './tenant-access.js';
import { parseInput } from './validation.js';

export type { HttpResult, PendingResult } from './result.js';

export interface RouteDeps extends TenantAccessDeps {
  db: Database;
  clock: Clock;
  anonymousCsrf: AnonymousCsrf;
  /** The daily write quota of metered routes. */
  quota: WriteQuota;
  /** The session cookie's name and flags (the read-position cookie of consistency.ts follows them). */
  sessionCookie: SessionCookie;
  /** Runs the handlers of `answerFirst` routes after their answer. */
  afterResponse: AfterResponse;
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
 * The request transaction's own settings, when a route's `prepare` decides them: the user it acts
 * for (a user who just proved a password; default the signed-in caller, or none) and the tenant
 * it enters (one created or joined; default none).
 */
export interface AccountTxTarget {
  userId?: string | null;
  tenantId?: string;
}

/** A short transaction of its own with the request's account settings, for `prepare`'s reads. */
export type AccountLookup = <T>(fn: (tx: Queryable) => Promise<T>, named?: NamedLookup) => Promise<T>;

const ANSWERED = Symbol('answered');

/** `prepare`'s early answer: sent as it is, and no transaction opens. */
export interface Answered {
  readonly [ANSWERED]: HttpResult;
}

export function answered(result: HttpResult): Answered {
  return { [ANSWERED]: result };
}

function isAnswered(value: unknown): value is Answered {
  return typeof value === 'object' && value !== null && ANSWERED in value;
}

/**
 * A route with no tenant of its own: auth and account routes. `action` is `public` (anyone, CSRF
 * still applies to unsafe methods) or `signed_in`. Its phases, in order: `prepare` (no
 * transaction), `handler` (the request's transaction, opened by the pipeline), `respond` (after
 * the commit).
 */
export interface AccountRouteSpec<B, Q, P, R, A> extends BaseSpec<B, Q, P> {
  action: 'public' | 'signed_in';
  /**
   * Accepts `Idempotency-Key` (signed-in callers; keyed by user). The handler's answer (an
   * HttpResult) is stored in its transaction; a replay skips every phase, `respond` included.
   */
  idempotent?: boolean;
  /**
   * Work before the transaction, which holds no connection meanwhile: rate limits, password
   * checks and hashing, and the reads such work needs (`lookup`). `answered(result)` answers
   * without a transaction.
   */
  prepare?(args: HandlerArgs<B, Q, P> & { lookup: AccountLookup }): Promise<R | Answered>;
  /** The settings of the request's transaction, from what `prepare` found (see AccountTxTarget). */
  opensAs?(prepared: R): AccountTxTarget;
  /**
   * `answer` is sent before the handler runs: the handler then runs after it, in its transaction,
   * tracked by AfterResponse, a failure logged as "<purpose> failed after the response"
   * (forgot-password: nothing it finds shows in the answer or its timing).
   */
  answerFirst?: { answer: HttpResult; purpose: string };
  handler(args: HandlerArgs<B, Q, P> & { tx: Queryable; prepared: R }): Promise<A>;
  /**
   * After the commit, before the answer: session changes that must follow a committed change
   * (sign-in, rotation), and the answer. It may still refuse (throw), e.g. a failed sign-in whose
   * audit rows had to commit. Without it the handler's answer is the HttpResult sent.
   */
  respond?(args: HandlerArgs<B, Q, P> & { answer: A }): Promise<HttpResult>;
}

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
  handler(args: HandlerArgs<B, Q, P> & { tx: Queryable; tenantId: string }): Promise<HttpResult | PendingResult>;
}

type Respond<B, Q, P, R, A> = Required<Pick<AccountRouteSpec<B, Q, P, R, A>, 'respond'>>;
type AnswerFirst<B, Q, P, R, A> = Required<Pick<AccountRouteSpec<B, Q, P, R, A>, 'answerFirst'>>;
/** A handler whose answer is no HttpResult needs `respond` (or, answering nothing, `answerFirst`). */
type AnswerShape<B, Q, P, R, A> = [A] extends [HttpResult]
  ? unknown
  : undefined extends A
    ? Respond<B, Q, P, R, A> | AnswerFirst<B, Q, P, R, A>
    : Respond<B, Q, P, R, A>;

export interface RouteInventoryEntry {
  method: Method;
  path: string;
  action: string;
  apiKeys: boolean;
}

export class RouteRegistry {
  readonly inventory: RouteInventoryEntry[] = [];

  constructor(
    private readonly router: Router,
    private readonly deps: RouteDeps,
  ) {}

  account<B = undefined, Q = undefined, P = undefined, R = undefined, A = HttpResult>(
    spec: AccountRouteSpec<B, Q, P, R, A> & AnswerShape<B, Q, P, R, A>,
  ): void {
    if (spec.idempotent && spec.answerFirst) throw new Error(`idempotent route ${spec.method} ${spec.path} cannot answer first`);
    this.inventory.push({ method: spec.method, path: spec.path, action: spec.action, apiKeys: false });
    this.router[spec.method](spec.path, traceHandler(`/v1${spec.path}`, async (req: Request, res: Response) => {
      const caller = callerOf(req);
      if (caller.type === 'api_key') throw new AppError('SESSION_REQUIRED');
      const now = this.deps.clock.now();
      checkCsrf(req, this.deps.anonymousCsrf, now.getTime());
      // A session ended elsewhere (password reset or change) is deleted and the request goes on as
      // anonymous, as after a logout: public routes answer, signed-in routes 401 AUTH_REQUIRED.
      const userId = caller.type === 'user' && (await sessionStillCurrent(this.deps.db, req, caller.userId)) ? caller.userId : null;
      if (spec.action === 'signed_in' && !userId) throw new AppError('AUTH_REQUIRED');
      const ctx = requestContext(req, now, userId ? { type: 'user', userId } : { type: 'anonymous' });
      setRequestSpanAttributes(req, ctx);
      const args = { ctx, ...parseAll(spec, req), req };
      const key = spec.idempotent && userId ? parseIdempotencyKey(req.get('idempotency-key')) : null;
      if (!userId || key === null) {
        await sendResult(res, await this.inAccountTx(spec, args, userId, null));
        return;
      }
      const scope: IdempotencyScope = { tenantId: null, principalType: 'user', principalId: userId, key, fingerprint: requestFingerprint(req.method, req.path, req.body) };
      const claim = () => withAccountTx(this.deps.db, userId, async (tx) => ({ scope, stored: await claimIdempotencyKey(tx, scope, now) }));
      await sendResult(res, await this.idempotently(userId, claim, (s) => this.inAccountTx(spec, args, userId, s)));
    }));
  }

  /**
   * An account route's phases: `prepare` (its lookups are short transactions of their own), the
   * request's transaction (the stored idempotent answer in it), `respond` after the commit. With
   * `answerFirst` the answer goes out and the transaction runs after it.
   */
  private async inAccountTx<B, Q, P, R, A>(
    spec: AccountRouteSpec<B, Q, P, R, A>,
    args: HandlerArgs<B, Q, P>,
    userId: string | null,
    scope: IdempotencyScope | null,
  ): Promise<HttpResult> {
    const db = this.deps.db;
    const lookup: AccountLookup = (fn, named) => (named ? withLookupTx(db, userId, named, fn) : withAccountTx(db, userId, fn));
    const prepared = spec.prepare ? await spec.prepare({ ...args, lookup }) : (undefined as R);
    if (isAnswered(prepared)) return prepared[ANSWERED];
    const target = spec.opensAs?.(prepared) ?? {};
    const actingUser = target.userId === undefined ? userId : target.userId;
    const inTx = async (tx: Queryable): Promise<A> => {
      const answer = await spec.handler({ ...args, tx, prepared });
      if (scope !== null) {
        const r = answer as HttpResult;
        await completeIdempotencyKey(tx, scope, { status: r.status, body: r.body, headers: r.headers ?? {} });
      }
      return answer;
    };
    const run = () => (target.tenantId ? withTenantTx(db, { tenantId: target.tenantId, userId: actingUser }, inTx) : withAccountTx(db, actingUser, inTx));
    if (spec.answerFirst) {
      this.deps.afterResponse.run(spec.answerFirst.purpose, async () => {
        await run();
      });
      return spec.answerFirst.answer;
    }
    const answer = await run();
    return spec.respond ? spec.respond({ ...args, answer }) : (answer as HttpResult);
  }

  tenant<B = undefined, Q = undefined, P = undefined>(spec: TenantRouteSpec<B, Q, P>): void {
    this.inventory.push({ method: spec.method, path: spec.path, action: spec.action, apiKeys: spec.apiKeys ?? false });
    this.router[spec.method](spec.path, traceHandler(`/v1${spec.path}`, async (req: Request, res: Response) => {
      const now = this.deps.clock.now();
      const who = callerOf(req);
      if (who.type === 'api_key' && !spec.apiKeys) throw new AppError('SESSION_REQUIRED');
      checkCsrf(req, this.deps.anonymousCsrf, now.getTime());
      if (who.type === 'anonymous') throw new AppError('AUTH_REQUIRED');
      const input = parseAll(spec, req);
      const routing = requestRouting(req, who, this.deps.db, this.deps.sessionCookie);
      const caller = await tenantCaller(req, who, spec.tenant, (userId) => sessionStillCurrent(this.deps.db, req, userId));
      const ctx = requestContext(req, now, { type: 'anonymous' });
      const key = spec.idempotent ? parseIdempotencyKey(req.get('idempotency-key')) : null;
      const userId = caller.type === 'user' ? caller.userId : null;
      try {
        const result =
          key === null
            ? await this.inTenantTx(spec, caller, ctx, req, input, null, routing)
            : await this.idempotently(userId, () => this.claimForTenant(caller, ctx, req, spec, key, routing), (scope) => this.inTenantTx(spec, caller, ctx, req, input, scope, routing));
        sendPosition(req, res, routing, this.deps.sessionCookie);
        await sendResult(res, result);
      } catch (err) {
        await this.afterFailure(err, ctx, req);
        throw err;
      }
    }));
  }

  /** The request's transaction: identity and quota from its opening, authorisation, the handler. */
  private async inTenantTx<B, Q, P>(
    spec: TenantRouteSpec<B, Q, P>,
    caller: TenantCaller,
    ctx: RequestContext,
    req: Request,
    input: { body: B; query: Q; params: P },
    scope: IdempotencyScope | null,
    routing: TxRouting | undefined,
  ): Promise<HttpResult> {
    const opening = identityOpening(caller, this.deps);
    const settings = spec.metered ? { ...opening, lookups: [...(opening.lookups ?? []), this.deps.quota.count(ctx.now)] } : opening;
    const result = await withOpenedTx(this.deps.db, settings, async (tx, opened) => {
      confirmOnStandby(opened, caller, req);
      const tenantId = await identify(tx, opened.lookups[0] ?? [], caller, req, spec.tenant, this.deps, ctx);
      setRequestSpanAttributes(req, ctx);
      const quotaHeaders = spec.metered ? this.deps.quota.decide(opened.lookups[1] ?? [], ctx.now) : null;
      if (spec.authorize === 'route') enforce(spec.action, { tenantId }, ctx);
      let answer = await spec.handler({ ctx, ...input, req, tx, tenantId });
      if (!ctx.authorized.has(spec.action)) throw new Error(`route ${spec.method} ${spec.path} did not authorize ${spec.action}`);
      if (quotaHeaders !== null) {
        const metered = (r: HttpResult): HttpResult => {
          // A metered handler signals failure by throwing, which rolls its count back.
          if (r.status >= 300) throw new Error(`metered route ${spec.method} ${spec.path} answered ${String(r.status)} without throwing`);
          return { ...r, headers: { ...r.headers, ...quotaHeaders } };
        };
        answer = isPending(answer) ? whenAnswered(answer.settle(), metered) : metered(answer);
      }
      if (scope === null) return answer;
      // The stored response must be complete before its transaction commits.
      const complete = isPending(answer) ? await answer.settle() : answer;
      await completeIdempotencyKey(tx, scope, { status: complete.status, body: withoutFields(complete.body, spec.notReplayed), headers: complete.headers ?? {} });
      return complete;
    }, routing);
    return isPending(result) ? result.settle() : result;
  }

  /**
   * The claim's transaction opens as the request's does, so the key is scoped to the identified
   * principal and tenant. It carries the routing too: its commit position covers the original
   * write of an answer it replays.
   */
  private claimForTenant<B, Q, P>(
    caller: TenantCaller,
    ctx: RequestContext,
    req: Request,
    spec: TenantRouteSpec<B, Q, P>,
    key: string,
    routing: TxRouting | undefined,
  ): Promise<{ scope: IdempotencyScope; stored: Awaited<ReturnType<typeof claimIdempotencyKey>> }> {
    return withOpenedTx(this.deps.db, identityOpening(caller, this.deps), async (tx, opened) => {
      const tenantId = await identify(tx, opened.lookups[0] ?? [], caller, req, spec.tenant, this.deps, ctx);
      const p = ctx.principal;
      const scope: IdempotencyScope = {
        tenantId,
        principalType: p.type === 'user' ? 'user' : 'service_account',
        principalId: p.type === 'user' ? p.userId : p.type === 'service_account' ? p.serviceAccountId : '',
        key,
        fingerprint: requestFingerprint(req.method, req.path, req.body),
      };
      return { scope, stored: await claimIdempotencyKey(tx, scope, ctx.now) };
    }, routing);
  }

  /**
   * Step: idempotency. The key is claimed (and committed) before the request's transaction: a
   * completed claim's answer is replayed, else `run` goes once and a failure releases the claim so
   * that the client may retry with the same key.
   */
  private async idempotently(
    userId: string | null,
    claim: () => Promise<{ scope: IdempotencyScope; stored: Awaited<ReturnType<typeof claimIdempotencyKey>> }>,
    run: (scope: IdempotencyScope) => Promise<HttpResult>,
  ): Promise<HttpResult> {
    const { scope, stored } = await claim();
    if (stored) return { status: stored.status, body: stored.body as ResponseBody, headers: { ...stored.headers, 'Idempotent-Replayed': 'true' } };
    try {
      return await run(scope);
    } catch (err) {
      await releaseIdempotencyKey(this.deps.db, userId, scope).catch(() => undefined);
      throw err;
    }
  }

  /** A quota refusal is recorded (audited once per tenant per day) after the request rolled back. */
  private async afterFailure(err: unknown, ctx: RequestContext, req: Request): Promise<void> {
    if (!(err instanceof AppError) || err.code !== 'QUOTA_EXCEEDED' || !ctx.tenant) return;
    recordQuotaRejection();
    const userId = ctx.principal.type === 'user' ? ctx.principal.userId : null;
    await withTenantTx(this.deps.db, { tenantId: ctx.tenant.id, userId }, (tx: Queryable) =>
      this.deps.quota.refused(tx, ctx, err, { method: req.method, path: req.path }),
    ).catch(() => undefined);
  }
}

/** The body as stored for replays: without the fields that are shown only once. */
function withoutFields(body: ResponseBody | undefined, fields: readonly string[] | undefined): ResponseBody | undefined {
  if (!fields || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([k]) => !fields.includes(k)));
}

function parseAll<B, Q, P>(spec: BaseSpec<B, Q, P>, req: Request): { body: B; query: Q; params: P } {
  return {
    params: spec.params ? parseInput(spec.params, req.params, 'params') : (undefined as P),
    query: spec.query ? parseInput(spec.query, req.query, 'query') : (undefined as Q),
    body: spec.body ? parseInput(spec.body, req.body, 'body') : (undefined as B),
  };
}
