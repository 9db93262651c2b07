import type { AlertSourceRow } from './alert-sources.queries.js';
import type { AlertRow } from './alerts.queries.js';

/** The API shapes (openapi.yaml components AlertSource and Alert). */
function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function presentAlertSource(r: AlertSourceRow) {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    defaultSeverity: r.default_severity,
    autoResolve: r.auto_resolve,
    groupingWindowSeconds: r.grouping_window_seconds,
    lastEventAt: iso(r.last_event_at),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
  };
}

export function presentAlert(r: AlertRow) {
  return {
    id: r.id,
    sourceId: r.source_id,
    dedupKey: r.dedup_key,
    status: r.status,
    summary: r.summary,
    severity: r.severity,
    source: r.source,
    details: r.details,
    incidentId: r.incident_id,
    eventCount: r.event_count,
    firstSeenAt: r.first_seen_at.toISOString(),
    lastSeenAt: r.last_seen_at.toISOString(),
    acknowledgedAt: iso(r.acknowledged_at),
    resolvedAt: iso(r.resolved_at),
  };
}
