import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Request, type Response, type Router } from 'express';
import type { FeatureDeps } from '../../deps.js';
import type { Clock } from '../../platform/clock.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError, isAppError } from '../../platform/http/errors.js';
import { noStore, notFoundOrMethodNotAllowed } from '../../platform/http/middleware.js';
import { parseInput } from '../../platform/http/validation.js';
import { recordAlertRefusal } from '../../platform/telemetry/metrics.js';
import type { AlertSeverity } from './alerts.queries.js';
import { createIngestLimits, type IngestLimits } from './ingest.limits.js';
import {
  alertmanagerBody,
  detailsProblem,
  eventsV2Body,
  LIMITS,
  truncate,
  type AlertmanagerAlert,
  type AlertmanagerBody,
  type EventsV2Body,
} from './ingest.schema.js';
import { ingestEvents, UnknownRoutingKey, type AlertEvent, type IngestDeps } from './ingest.service.js';
import { ROUTING_KEY_RE, routingKeyHash } from './routing-key.js';

/** Ingestion bodies may be up to 512 KB (docs/security.md 54); everything else under /v1 is 100 KB. */
export const INGEST_BODY_LIMIT = 512 * 1024;

/** The two ingestion routes, as the route inventory lists them (authenticated by routing key). */
export const INGEST_ROUTES = [
  { method: 'post', path: '/v1/integrations/events-v2/enqueue', action: 'routing_key', apiKeys: false },
  { method: 'post', path: '/v1/integrations/alertmanager', action: 'routing_key', apiKeys: false },
] as const;

/** PagerDuty's answer to a refused event (this route speaks PagerDuty, not the error envelope). */
class PagerDutyRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: { status: string; message: string; errors?: string[] },
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

function invalidEvent(errors: string[]): PagerDutyRefusal {
  return new PagerDutyRefusal(400, { status: 'invalid event', message: 'Event object is invalid', errors });
}

function ingestContext(req: Request, now: Date): RequestContext {
  return {
    requestId: req.requestId,
    ip: req.ip ?? null,
    userAgent: req.get('user-agent')?.slice(0, 500) ?? null,
    principal: { type: 'anonymous' },
    tenant: null,
    now,
    authorized: new Set(),
  };
}

/** Maps an events-v2 body to an alert event; the dedup key is generated when a trigger has none. */
export function eventsV2Event(body: EventsV2Body): AlertEvent {
  if (body.event_action !== 'trigger') {
    if (body.dedup_key === undefined) throw invalidEvent([`dedup_key is required for ${body.event_action}`]);
    return { action: body.event_action, dedupKey: truncate(body.dedup_key, LIMITS.dedupKey) };
  }
  const p = body.payload;
  if (p === undefined) throw invalidEvent(['payload is required for trigger']);
  const details = {
    custom_details: p.custom_details ?? null,
    timestamp: p.timestamp ?? null,
    component: p.component ?? null,
    group: p.group ?? null,
    class: p.class ?? null,
    links: body.links ?? [],
    images: body.images ?? [],
    client: body.client ?? null,
    client_url: body.client_url ?? null,
  };
  const problem = detailsProblem(details);
  if (problem) throw invalidEvent([problem]);
  return {
    action: 'trigger',
    dedupKey: truncate(body.dedup_key ?? randomUUID().replaceAll('-', ''), LIMITS.dedupKey),
    summary: truncate(p.summary, LIMITS.summary),
    severity: p.severity,
    source: truncate(p.source, LIMITS.source),
    detailsJson: JSON.stringify(details),
    groupKey: null,
  };
}

const ALERTMANAGER_SEVERITY: Record<string, AlertSeverity> = {
  critical: 'critical',
  page: 'critical',
  error: 'error',
  high: 'error',
  major: 'error',
  warning: 'warning',
  warn: 'warning',
  minor: 'warning',
  info: 'info',
  low: 'info',
  none: 'info',
};
/**
 * Maps one Alertmanager alert: the fingerprint is its dedup key, the payload's groupKey its group,
 * and a `severity` label its severity (without one, the source's default applies).
 */
export function alertmanagerEvent(body: AlertmanagerBody, a: AlertmanagerAlert): AlertEvent {
  const dedupKey = truncate(a.fingerprint, LIMITS.dedupKey);
  if (a.status === 'resolved') return { action: 'resolve', dedupKey };
  const labels = a.labels;
  const annotations = a.annotations ?? {};
  const details = { labels, annotations, startsAt: a.startsAt ?? null, generatorURL: a.generatorURL ?? null, receiver: body.receiver ?? null, externalURL: body.externalURL ?? null };
  const problem = detailsProblem(details);
  if (problem) throw new AppError('VALIDATION_FAILED', { details: { fields: [{ path: 'alerts', message: problem.replace('custom_details', 'labels and annotations') }] } });
  return {
    action: 'trigger',
    dedupKey,
    summary: truncate(annotations.summary ?? annotations.description ?? labels.alertname ?? a.fingerprint, LIMITS.summary) || dedupKey,
    severity: ALERTMANAGER_SEVERITY[(labels.severity ?? '').toLowerCase()] ?? null,
    source: truncate(labels.instance ?? labels.job ?? body.receiver ?? 'alertmanager', LIMITS.source) || 'alertmanager',
    detailsJson: JSON.stringify(details),
    groupKey: truncate(body.groupKey, LIMITS.groupKey),
  };
}

/**
 * The ingestion routes (docs/api-guide.md "Alerts"), mounted ahead of /v1's session and API-key
 * handling: they authenticate by routing key only, with no cookie, no CSRF and no `x-api-key`.
 */
export function integrationsRouter(deps: FeatureDeps): Router {
  const limits = createIngestLimits(deps.config.limits.alertEventsPerMinute, deps.redis, deps.clock);
  const ingestDeps: IngestDeps = {
    db: deps.db,
    dailyWriteQuota: deps.config.dailyWriteQuota,
    consumeSourceBudget: (sourceId, points) => limits.consumeSourceBudget(sourceId, points),
  };
  const guard = { limits, clock: deps.clock };
  const router = express.Router();
  router.use(noStore);
  const json = express.json({ limit: INGEST_BODY_LIMIT, strict: true, type: 'application/json', inflate: false });

  router.post('/events-v2/enqueue', json, async (req: Request, res: Response) => {
    if (req.body === undefined) throw invalidEvent(['Send the event as a JSON object with Content-Type: application/json']);
    const parsed = eventsV2Body.safeParse(req.body);
    if (!parsed.success) throw invalidEvent(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`));
    const event = eventsV2Event(parsed.data);
    await authenticated(guard, req, parsed.data.routing_key, (keyHash, ctx) => ingestEvents(ingestDeps, ctx, keyHash, [event]), () =>
      invalidEvent(['Invalid routing key']),
    );
    res.status(202).json({ status: 'success', message: 'Event processed', dedup_key: event.dedupKey });
  });

  router.post('/alertmanager', json, async (req: Request, res: Response) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.get('authorization') ?? '');
    const key = match?.[1];
    if (key === undefined) throw new AppError('ROUTING_KEY_INVALID');
    if (req.body === undefined) throw new AppError('UNSUPPORTED_MEDIA_TYPE');
    const body = parseInput(alertmanagerBody, req.body, 'body');
    await authenticated(guard, req, key, async (keyHash, ctx) => {
      // Sorted by fingerprint so that two batches of the same alerts always take their locks in one order.
      const alerts = [...body.alerts].sort((x, y) => (x.fingerprint < y.fingerprint ? -1 : x.fingerprint > y.fingerprint ? 1 : 0));
      await ingestEvents(ingestDeps, ctx, keyHash, alerts.map((a) => alertmanagerEvent(body, a)));
    }, () => new AppError('ROUTING_KEY_INVALID'));
    res.status(200).json({ accepted: body.alerts.length });
  });

  router.use(notFoundOrMethodNotAllowed(() => INGEST_ROUTES.map((r) => ({ method: r.method, path: r.path.slice('/v1/integrations'.length) }))));
  router.use(ingestErrors);
  return router;
}

/**
 * Authenticates a routing key and runs `work` with its digest. An address over its budget of
 * wrong keys is refused before any lookup; a key of the wrong form never reaches the database;
 * an unknown (or rotated-out, or deleted) key costs one read and spends the address's budget.
 */
async function authenticated(
  { limits, clock }: { limits: IngestLimits; clock: Clock },
  req: Request,
  key: string,
  work: (keyHash: string, ctx: RequestContext) => Promise<void>,
  refusal: () => Error,
): Promise<void> {
  await limits.assertKeyGuessAllowed(req.ip ?? null);
  const wrongKey = async (): Promise<Error> => {
    await limits.recordWrongKey(req.ip ?? null);
    return refusal();
  };
  if (!ROUTING_KEY_RE.test(key)) throw await wrongKey();
  try {
    await work(routingKeyHash(key), ingestContext(req, clock.now()));
  } catch (err) {
    if (err instanceof UnknownRoutingKey) throw await wrongKey();
    throw err;
  }
}

const THROTTLED = { status: 'throttle event', message: 'Requests for this routing key are arriving too quickly. Please retry later.' };

/**
 * Refusals of both routes are counted (`rate-limited` or `invalid`). The events-v2 route answers
 * in PagerDuty's shapes (400 `invalid event` with `errors`, 413, 429 `throttle event` with
 * Retry-After); the Alertmanager route, and a 5xx on either, go on to the error envelope.
 */
const ingestErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
  const refusal = toRefusal(err);
  if (refusal.status === 429) recordAlertRefusal('rate-limited');
  else if (refusal.status >= 400 && refusal.status < 500 && refusal.status !== 404 && refusal.status !== 405) recordAlertRefusal('invalid');
  if (!req.path.startsWith('/events-v2/') || !(refusal instanceof PagerDutyRefusal)) {
    next(err);
    return;
  }
  for (const [k, v] of Object.entries(refusal.headers)) res.setHeader(k, v);
  res.status(refusal.status).json(refusal.body);
};

/** The PagerDuty answer for an error, or the status the error envelope will carry. */
function toRefusal(err: unknown): PagerDutyRefusal | { status: number } {
  if (err instanceof PagerDutyRefusal) return err;
  if (isAppError(err)) {
    if (err.code === 'RATE_LIMITED') return new PagerDutyRefusal(429, THROTTLED, err.headers);
    if (err.status === 400) return invalidEvent([err.message]);
    return { status: err.status };
  }
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') return new PagerDutyRefusal(413, { status: 'invalid event', message: 'Request body is larger than 512 KB', errors: ['Request body is larger than 512 KB'] });
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return invalidEvent(['Send the event as uncompressed UTF-8 application/json']);
  if (typeof type === 'string') return invalidEvent(['The request body is not valid JSON']);
  return { status: 500 };
}
