import { z } from 'zod';
import { incidentStatusSchema } from './incidents.schema.js';

export const VISIBILITIES = ['internal', 'public'] as const;

export const createStatusUpdateBody = z
  .object({ message: z.string().trim().min(1).max(5000), visibility: z.enum(VISIBILITIES), status: incidentStatusSchema.nullable().optional() })
  .strict();
export type CreateStatusUpdateInput = z.infer<typeof createStatusUpdateBody>;
