import type { Counter, Histogram, UpDownCounter } from '@opentelemetry/api';
import type { Queryable } from '../db/database.js';
import { perMeterProvider } from './instruments.js';

/**
 * The product's own metrics. Names are listed in the README (Observability). Attributes are
 * low-cardinality enums only: never tenant or user ids, emails or keys.
 */
export const METRIC = {
  loginAttempts: 'incident_tracker.auth.login.attempts',
  lockouts: 'incident_tracker.auth.lockouts',
  apiKeyAuthentications: 'incident_tracker.api_key.authentications',
  quotaRejections: 'incident_tracker.quota.rejections',
  incidentsCreated: 'incident_tracker.incidents.created',
  incidentsResolved: 'incident_tracker.incidents.resolved',
  incidentTimeToResolve: 'incident_tracker.incident.time_to_resolve',
  auditEvents: 'incident_tracker.audit.events',
  alertsReceived: 'incident_tracker.alerts.received',
  eventsWritten: 'incident_tracker.events.written',
  eventStreamsOpen: 'incident_tracker.event_streams.open',
} as const;

/**
 * What became of one received alert event: a new alert, one added to an open alert
 * (`deduplicated`), an alert acknowledged or resolved, an acknowledge or resolve with no open
 * alert (`ignored`), or a refusal (`rate-limited`, `invalid`: a bad body or routing key).
 */
export type AlertOutcome = 'new' | 'deduplicated' | 'acknowledged' | 'resolved' | 'ignored' | 'rate-limited' | 'invalid';

export type ApiKeyOutcome = 'succeeded' | 'malformed' | 'invalid' | 'revoked' | 'expired';

interface Instruments {
  loginAttempts: Counter;
  lockouts: Counter;
  apiKeyAuthentications: Counter;
  quotaRejections: Counter;
  incidentsCreated: Counter;
  incidentsResolved: Counter;
  incidentTimeToResolve: Histogram;
  auditEvents: Counter;
  alertsReceived: Counter;
  eventsWritten: Counter;
  eventStreamsOpen: UpDownCounter;
}

// Minutes to a week: incidents are resolved in minutes to days, not milliseconds.
const TIME_TO_RESOLVE_BUCKETS_S = [60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 259_200, 604_800];

/** The instruments of the currently registered meter provider (see `perMeterProvider`). */
const instruments = perMeterProvider(
  'incident-tracker-api',
  (meter): Instruments => ({
    loginAttempts: meter.createCounter(METRIC.loginAttempts, { description: 'Password logins by outcome (succeeded, failed).', unit: '{attempt}' }),
    lockouts: meter.createCounter(METRIC.lockouts, { description: 'Login lockouts started (10 consecutive failures for one email).', unit: '{lockout}' }),
    apiKeyAuthentications: meter.createCounter(METRIC.apiKeyAuthentications, {
      description: 'API key checks by outcome (succeeded, malformed, invalid, revoked, expired).',
      unit: '{authentication}',
    }),
    quotaRejections: meter.createCounter(METRIC.quotaRejections, { description: 'Incident writes refused with 429 QUOTA_EXCEEDED.', unit: '{request}' }),
    incidentsCreated: meter.createCounter(METRIC.incidentsCreated, { description: 'Incidents created.', unit: '{incident}' }),
    incidentsResolved: meter.createCounter(METRIC.incidentsResolved, { description: 'Incidents moved to resolved.', unit: '{incident}' }),
    incidentTimeToResolve: meter.createHistogram(METRIC.incidentTimeToResolve, {
      description: 'Time from an incident starting to its resolution.',
      unit: 's',
      advice: { explicitBucketBoundaries: TIME_TO_RESOLVE_BUCKETS_S },
    }),
    auditEvents: meter.createCounter(METRIC.auditEvents, { description: 'Audit rows written, by action.', unit: '{event}' }),
    alertsReceived: meter.createCounter(METRIC.alertsReceived, {
      description: 'Alert events received, by outcome (new, deduplicated, acknowledged, resolved, ignored, rate-limited, invalid).',
      unit: '{event}',
    }),
    eventsWritten: meter.createCounter(METRIC.eventsWritten, { description: 'Events committed to the event record, by type.', unit: '{event}' }),
    eventStreamsOpen: meter.createUpDownCounter(METRIC.eventStreamsOpen, { description: 'Open GET /v1/events/stream connections on this node.', unit: '{stream}' }),
  }),
);

/** Counts one API key check. Recorded at once: a refused key rolls its transaction back. */
export function recordApiKeyAuthentication(outcome: ApiKeyOutcome): void {
  instruments().apiKeyAuthentications.add(1, { outcome });
}

export function recordQuotaRejection(): void {
  instruments().quotaRejections.add(1);
}

/**
 * Business metrics count committed changes only: each is recorded once its transaction commits,
 * so a write refused afterwards (quota, a failed idempotency completion) is not counted.
 */
export function countAuditEvent(tx: Queryable, action: string): void {
  tx.afterCommit(() => {
    instruments().auditEvents.add(1, { action });
  });
}

export function countLoginAttempt(tx: Queryable, outcome: 'succeeded' | 'failed'): void {
  tx.afterCommit(() => {
    instruments().loginAttempts.add(1, { outcome });
  });
}

export function countLockout(tx: Queryable): void {
  tx.afterCommit(() => {
    instruments().lockouts.add(1);
  });
}

export function countIncidentCreated(tx: Queryable): void {
  tx.afterCommit(() => {
    instruments().incidentsCreated.add(1);
  });
}

/** Counts a refused alert event (rate-limited or invalid) at once: nothing was written. */
export function recordAlertRefusal(outcome: 'rate-limited' | 'invalid', events = 1): void {
  instruments().alertsReceived.add(events, { outcome });
}

/** Counts an alert event whose transaction has committed. */
export function recordCommittedAlertOutcome(outcome: AlertOutcome): void {
  instruments().alertsReceived.add(1, { outcome });
}

/** Counts an applied alert event once its transaction commits. */
export function recordAlertOutcome(tx: Queryable, outcome: AlertOutcome): void {
  tx.afterCommit(() => {
    instruments().alertsReceived.add(1, { outcome });
  });
}

/** Counts a resolution and its time to resolve once the transaction commits. */
export function countIncidentResolved(tx: Queryable, startedAt: Date, resolvedAt: Date): void {
  tx.afterCommit(() => {
    const m = instruments();
    m.incidentsResolved.add(1);
    m.incidentTimeToResolve.record(Math.max(0, (resolvedAt.getTime() - startedAt.getTime()) / 1000));
  });
}

/** Counts an event once its transaction commits (a rolled-back change has no event). */
export function countEventWritten(tx: Queryable, type: string): void {
  tx.afterCommit(() => {
    instruments().eventsWritten.add(1, { type });
  });
}

/** One event stream opened (+1) or closed (-1) on this node. */
export function countEventStream(delta: 1 | -1): void {
  instruments().eventStreamsOpen.add(delta);
}
