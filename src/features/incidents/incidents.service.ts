import { chainAuditRow, prepareAuditChain, recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { assertIfMatch, etagOf, type IfMatch } from '../../platform/http/etag.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import type { Action } from '../../platform/rbac/roles.js';
import { countIncidentCreated, countIncidentResolved } from '../../platform/telemetry/metrics.js';
import { numberEvent, recordEvent } from '../events/events.record.js';
import {
  findIncident,
  insertIncident,
  isTenantMember,
  lockIncidentAndChain,
  listIncidentRows,
  nextIncidentNumber,
  updateIncident,
  updateIncidentWithRecords,
  type ActorRef,
  type ChangeRecords,
  type IncidentPatch,
  type IncidentRow,
} from './incidents.queries.js';
import { presentIncident } from './incidents.presenters.js';
import type { CreateIncidentInput, ListIncidentsQuery, UpdateIncidentInput } from './incidents.schema.js';
import { allowedTransitions, canTransition, transitionStamps } from './incidents.status.js';
import { appendTimelineEvent } from './timeline.queries.js';
import type { TimelineEventType } from './timeline.schema.js';

export interface Writer {
  type: 'user' | 'service_account';
  id: string;
}

/** The user or service account acting; tenant routes never run for anonymous callers. */
export function writerOf(ctx: RequestContext): Writer {
  const p = ctx.principal;
  if (p.type === 'user') return { type: 'user', id: p.userId };
  if (p.type === 'service_account') return { type: 'service_account', id: p.serviceAccountId };
  throw new AppError('AUTH_REQUIRED');
}

/**
 * Loads an incident of the tenant and only then authorises `action`: another tenant's incident
 * and a random id both answer the same 404, and a 403 is given only for an incident the caller
 * can already see.
 */
export async function loadIncident(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  incidentId: string,
  action: Action,
  opts: { forUpdate?: boolean } = {},
): Promise<IncidentRow> {
  // A locked incident is about to change, and every change is audited: the chain's lock and head
  // are taken in the same statement as the row, after its row lock (the order every writer uses).
  const row = opts.forUpdate ? await lockIncidentAndChain(tx, tenantId, incidentId) : await findIncident(tx, tenantId, incidentId);
  if (!row) throw new AppError('NOT_FOUND');
  enforce(action, { tenantId }, ctx);
  return row;
}

/** Commanders and assignees must be members of the tenant; the field is named in the 400. */
export async function assertMember(tx: Queryable, tenantId: string, userId: string, field: string): Promise<void> {
  if (!(await isTenantMember(tx, tenantId, userId))) {
    throw new AppError('VALIDATION_FAILED', { details: { fields: [{ path: field, message: 'Must be a member of the tenant.' }] } });
  }
}

export function incidentResult(row: IncidentRow, status: number, extraHeaders: Record<string, string> = {}) {
  return { status, body: presentIncident(row), headers: { ETag: etagOf(row.version), ...extraHeaders } };
}

/**
 * A change issued but not answered yet: the row it leaves arrives together with the answers of
 * its timeline and audit writes (`row` settles once all of them are answered).
 */
export interface PendingChange {
  row: Promise<IncidentRow>;
  /** The incident as the change leaves it, known before the UPDATE answers (for the event). */
  after: IncidentRow;
  changes: Record<string, FieldChange>;
}

export async function createIncident(tx: Queryable, ctx: RequestContext, tenantId: string, input: CreateIncidentInput): Promise<IncidentRow> {
  const commanderId = input.commanderId ?? null;
  if (commanderId !== null) await assertMember(tx, tenantId, commanderId, 'commanderId');
  const number = await nextIncidentNumber(tx, tenantId);
  const row = await insertIncident(tx, {
    tenantId,
    number,
    title: input.title,
    description: input.description ?? null,
    severity: input.severity,
    commanderId,
    createdBy: writerOf(ctx),
    now: ctx.now,
  });
  await Promise.all([
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'incident.created',
      target: { type: 'incident', id: row.id },
      metadata: { number: row.number, severity: row.severity, commanderId: row.commander_id },
    }),
    recordEvent(tx, ctx, tenantId, { type: 'incident.created', incidentId: row.id, data: { incident: presentIncident(row) } }),
  ]);
  countIncidentCreated(tx);
  return row;
}

export async function listIncidents(tx: Queryable, tenantId: string, query: ListIncidentsQuery) {
  const page = pageRequest(query, query);
  return pageOf(await listIncidentRows(tx, tenantId, query, page), page, presentIncident);
}

export async function patchIncident(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  incidentId: string,
  input: UpdateIncidentInput,
  ifMatch: IfMatch,
): Promise<PendingChange> {
  const row = await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write', { forUpdate: true });
  assertIfMatch(ifMatch, row.version);
  return changeIncident(tx, ctx, tenantId, row, input);
}

type FieldChange = { from: unknown; to: unknown };

/**
 * Applies a change to a locked incident: validates it, moves the status through the state
 * machine (stamping its timestamp), writes the automatic timeline events and one
 * `incident.updated` audit row, and bumps `version`. Fields equal to their current value are
 * not changes; a request that changes nothing leaves the incident (and its version) as it was.
 * Every decision is made before the first write is issued; the writes leave together and are
 * answered together (see PendingChange). The change's event (`incident.updated`, or
 * `incident.status_changed` when the status moved) leaves with them, unless the caller records
 * the mutation's one event itself (`event: false`, a status update).
 */
export async function changeIncident(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  row: IncidentRow,
  input: UpdateIncidentInput,
  opts: { event?: boolean; by?: ActorRef } = {},
): Promise<PendingChange> {
  const by = opts.by ?? writerOf(ctx);
  if (input.commanderId !== undefined && input.commanderId !== null) await assertMember(tx, tenantId, input.commanderId, 'commanderId');
  if (input.status !== undefined && !canTransition(row.status, input.status)) {
    throw new AppError('INVALID_STATUS_TRANSITION', {
      message: `An incident cannot move from ${row.status} to ${input.status}.`,
      details: { from: row.status, to: input.status, allowedTransitions: allowedTransitions(row.status) },
    });
  }

  const patch: IncidentPatch = {};
  const changes: Record<string, FieldChange> = {};
  if (input.title !== undefined && input.title !== row.title) {
    patch.title = input.title;
    changes.title = { from: row.title, to: input.title };
  }
  if (input.description !== undefined && input.description !== row.description) {
    patch.description = input.description;
    changes.description = { from: row.description, to: input.description };
  }
  if (input.severity !== undefined && input.severity !== row.severity) {
    patch.severity = input.severity;
    changes.severity = { from: row.severity, to: input.severity };
  }
  if (input.commanderId !== undefined && input.commanderId !== row.commander_id) {
    patch.commander_id = input.commanderId;
    changes.commanderId = { from: row.commander_id, to: input.commanderId };
  }
  if (input.status !== undefined) {
    Object.assign(patch, { status: input.status }, transitionStamps(input.status, ctx.now));
    changes.status = { from: row.status, to: input.status };
    // Leaving investigating is a response to the incident: it acknowledges it, unless it is the
    // incident's own alerts resolving it (monitoring clearing is nobody's acknowledgement).
    if (row.status === 'investigating' && row.acknowledged_at === null && by.type !== 'alert_source') {
      Object.assign(patch, acknowledgementOf(by, ctx.now));
      changes.acknowledgedAt = { from: null, to: ctx.now.toISOString() };
    }
  }
  if (Object.keys(changes).length === 0) return { row: Promise.resolve(row), after: row, changes };
  // What the UPDATE will return: the row is locked, so only this change moves it.
  const after: IncidentRow = { ...row, ...patch, updated_at: ctx.now, version: row.version + 1 };

  // The UPDATE, its timeline events, the audit row and the event leave as one statement; the row
  // is locked, so the audited version is the locked one plus one, and the head is locked too (it
  // was read with the row), so chaining and numbering take no round trip.
  const timeline: ChangeRecords['timeline'] = [];
  if (input.status !== undefined && changes.status) {
    timeline.push({ type: 'status_changed', message: `Status changed from ${row.status} to ${input.status}.` });
  }
  if (input.severity !== undefined && changes.severity) {
    timeline.push({ type: 'severity_changed', message: `Severity changed from ${row.severity} to ${input.severity}.` });
  }
  // An alert source acting is named as the actor; a user or key is the request's principal.
  const actor = by.type === 'alert_source' ? { actor: by } : {};
  const head = await prepareAuditChain(tx, tenantId);
  const audit = chainAuditRow(head, tx, ctx, tenantId, {
    action: 'incident.updated',
    target: { type: 'incident', id: row.id },
    metadata: { changes, version: row.version + 1 },
    ...actor,
  });
  const event =
    opts.event === false
      ? null
      : numberEvent(head, tx, ctx, tenantId, {
          type: changes.status ? 'incident.status_changed' : 'incident.updated',
          incidentId: row.id,
          data: { incident: presentIncident(after), changes },
          ...actor,
        });
  // Issued here, before this function returns: the caller's COMMIT goes behind it.
  const updated = updateIncidentWithRecords(tx, tenantId, row.id, patch, ctx.now, { timeline, by, audit, event, head });
  updated.catch(() => undefined);
  if (input.status === 'resolved') countIncidentResolved(tx, row.started_at, ctx.now);
  return { row: updated, after, changes };
}

/**
 * Appends an event the server writes itself (status and severity changes, tasks created and
 * completed, status updates posted), stamped now and attributed to the caller.
 */
export function appendSystemEvent(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  incidentId: string,
  type: Exclude<TimelineEventType, 'note'>,
  message: string,
  by: ActorRef = writerOf(ctx),
): Promise<void> {
  return appendTimelineEvent(tx, { tenantId, incidentId, type, message, occurredAt: ctx.now, actor: by, now: ctx.now });
}

/** The columns that record an acknowledgement. */
export function acknowledgementOf(by: ActorRef, now: Date): Pick<IncidentPatch, 'acknowledged_at' | 'acknowledged_by_type' | 'acknowledged_by_id'> {
  return { acknowledged_at: now, acknowledged_by_type: by.type, acknowledged_by_id: by.id };
}

/**
 * Acknowledges a locked incident once: the first acknowledgement stamps `acknowledgedAt` and
 * `acknowledgedBy`, writes an `acknowledged` timeline event, an `incident.acknowledged` audit row
 * and event, and bumps the version; an acknowledged incident is left alone (null). An `implicit`
 * acknowledgement (a status update's) is part of another mutation, whose own audit row and event
 * record it, so it writes neither.
 */
export async function acknowledgeLockedIncident(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  row: IncidentRow,
  by: ActorRef,
  note: string,
  opts: { implicit?: boolean } = {},
): Promise<IncidentRow | null> {
  if (row.acknowledged_at !== null) return null;
  const [updated] = await Promise.all([
    updateIncident(tx, tenantId, row.id, acknowledgementOf(by, ctx.now), ctx.now),
    appendSystemEvent(tx, ctx, tenantId, row.id, 'acknowledged', note, by),
  ]);
  if (opts.implicit) return updated;
  const actor = by.type === 'alert_source' ? { actor: by } : {};
  await Promise.all([
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'incident.acknowledged',
      target: { type: 'incident', id: row.id },
      metadata: { number: row.number, version: updated.version },
      ...actor,
    }),
    recordEvent(tx, ctx, tenantId, {
      type: 'incident.acknowledged',
      incidentId: row.id,
      data: { incident: presentIncident(updated), changes: { acknowledgedAt: { from: null, to: ctx.now.toISOString() } } },
      ...actor,
    }),
  ]);
  return updated;
}

/** POST /v1/incidents/:incidentId/acknowledge: idempotent (a second call changes nothing). */
export async function acknowledgeIncident(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string): Promise<IncidentRow> {
  const row = await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write', { forUpdate: true });
  const by = writerOf(ctx);
  return (await acknowledgeLockedIncident(tx, ctx, tenantId, row, by, 'Incident acknowledged.')) ?? row;
}
