import { z } from 'zod';

export const TASK_STATUSES = ['open', 'in_progress', 'done'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

const title = z.string().trim().min(1).max(200);
const assigneeId = z.uuid().nullable();
const dueAt = z.iso.datetime({ offset: true }).nullable();

export const taskParams = z.object({ incidentId: z.uuid(), taskId: z.uuid() });
export type TaskParams = z.infer<typeof taskParams>;

export const createTaskBody = z.object({ title, assigneeId: assigneeId.optional(), dueAt: dueAt.optional() }).strict();
export type CreateTaskInput = z.infer<typeof createTaskBody>;

export const updateTaskBody = z
  .object({ title: title.optional(), status: z.enum(TASK_STATUSES).optional(), assigneeId: assigneeId.optional(), dueAt: dueAt.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { error: 'Give at least one field to change.' });
export type UpdateTaskInput = z.infer<typeof updateTaskBody>;
