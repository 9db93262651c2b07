import type { Queryable } from '../../platform/db/database.js';
import { columnsOf, maybeRow, oneRow, patchStatement } from '../../platform/db/sql.js';
import { keyset, keysetParams, type KeyedRow, type PageRequest } from '../../platform/http/pagination.js';
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

const COLUMNS = columnsOf<TaskRow>()('id', 'incident_id', 'title', 'status', 'assignee_id', 'due_at', 'created_at', 'updated_at', 'version');

export async function insertTask(
  tx: Queryable,
  t: { tenantId: string; incidentId: string; title: string; assigneeId: string | null; dueAt: string | null; now: Date },
): Promise<TaskRow> {
  const res = await tx.query<TaskRow>(
    `INSERT INTO tasks (tenant_id, incident_id, title, assignee_id, due_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${COLUMNS}`,
    [t.tenantId, t.incidentId, t.title, t.assigneeId, t.dueAt, t.now],
  );
  return oneRow(res, 'task insert');
}

/** A task of this incident only: a task id under another incident is not found. Locked for the change. */
export async function findTaskForUpdate(tx: Queryable, tenantId: string, incidentId: string, taskId: string): Promise<TaskRow | null> {
  return maybeRow(
    await tx.query<TaskRow>(`SELECT ${COLUMNS} FROM tasks WHERE tenant_id = $1 AND incident_id = $2 AND id = $3 FOR UPDATE`, [tenantId, incidentId, taskId]),
  );
}

export interface TaskPatch {
  title?: string;
  status?: TaskStatus;
  assignee_id?: string | null;
  due_at?: string | null;
}

const TASK_PATCH = patchStatement<TaskPatch>({ title: 'text', status: 'text', assignee_id: 'uuid', due_at: 'timestamptz' }, 4);

/** One text for every combination of changed fields ($4 lists them; see patchStatement). */
const UPDATE_TASK_SQL = `UPDATE tasks SET
    ${TASK_PATCH.sets},
    updated_at = $3, version = version + 1
  WHERE tenant_id = $1 AND id = $2 RETURNING ${COLUMNS}`;

export async function updateTask(tx: Queryable, tenantId: string, taskId: string, patch: TaskPatch, now: Date): Promise<TaskRow> {
  return oneRow(await tx.query<TaskRow>(UPDATE_TASK_SQL, [tenantId, taskId, now, ...TASK_PATCH.params(patch)]), 'task update');
}

const PAGE = keyset('newest first', 3);
const LIST_TASKS_SQL = `SELECT ${COLUMNS}, ${PAGE.key} FROM tasks
      WHERE tenant_id = $1 AND incident_id = $2 AND ${PAGE.after}
      ${PAGE.orderAndLimit}`;

/** A page of the incident's tasks, newest first. */
export async function listTaskRows(tx: Queryable, tenantId: string, incidentId: string, page: PageRequest): Promise<(TaskRow & KeyedRow)[]> {
  const { rows } = await tx.query<TaskRow & KeyedRow>(LIST_TASKS_SQL, [tenantId, incidentId, ...keysetParams(page, 'newest first')]);
  return rows;
}
