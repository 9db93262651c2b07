import type { Queryable } from '../../platform/db/database.js';
import type { Cursor } from '../../platform/http/pagination.js';
import type { TaskStatus } from './tasks.schema.js';

export interface TaskRow {
  id: string;
  incident_id: string;
  title: string;
  status: TaskStatus;
  assignee_id: string | null;
  due_at: Date | null;
  created_at: Date;
  updated_at: Date;
  version: number;
}

const COLUMNS = 'id, incident_id, title, status, assignee_id, due_at, created_at, updated_at, version';

export async function insertTask(
  tx: Queryable,
  t: { tenantId: string; incidentId: string; title: string; assigneeId: string | null; dueAt: string | null; now: Date },
): Promise<TaskRow> {
  const { rows } = await tx.query<TaskRow>(
    `INSERT INTO tasks (tenant_id, incident_id, title, assignee_id, due_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${COLUMNS}`,
    [t.tenantId, t.incidentId, t.title, t.assigneeId, t.dueAt, t.now],
  );
  return rows[0] as TaskRow;
}

/** A task of this incident only: a task id under another incident is not found. Locked for the change. */
export async function findTaskForUpdate(tx: Queryable, tenantId: string, incidentId: string, taskId: string): Promise<TaskRow | null> {
  const { rows } = await tx.query<TaskRow>(
    `SELECT ${COLUMNS} FROM tasks WHERE tenant_id = $1 AND incident_id = $2 AND id = $3 FOR UPDATE`,
    [tenantId, incidentId, taskId],
  );
  return rows[0] ?? null;
}

export interface TaskPatch {
  title?: string;
  status?: TaskStatus;
  assignee_id?: string | null;
  due_at?: string | null;
}

const PATCHABLE: readonly (keyof TaskPatch)[] = ['title', 'status', 'assignee_id', 'due_at'];

export async function updateTask(tx: Queryable, tenantId: string, taskId: string, patch: TaskPatch, now: Date): Promise<TaskRow> {
  const sets: string[] = [];
  const params: unknown[] = [tenantId, taskId, now];
  for (const column of PATCHABLE) {
    if (!(column in patch)) continue;
    params.push(patch[column]);
    sets.push(`${column} = $${params.length}`);
  }
  const { rows } = await tx.query<TaskRow>(
    `UPDATE tasks SET ${[...sets, 'updated_at = $3', 'version = version + 1'].join(', ')}
      WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    params,
  );
  return rows[0] as TaskRow;
}

/** A page of the incident's tasks, newest first, keyset on (created_at, id). */
export async function listTaskRows(tx: Queryable, tenantId: string, incidentId: string, cursor: Cursor | null, limit: number): Promise<TaskRow[]> {
  const { rows } = await tx.query<TaskRow>(
    `SELECT ${COLUMNS} FROM tasks
      WHERE tenant_id = $1 AND incident_id = $2
        AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    [tenantId, incidentId, cursor?.createdAt ?? null, cursor?.id ?? null, limit],
  );
  return rows;
}
