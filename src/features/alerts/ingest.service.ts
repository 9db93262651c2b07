import type { RequestContext } from '../../platform/http/context.js';
import { withUnscopedTx } from '../../platform/db/tx.js';
import type { Database } from '../../platform/db/database.js';
import { recordAlertOutcome, recordCommittedAlertOutcome, type AlertOutcome } from '../../platform/telemetry/metrics.js';
import { utcDay } from '../usage/usage.quota.js';
import { enterTenant, sourceByKeyHash, sourceFound, touchAlertSource } from './alert-sources.queries.js';
import { acknowledgeAlertIncident, attachNewAlert, recordAlertEvent, resolveAlertIncident, type AlertScope } from './alert-incidents.js';
import { addToOpenAlert, countAlertEvent, countAlertEventUsage, findOpenAlert, moveAlert, triggerAlert, type AlertSeverity, type IncomingAlert } from './alerts.queries.js';
import { digestsMatch } from './routing-key.js';
import type { Severity } from '../incidents/incidents.schema.js';

/** One alert event, already validated and truncated, whichever route it came in on. */
export type AlertEvent =
  | {
      action: 'trigger';
      dedupKey: string;
      summary: string;
      /** Null: the source's default severity. */
      severity: AlertSeverity | null;
      source: string;
      detailsJson: string;
      groupKey: string | null;
    }
  | { action: 'acknowledge' | 'resolve'; dedupKey: string };

const ALERT_SEVERITY_OF = { SEV1: 'critical', SEV2: 'error', SEV3: 'warning', SEV4: 'info' } as const satisfies Record<Severity, AlertSeverity>;

const MAX_ATTEMPTS = 3;
/** Deadlock victim, serialization failure: the transaction was rolled back and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/** Thrown when the routing key matches no live source: the request is refused and nothing was written. */
export class UnknownRoutingKey extends Error {
  constructor() {
    super('unknown routing key');
  }
}

export interface IngestDeps {
  db: Database;
  dailyWriteQuota: number;
  /** Spends `points` of the source's per-minute budget; throws (429) when it is used up. */
  consumeSourceBudget(sourceId: string, points: number): Promise<void>;
}

/**
 * Runs each event in a transaction of its own (so a batch from Alertmanager never holds one
 * alert's lock while waiting for another's, and cannot deadlock with a batch in another order).
 * Each transaction finds the source by the key's digest through the narrow RLS policy (in its
 * opening round trip), compares the digests in constant time, switches to the source's tenant and
 * applies the event. The source's rate budget is spent in the first transaction, before anything
 * is written.
 */
export async function ingestEvents(deps: IngestDeps, ctx: RequestContext, keyHash: string, events: readonly AlertEvent[]): Promise<void> {
  let budgetSpent = false;
  // `addOnly`: a trigger tries the common case first, an alert already open, with the COMMIT in
  // the same round trip as its statements; `added` says (once committed) whether it found one.
  const attempt = (event: AlertEvent | null, addOnly: boolean): Promise<{ added: Promise<boolean> | null }> =>
    withUnscopedTx(deps.db, sourceByKeyHash(keyHash), async (tx, opened) => {
      const found = sourceFound(opened);
      if (!found?.key_hash || !digestsMatch(found.key_hash, keyHash)) throw new UnknownRoutingKey();
      if (!budgetSpent) await deps.consumeSourceBudget(found.id, Math.max(1, events.length));
      budgetSpent = true;
      if (event === null) return { added: null };
      // Not awaited: it leaves in the same write as the event's first statements and runs first; a
      // failure fails the statements behind it and the commit (Queryable's pipelining contract).
      enterTenant(tx, found.tenant_id).catch(() => undefined);
      ctx.tenant = { id: found.tenant_id, role: null };
      const scope = { tx, ctx, tenantId: found.tenant_id, source: found, dailyWriteQuota: deps.dailyWriteQuota };
      if (addOnly && event.action === 'trigger') {
        // Returned unawaited (wrapped, so the runner does not wait for it): COMMIT follows at once.
        const added = addToOpenAlert(tx, incomingAlert(scope, event), utcDay(ctx.now));
        added.catch(() => undefined);
        touchSource(scope);
        return { added };
      }
      const outcome = await applyEvent(scope, event);
      recordAlertOutcome(tx, outcome);
      return { added: null };
    });
  const apply = async (event: AlertEvent | null): Promise<void> => {
    if (event?.action === 'trigger') {
      const { added } = await attempt(event, true);
      if (added !== null && (await added)) {
        recordCommittedAlertOutcome('deduplicated');
        return;
      }
    }
    await attempt(event, false);
  };
  const run = async (event: AlertEvent | null): Promise<void> => {
    // A deadlock victim was rolled back whole, so running it again is safe; monitoring retries
    // too, but an answer of 202 now is better than a 409 it may not retry.
    for (let tries = 1; ; tries += 1) {
      try {
        await apply(event);
        return;
      } catch (err) {
        if (tries >= MAX_ATTEMPTS || !RETRYABLE.has((err as { code?: unknown } | null)?.code as string)) throw err;
      }
    }
  };
  if (events.length === 0) await run(null);
  for (const event of events) await run(event);
}

type Trigger = Extract<AlertEvent, { action: 'trigger' }>;

function incomingAlert(scope: AlertScope, event: Trigger): IncomingAlert {
  const severity = event.severity ?? ALERT_SEVERITY_OF[scope.source.default_severity];
  return { tenantId: scope.tenantId, sourceId: scope.source.id, ...event, severity, now: scope.ctx.now };
}

/** Stamps the source's `last_event_at`; issued right behind the statement that locks the event's alert. */
function touchSource(scope: AlertScope): void {
  touchAlertSource(scope.tx, scope.tenantId, scope.source.id, scope.ctx.now).catch(() => undefined);
}

/**
 * PagerDuty's semantics: a trigger adds to the open alert with its dedup key or opens a new one
 * (which opens or joins an incident); acknowledge and resolve move the open alert and tell its
 * incident. An acknowledge or resolve with no open alert changes nothing. Events that change no
 * incident are metered as `alertEvents`. The source's `last_event_at` is stamped right behind the
 * statement that locks the alert, in the same round trip.
 */
async function applyEvent(scope: AlertScope, event: AlertEvent): Promise<AlertOutcome> {
  const { tx, ctx, tenantId, source } = scope;
  const touch = (): void => {
    touchSource(scope);
  };
  if (event.action === 'trigger') {
    // A trigger that only adds to an open alert is counted as an alert event by the same statement.
    const triggered = triggerAlert(tx, incomingAlert(scope, event), utcDay(ctx.now));
    touch();
    const alert = await triggered;
    if (!alert.inserted) return 'deduplicated';
    const incidentId = await attachNewAlert(scope, alert);
    await recordAlertEvent(scope, 'alert.triggered', { ...alert, incident_id: incidentId });
    return 'new';
  }
  const found = findOpenAlert(tx, tenantId, source.id, event.dedupKey);
  touch();
  const open = await found;
  if (!open) return 'ignored';
  if (event.action === 'acknowledge' && open.status === 'acknowledged') {
    await countAlertEvent(tx, tenantId, open.id, ctx.now);
    await countAlertEventUsage(tx, tenantId, utcDay(ctx.now));
    return 'deduplicated';
  }
  const moved = await moveAlert(tx, tenantId, open.id, event.action === 'acknowledge' ? 'acknowledged' : 'resolved', ctx.now);
  const wroteIncident = event.action === 'acknowledge' ? await acknowledgeAlertIncident(scope, moved) : await resolveAlertIncident(scope, moved);
  if (!wroteIncident) await countAlertEventUsage(tx, tenantId, utcDay(ctx.now));
  await recordAlertEvent(scope, event.action === 'acknowledge' ? 'alert.acknowledged' : 'alert.resolved', moved);
  return event.action === 'acknowledge' ? 'acknowledged' : 'resolved';
}
