import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Database } from '../../platform/db/database.js';
import { withTenantTx } from '../../platform/db/tx.js';
import type { JobQueue } from '../../platform/jobs/runner.js';
import { OutboundError, type PinnedHttpClient } from '../../platform/http-out/pinned-client.js';
import { presentEvent } from '../events/events.presenters.js';
import { EVENTS_CHANNEL } from '../events/events.record.js';
import { verdictOf, type AttemptVerdict } from './webhook.retry.js';
import { webhookHeaders } from './webhook.signing.js';
import type { WebhookSecrets } from './webhook.secrets.js';
import { claimDeliveries, fanOut, recordAttempt, tenantsWithEndpoints, withWebhookWorkerTx, type AttemptResult, type ClaimedDelivery } from './webhook-worker.queries.js';
import { inAttemptSpan, recordAttemptOutcome, type AttemptOutcome } from './webhooks.metrics.js';

/** An endpoint whose deliveries have all failed this long is disabled. */
export const FAILING_DISABLE_MS = 5 * 86_400_000;
const EXCERPT_CHARS = 1024;
/**
 * One run's fan-out makes at most FAN_OUT_ENDPOINTS x FAN_OUT_EVENTS delivery rows (2,000), a
 * statement that stays well inside the statement timeout under load: an unbounded one (it was
 * 200 x 500) that once timed out was retried whole and timed out again, and delivery stopped.
 * FAN_OUT_EVENTS >= DELIVERY_BATCH, so a run that left an endpoint's backlog behind reports a
 * full batch and the runner runs again at once.
 */
const FAN_OUT_ENDPOINTS = 10;
const FAN_OUT_EVENTS = 200;
const DELIVERY_BATCH = 200;
/**
 * How old the list of tenants with endpoints may get before a run reads it again. An event of a
 * tenant not on the list wakes the queue only once the list is this old, so a tenant without
 * endpoints costs at most one extra run per this interval, and an endpoint created on another
 * node is woken for within this long (until then the poll delivers its events).
 */
const ENDPOINT_TENANTS_MAX_AGE_MS = 1000;

export const GONE_REASON = 'The endpoint answered 410 Gone.';
export const FAILING_REASON = 'Every delivery failed for 5 days.';

export interface WebhookQueueDeps {
  db: Database;
  logger: Logger;
  secrets: WebhookSecrets;
  client: PinnedHttpClient;
  /** How long a claimed delivery belongs to this worker (WEBHOOK_LEASE_SECONDS); more than the 10 s request cap. */
  leaseMs: number;
  /**
   * Confines this worker to one tenant's endpoints and deliveries; unset (production) it serves
   * every tenant. Test harnesses that share one database between concurrent files use it.
   */
  tenantId?: string;
  /** [0, 1): spreads retry jitter (tests pin it). */
  random?: () => number;
}

/**
 * Webhook delivery as a queue of the job runner: each run turns new events into deliveries
 * (fan-out), claims due deliveries with a lease, attempts them in parallel, and records each
 * outcome. Any number of workers on any number of nodes share the work through SKIP LOCKED; a
 * worker that dies mid-attempt leaves a lease that runs out, and the delivery is attempted again
 * with the same webhook-id. `now` is the runner's clock, used for every decision.
 */
export const WEBHOOK_QUEUE = 'webhooks';

/** One sent attempt, waiting to be recorded with the rest of its batch. */
interface Attempt {
  d: ClaimedDelivery;
  verdict: AttemptVerdict;
  outcome: AttemptOutcome;
  result: AttemptResult;
}

export class WebhookDeliveryQueue implements JobQueue {
  readonly name = WEBHOOK_QUEUE;
  /**
   * Deliveries claimed, sent in parallel and recorded together per run: each run costs two
   * transactions whatever its size, so a busy tenant (3 endpoints x every write) is delivered in
   * large batches without taking a pool connection per delivery from the requests.
   */
  readonly batchSize = DELIVERY_BATCH;

  /** Tenants with an enabled endpoint as of `at` (performance.now()); null until the first run. */
  private endpointTenants: { tenants: Set<string>; at: number } | null = null;

  constructor(private readonly deps: WebhookQueueDeps) {}

  /**
   * Every committed event is announced on the events channel (to every node); an event of a
   * tenant with endpoints wakes this queue at once instead of at the next poll.
   */
  listen(wake: () => void): Promise<() => Promise<void>> {
    return this.deps.db.listen(
      EVENTS_CHANNEL,
      (payload) => {
        if (this.wantsEventsOf(payload.slice(0, payload.indexOf(':')))) wake();
      },
      wake,
    );
  }

  private wantsEventsOf(tenantId: string): boolean {
    if (this.deps.tenantId !== undefined) return tenantId === this.deps.tenantId;
    const known = this.endpointTenants;
    if (known === null || known.tenants.has(tenantId)) return true;
    // Not on the list: the endpoint may be newer than it; a run (which reads it again) settles that.
    return performance.now() - known.at >= ENDPOINT_TENANTS_MAX_AGE_MS;
  }

  async runOnce(now: Date, limit: number): Promise<number> {
    const tenantId = this.deps.tenantId ?? null;
    const readAt = performance.now();
    const refresh = this.endpointTenants === null || readAt - this.endpointTenants.at >= ENDPOINT_TENANTS_MAX_AGE_MS;
    const leaseToken = randomUUID();
    const lease = { until: new Date(now.getTime() + this.deps.leaseMs), token: leaseToken };
    // One transaction, its statements sent together: fan-out, then the claim (which sees the
    // deliveries the fan-out just made), and the endpoint list when it is due.
    const [created, claimed, tenants] = await withWebhookWorkerTx(this.deps.db, (tx) =>
      Promise.all([
        fanOut(tx, now, FAN_OUT_ENDPOINTS, FAN_OUT_EVENTS, tenantId),
        claimDeliveries(tx, now, limit, lease, tenantId),
        refresh ? tenantsWithEndpoints(tx, tenantId) : null,
      ]),
    );
    if (tenants) this.endpointTenants = { tenants: new Set(tenants), at: readAt };
    const attempts = await Promise.all(claimed.map((d) => this.attempt(d, now, leaseToken)));
    await this.record(attempts, now);
    return created + claimed.length;
  }

  /** Sends one claimed delivery (inside its span) and returns what is to be recorded. */
  private attempt(d: ClaimedDelivery, now: Date, leaseToken: string): Promise<Attempt> {
    const origin = safeOrigin(d.url);
    return inAttemptSpan({ eventType: d.event_type, attempt: d.attempts, origin, traceParent: d.trace_parent }, async () => {
      const started = performance.now();
      let status: number | null = null;
      let excerpt: string | null = null;
      let error: string | null = null;
      let verdict: AttemptVerdict;
      const body = bodyOf(d);
      if (d.attempts > d.max_attempts) {
        error = 'No attempts left.';
        verdict = { kind: 'failed' };
      } else if (body === null) {
        error = 'The event is no longer retained.';
        verdict = { kind: 'failed' };
      } else {
        let retryAfter: string | undefined;
        try {
          const secrets = d.secrets.map((s) => this.deps.secrets.open(s.ciphertext, { tenantId: d.tenant_id, endpointId: d.endpoint_id, secretId: s.id }));
          const res = await this.deps.client.post(d.url, webhookHeaders(secrets, d.event_id, now, body), body);
          status = res.status;
          excerpt = res.body.slice(0, EXCERPT_CHARS);
          retryAfter = res.headers['retry-after'];
          if (status >= 300 && status < 400) error = 'Redirects are not followed.';
        } catch (err) {
          if (!(err instanceof OutboundError)) throw err;
          error = err.message;
        }
        verdict = verdictOf({ attempt: d.attempts, maxAttempts: d.max_attempts, status, retryAfter, now }, this.deps.random);
      }
      const outcome: AttemptOutcome = verdict.kind === 'retry' ? 'retry' : verdict.kind;
      const result: AttemptResult = {
        tenantId: d.tenant_id,
        deliveryId: d.id,
        leaseToken,
        attempt: d.attempts,
        status: verdict.kind === 'succeeded' ? 'succeeded' : verdict.kind === 'retry' ? 'pending' : 'failed',
        nextAttemptAt: verdict.kind === 'retry' ? verdict.nextAttemptAt : null,
        at: now,
        durationMs: Math.round(performance.now() - started),
        responseStatus: status,
        responseBodyExcerpt: excerpt,
        error,
      };
      return { result: { d, verdict, outcome, result }, status, outcome, error };
    });
  }

  /**
   * Records a batch's outcomes in one transaction, its statements sent together (one round trip
   * for the batch, not one transaction per delivery), in endpoint order so that two workers
   * touching the same endpoints' failure windows take their locks in the same order.
   */
  private async record(attempts: Attempt[], now: Date): Promise<void> {
    if (attempts.length === 0) return;
    const key = (a: Attempt): string => `${a.d.tenant_id}:${a.d.endpoint_id}`;
    const ordered = [...attempts].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const recorded = await withWebhookWorkerTx(this.deps.db, (tx) => Promise.all(ordered.map((a) => recordAttempt(tx, a.result))));
    for (const [i, a] of ordered.entries()) {
      const r = recorded[i];
      const d = a.d;
      if (!r?.recorded) {
        this.deps.logger.warn({ deliveryId: d.id }, 'webhook attempt finished after its lease ran out; another worker owns it');
        continue;
      }
      recordAttemptOutcome(a.outcome, d.event ? (now.getTime() - d.event.occurred_at.getTime()) / 1000 : null);
      const failingFor = r.failingSince ? now.getTime() - r.failingSince.getTime() : 0;
      if (a.verdict.kind === 'gone') await this.disable(d, GONE_REASON, now);
      else if (a.verdict.kind !== 'succeeded' && failingFor >= FAILING_DISABLE_MS) await this.disable(d, FAILING_REASON, now);
    }
  }

  /** Disables the endpoint (once) and audits it as the system, in the tenant's own transaction. */
  private async disable(d: ClaimedDelivery, reason: string, now: Date): Promise<void> {
    await withTenantTx(this.deps.db, { tenantId: d.tenant_id, userId: null }, async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, updated_at = $4, version = version + 1
          WHERE tenant_id = $1 AND id = $2 AND enabled`,
        [d.tenant_id, d.endpoint_id, reason, now],
      );
      if (rowCount === 0) return;
      await recordAuditEvent(
        tx,
        { principal: { type: 'anonymous' }, ip: null, userAgent: null, requestId: randomUUID().replaceAll('-', ''), now },
        d.tenant_id,
        { action: 'webhook_endpoint.disabled', actor: { type: 'system', id: null }, target: { type: 'webhook_endpoint', id: d.endpoint_id }, metadata: { reason } },
      );
    });
    this.deps.logger.info({ tenantId: d.tenant_id, endpointId: d.endpoint_id, reason }, 'webhook endpoint disabled');
  }
}

/** The exact bytes sent and signed: the Event as the API presents it, or the stored test body. */
function bodyOf(d: ClaimedDelivery): string | null {
  if (d.event) return JSON.stringify(presentEvent(d.event));
  if (d.event_type === 'webhook.test' && d.payload !== null) return JSON.stringify(d.payload);
  return null;
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid';
  }
}
