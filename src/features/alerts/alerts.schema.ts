import { z } from 'zod';
import { limitSchema } from '../../platform/http/pagination.js';
import { ALERT_STATUSES } from './alerts.queries.js';

export const alertParams = z.object({ alertId: z.uuid() });

export const listAlertsQuery = z
  .object({
    limit: limitSchema,
    cursor: z.string().min(1).max(1024).optional(),
    status: z.enum(ALERT_STATUSES).optional(),
    sourceId: z.uuid().optional(),
    incidentId: z.uuid().optional(),
  })
  .strict();
export type ListAlertsQuery = z.infer<typeof listAlertsQuery>;
