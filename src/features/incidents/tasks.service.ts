import { recordAuditEvent } from '../../platform/audit/audit.js';
import type { Queryable } from '../../platform/db/database.js';
import type { RequestContext } from '../../platform/http/context.js';
import { AppError } from '../../platform/http/errors.js';
import { assertIfMatch, type IfMatch } from '../../platform/http/etag.js';
import { pageOf, pageRequest } from '../../platform/http/pagination.js';
import { recordEvent } from '../events/events.record.js';
import { presentTask } from './incidents.presenters.js';
import type { PageQuery } from './incidents.schema.js';
import { appendSystemEvent, assertMember, loadIncident } from './incidents.service.js';
import { findTaskForUpdate, insertTask, listTaskRows, updateTask, type TaskPatch, type TaskRow } from './tasks.queries.js';
import type { CreateTaskInput, UpdateTaskInput } from './tasks.schema.js';

export async function listTasks(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, query: PageQuery) {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.read');
  const page = pageRequest(query, { incidentId });
  return pageOf(await listTaskRows(tx, tenantId, incidentId, page), page, presentTask);
}

/** Creates an open task, its `task_created` timeline event and its audit row, in one transaction. */
export async function createTask(tx: Queryable, ctx: RequestContext, tenantId: string, incidentId: string, input: CreateTaskInput): Promise<TaskRow> {
  await loadIncident(tx, ctx, tenantId, incidentId, 'incidents.write');
  const assigneeId = input.assigneeId ?? null;
  if (assigneeId !== null) await assertMember(tx, tenantId, assigneeId, 'assigneeId');
  const row = await insertTask(tx, { tenantId, incidentId, title: input.title, assigneeId, dueAt: input.dueAt ?? null, now: ctx.now });
  await Promise.all([
    appendSystemEvent(tx, ctx, tenantId, incidentId, 'task_created', `Task created: ${row.title}`),
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'task.created',
      target: { type: 'task', id: row.id },
      metadata: { incidentId, assigneeId },
    }),
    recordEvent(tx, ctx, tenantId, { type: 'task.created', incidentId, data: { task: presentTask(row) } }),
  ]);
  return row;
}

function sameInstant(a: Date | null, b: string | null): boolean {
  return a === null || b === null ? a === b : a.getTime() === new Date(b).getTime();
}

/**
 * Changes a task of this incident (a task under another incident is 404). Moving it to `done`
 * writes a `task_completed` event; fields equal to their current value are not changes.
 */
export async function patchTask(
  tx: Queryable,
  ctx: RequestContext,
  tenantId: string,
  ids: { incidentId: string; taskId: string },
  input: UpdateTaskInput,
  ifMatch: IfMatch,
): Promise<TaskRow> {
  const task = await findTaskForUpdate(tx, tenantId, ids.incidentId, ids.taskId);
  if (!task) throw new AppError('NOT_FOUND');
  await loadIncident(tx, ctx, tenantId, ids.incidentId, 'incidents.write');
  assertIfMatch(ifMatch, task.version);
  if (input.assigneeId !== undefined && input.assigneeId !== null) await assertMember(tx, tenantId, input.assigneeId, 'assigneeId');

  const patch: TaskPatch = {};
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  if (input.title !== undefined && input.title !== task.title) {
    patch.title = input.title;
    changes.title = { from: task.title, to: input.title };
  }
  if (input.status !== undefined && input.status !== task.status) {
    patch.status = input.status;
    changes.status = { from: task.status, to: input.status };
  }
  if (input.assigneeId !== undefined && input.assigneeId !== task.assignee_id) {
    patch.assignee_id = input.assigneeId;
    changes.assigneeId = { from: task.assignee_id, to: input.assigneeId };
  }
  if (input.dueAt !== undefined && !sameInstant(task.due_at, input.dueAt)) {
    patch.due_at = input.dueAt;
    changes.dueAt = { from: task.due_at?.toISOString() ?? null, to: input.dueAt === null ? null : new Date(input.dueAt).toISOString() };
  }
  if (Object.keys(changes).length === 0) return task;

  const updated = await updateTask(tx, tenantId, task.id, patch, ctx.now);
  await Promise.all([
    patch.status === 'done' ? appendSystemEvent(tx, ctx, tenantId, ids.incidentId, 'task_completed', `Task completed: ${updated.title}`) : undefined,
    recordAuditEvent(tx, ctx, tenantId, {
      action: 'task.updated',
      target: { type: 'task', id: task.id },
      metadata: { incidentId: ids.incidentId, changes, version: updated.version },
    }),
    recordEvent(tx, ctx, tenantId, { type: 'task.updated', incidentId: ids.incidentId, data: { task: presentTask(updated), changes } }),
  ]);
  return updated;
}
