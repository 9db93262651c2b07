import { z } from 'zod';
import { severitySchema } from '../incidents/incidents.schema.js';

export const ALERT_SOURCE_KINDS = ['events_v2', 'alertmanager'] as const;
export type AlertSourceKind = (typeof ALERT_SOURCE_KINDS)[number];

const name = z.string().trim().min(1).max(200);
const groupingWindowSeconds = z.number().int().min(0).max(86_400);

export const tenantPathParams = z.object({ tenantId: z.uuid() });
export const alertSourceParams = z.object({ tenantId: z.uuid(), sourceId: z.uuid() });
export type AlertSourceParams = z.infer<typeof alertSourceParams>;

export const createAlertSourceBody = z
  .object({
    name,
    kind: z.enum(ALERT_SOURCE_KINDS),
    defaultSeverity: severitySchema.optional(),
    autoResolve: z.boolean().optional(),
    groupingWindowSeconds: groupingWindowSeconds.optional(),
  })
  .strict();
export type CreateAlertSourceInput = z.infer<typeof createAlertSourceBody>;

export const updateAlertSourceBody = z
  .object({
    name: name.optional(),
    defaultSeverity: severitySchema.optional(),
    autoResolve: z.boolean().optional(),
    groupingWindowSeconds: groupingWindowSeconds.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { error: 'Give at least one field to change.' });
export type UpdateAlertSourceInput = z.infer<typeof updateAlertSourceBody>;
