import express, { type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Store } from 'express-session';
import { featureRouteDeps, registerFeatureRoutes } from './features/index.js';
import { parseApiKey } from './features/api-keys/api-key.token.js';
import { corsAllowList } from './platform/http/cors.js';
import { AppError } from './platform/http/errors.js';
import {
  errorHandler,
  noStore,
  notFoundOrMethodNotAllowed,
  requestId,
  requireJsonContentType,
} from './platform/http/middleware.js';
import { RouteRegistry, type RouteInventoryEntry } from './platform/http/route.js';
import type { Clock } from './platform/clock.js';
import type { AppDeps, FeatureDeps } from './deps.js';
import { createAppServices } from './feature-deps.js';
import type { JobRunner } from './platform/jobs/runner.js';
import {
  enforceSessionLifetime,
  MemorySessionStore,
  RedisSessionStore,
  sessionMiddleware,
  type SessionTimeouts,
} from './platform/session/session.js';
import { registerHealthRoute } from './features/health/health.routes.js';
import { registerDocsRoutes } from './features/docs/docs.routes.js';
import { INGEST_ROUTES, integrationsRouter } from './features/alerts/ingest.routes.js';
import { EventHub } from './features/events/events.hub.js';
import { recordApiKeyAuthentication } from './platform/telemetry/metrics.js';
import { traceRequests } from './platform/telemetry/http.js';
import { telemetryRunning } from './platform/telemetry/lifecycle.js';
import { activeTraceId } from './platform/telemetry/tracing.js';

export interface BuiltApp {
  app: Express;
  inventory: RouteInventoryEntry[];
  deps: FeatureDeps;
  /**
   * The background work of the features (mail delivery): main.ts starts it unless WORKERS=off;
   * tests run it to completion with `drain()`.
   */
  jobs: JobRunner;
  /** Where signed-in sessions are kept (tests count its entries). */
  sessionStore: Store;
  /** The open event streams of this app; `close()` ends them. */
  eventHub: EventHub;
  /** Ends open event streams (clients reconnect elsewhere) and releases in-process resources. */
  close(): void;
}

/** Builds the Express app. Never listens; tests and main.ts both call this. */
export function buildApp(input: AppDeps): BuiltApp {
  const { config, redis, logger } = input;
  const { deps, jobs } = createAppServices(input);
  const { db, clock, sessionTimeouts, eventHub } = deps;
  const store = redis ? new RedisSessionStore(redis, sessionTimeouts) : new MemorySessionStore(sessionTimeouts);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');
  // Which X-Forwarded-For hops decide req.ip (per-IP limits, audit rows): TRUST_PROXY.
  app.set('trust proxy', config.trustProxy);

  // With the SDK running, every request but /health gets its server span first, and the request
  // id is its trace id.
  if (telemetryRunning()) app.use(traceRequests());
  app.use(requestId(input.traceId ?? activeTraceId));
  // Before everything else so that a preflight is answered without a session or a body parser.
  if (config.corsOrigins.length > 0) app.use(corsAllowList(config.corsOrigins));
  const observer = input.responseObserver;
  if (observer) {
    app.use((req, res, next) => {
      const json = res.json.bind(res);
      let observed = false;
      res.json = (body: unknown) => {
        observed = true;
        observer(req, res.statusCode, body);
        return json(body);
      };
      res.on('finish', () => {
        if (!observed) observer(req, res.statusCode, undefined);
      });
      next();
    });
  }
  // No inline styles anywhere but /docs, which sets its own policy.
  app.use(helmet({ contentSecurityPolicy: { directives: { 'style-src': ["'self'"] } } }));

  registerHealthRoute(app, { db, redis, store, logger });
  const docsRoutes = config.apiDocs ? registerDocsRoutes(app) : [];

  // Alert ingestion authenticates by routing key alone: ahead of /v1's cookie, CSRF and API-key handling.
  app.use('/v1/integrations', integrationsRouter(deps));

  const v1 = express.Router();
  v1.use(noStore);
  v1.use(requireJsonContentType);
  // No compressed bodies: a Content-Encoding other than identity is a 415, never a zlib error.
  v1.use(express.json({ limit: '100kb', strict: true, type: 'application/json', inflate: false }));
  v1.use(apiKeyOrSession(sessionMiddleware({ store, secret: config.session.secret, cookieName: config.session.cookieName, secure: config.session.secure }), clock, sessionTimeouts));

  const registry = new RouteRegistry(v1, {
    db,
    clock,
    anonymousCsrf: deps.anonymousCsrf,
    afterResponse: deps.afterResponse,
    sessionCookie: { cookieName: config.session.cookieName, secure: config.session.secure },
    ...featureRouteDeps(deps),
  });
  registerFeatureRoutes(registry, deps);
  v1.use(notFoundOrMethodNotAllowed(() => registry.inventory.map((r) => ({ method: r.method, path: r.path }))));
  app.use('/v1', v1);

  app.use(notFoundOrMethodNotAllowed(() => [{ method: 'get', path: '/health' }, ...docsRoutes]));
  app.use(errorHandler(logger));

  return {
    app,
    inventory: [
      { method: 'get', path: '/health', action: 'public', apiKeys: false },
      ...registry.inventory.map((r) => ({ ...r, path: `/v1${r.path}` })),
      ...INGEST_ROUTES,
    ],
    deps,
    jobs,
    sessionStore: store,
    eventHub,
    close() {
      eventHub.close().catch((err: unknown) => {
        logger.warn({ err: { message: (err as Error).message } }, 'closing the event hub failed');
      });
      if (store instanceof MemorySessionStore) store.close();
    },
  };
}

/** The API key a request presents: `x-api-key`, or equally `Authorization: Bearer`; never both. */
function presentedApiKey(req: Request): string | string[] | undefined {
  const header = req.headers['x-api-key'];
  // `Bearer` with no token is a bad key, not an absent one.
  const match = /^Bearer(?:[ \t]+(.*))?$/i.exec(req.headers.authorization ?? '');
  const bearer = match ? (match[1] ?? '').trim() : undefined;
  if (bearer === undefined) return header;
  if (header !== undefined) {
    throw new AppError('VALIDATION_FAILED', {
      message: 'Send the API key in x-api-key or in Authorization: Bearer, not both.',
      details: { fields: [{ path: 'Authorization', message: 'Not allowed together with x-api-key.' }] },
    });
  }
  return bearer;
}

/**
 * API key or session, never both: with a key present (`x-api-key` or `Authorization: Bearer`) the
 * cookie is not even read. A key in a query string is refused outright. A malformed key or bad
 * checksum fails here, before any database work.
 */
function apiKeyOrSession(session: RequestHandler, clock: Clock, timeouts: SessionTimeouts): RequestHandler {
  return (req: Request, res, next) => {
    const q = req.query as Record<string, unknown>;
    if ('api_key' in q || 'apiKey' in q || 'x-api-key' in q) {
      next(new AppError('API_KEY_INVALID', { message: 'API keys are accepted only in the x-api-key or Authorization: Bearer header.' }));
      return;
    }
    let presented: string | string[] | undefined;
    try {
      presented = presentedApiKey(req);
    } catch (err) {
      next(err);
      return;
    }
    if (presented !== undefined) {
      const key = Array.isArray(presented) ? undefined : presented;
      if (key === undefined || parseApiKey(key) === null) {
        recordApiKeyAuthentication('malformed');
        next(new AppError('API_KEY_INVALID'));
        return;
      }
      req.apiKey = key;
      next();
      return;
    }
    session(req, res, (err?: unknown) => {
      if (err) {
        next(err);
        return;
      }
      enforceSessionLifetime(req, clock.now().getTime(), timeouts).then(() => {
        next();
      }, next);
    });
  };
}
