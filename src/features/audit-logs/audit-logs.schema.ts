import { z } from 'zod';
import { limitSchema } from '../../platform/http/pagination.js';

export const auditLogQuery = z
  .object({
    action: z.string().min(1).max(100).optional(),
    actorId: z.uuid().optional(),
    targetType: z.string().min(1).max(100).optional(),
    targetId: z.string().min(1).max(200).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: limitSchema,
    cursor: z.string().min(1).max(1024).optional(),
  })
  .strict();

export type AuditLogQuery = z.infer<typeof auditLogQuery>;
