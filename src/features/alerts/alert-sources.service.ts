import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { assertIfMatch, type IfMatch } from '../../platform/http/etag.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { enforce } from '../../platform/rbac/authorize.js';
import {
  findAlertSource,
  insertAlertSource,
  listAlertSourceRows,
  updateAlertSource,
  type AlertSourcePatch,
  type AlertSourceRow,
} from './alert-sources.queries.js';
import type { CreateAlertSourceInput, UpdateAlertSourceInput } from './alert-sources.schema.js';
import { presentAlertSource } from './alerts.presenters.js';
import { generateRoutingKey } from './routing-key.js';

/** Loads a live source of the tenant (404 otherwise), then authorises: the order of every id route. */
async function loadAlertSource(tx: Queryable, ctx: RequestContext, tenantId: string, sourceId: string): Promise<AlertSourceRow> {
  const row = await findAlertSource(tx, tenantId, sourceId, true);
  if (!row) throw new AppError('NOT_FOUND');
  enforce('alert_sources.manage', { tenantId }, ctx);
  return row;
}

export async function listAlertSources(tx: Queryable, tenantId: string, query: { limit: number; cursor?: string | undefined }) {
  const page = pageRequest(query);
  const rows = await listAlertSourceRows(tx, tenantId, page);
  return pageOf(rows, page, presentAlertSource);
}

/** Creates a source; its routing key is in this answer only (the database keeps its digest). */
export async function createAlertSource(tx: Queryable, ctx: RequestContext, tenantId: string, input: CreateAlertSourceInput) {
  const { key, hash } = generateRoutingKey();
  const row = await insertAlertSource(tx, {
    tenantId,
    name: input.name,
    kind: input.kind,
    defaultSeverity: input.defaultSeverity ?? 'SEV3',
    autoResolve: input.autoResolve ?? true,
    groupingWindowSeconds: input.groupingWindowSeconds ?? 0,
    keyHash: hash,
    now: ctx.now,
  });
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'alert_source.created',
    target: { type: 'alert_source', id: row.id },
    metadata: { name: row.name, kind: row.kind },
  });
  return { ...presentAlertSource(row), routingKey: key };
}

export async function patchAlertSource(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  sourceId: string,
  input: UpdateAlertSourceInput,
  ifMatch: IfMatch,
): Promise<AlertSourceRow> {
  const row = await loadAlertSource(tx, ctx, tenantId, sourceId);
  assertIfMatch(ifMatch, row.version);
  const patch: AlertSourcePatch = {};
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  const set = <K extends keyof AlertSourcePatch>(column: K, field: string, to: AlertSourcePatch[K] | undefined, from: AlertSourcePatch[K]): void => {
    if (to === undefined || to === from) return;
    patch[column] = to;
    changes[field] = { from, to };
  };
  set('name', 'name', input.name, row.name);
  set('default_severity', 'defaultSeverity', input.defaultSeverity, row.default_severity);
  set('auto_resolve', 'autoResolve', input.autoResolve, row.auto_resolve);
  set('grouping_window_seconds', 'groupingWindowSeconds', input.groupingWindowSeconds, row.grouping_window_seconds);
  if (Object.keys(changes).length === 0) return row;
  const updated = await updateAlertSource(tx, tenantId, sourceId, patch, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, {
    action: 'alert_source.updated',
    target: { type: 'alert_source', id: sourceId },
    metadata: { changes, version: updated.version },
  });
  return updated;
}

/** A new routing key; the old one stops working when this commits. */
export async function rotateAlertSourceKey(tx: Queryable, ctx: RequestContext, tenantId: string, sourceId: string) {
  await loadAlertSource(tx, ctx, tenantId, sourceId);
  const { key, hash } = generateRoutingKey();
  const updated = await updateAlertSource(tx, tenantId, sourceId, { key_hash: hash }, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, { action: 'alert_source.key_rotated', target: { type: 'alert_source', id: sourceId }, metadata: { version: updated.version } });
  return { routingKey: key };
}

/** Deletes a source: its key stops working, its alerts (and their incidents) stay. */
export async function deleteAlertSource(tx: Queryable, ctx: RequestContext, tenantId: string, sourceId: string): Promise<void> {
  const row = await loadAlertSource(tx, ctx, tenantId, sourceId);
  await updateAlertSource(tx, tenantId, sourceId, { key_hash: null, deleted_at: ctx.now }, ctx.now);
  await recordAuditEvent(tx, ctx, tenantId, { action: 'alert_source.deleted', target: { type: 'alert_source', id: sourceId }, metadata: { name: row.name } });
}
