import type { IncidentRow } from './incidents.queries.js';
import { allowedTransitions } from './incidents.status.js';
import type { StatusUpdateRow } from './status-updates.queries.js';
import type { TaskRow } from './tasks.queries.js';
import type { TimelineEventRow } from './timeline.queries.js';

/** The API shapes (openapi.yaml components) of the incident feature's rows. */
function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function presentIncident(r: IncidentRow) {
  return {
    id: r.id,
    number: r.number,
    title: r.title,
    description: r.description,
    severity: r.severity,
    status: r.status,
    allowedTransitions: allowedTransitions(r.status),
    commanderId: r.commander_id,
    createdBy: { type: r.created_by_type, id: r.created_by_id },
    acknowledgedAt: iso(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by_type === null ? null : { type: r.acknowledged_by_type, id: r.acknowledged_by_id },
    startedAt: r.started_at.toISOString(),
    identifiedAt: iso(r.identified_at),
    monitoringAt: iso(r.monitoring_at),
    resolvedAt: iso(r.resolved_at),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
  };
}

export function presentTimelineEvent(r: TimelineEventRow) {
  return {
    id: r.id,
    type: r.type,
    message: r.message,
    occurredAt: r.occurred_at.toISOString(),
    actor: { type: r.actor_type, id: r.actor_id },
    createdAt: r.created_at.toISOString(),
  };
}

export function presentTask(r: TaskRow) {
  return {
    id: r.id,
    incidentId: r.incident_id,
    title: r.title,
    status: r.status,
    assigneeId: r.assignee_id,
    dueAt: iso(r.due_at),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
  };
}

export function presentStatusUpdate(r: StatusUpdateRow) {
  return {
    id: r.id,
    incidentId: r.incident_id,
    message: r.message,
    status: r.status,
    visibility: r.visibility,
    actor: { type: r.actor_type, id: r.actor_id },
    createdAt: r.created_at.toISOString(),
  };
}
