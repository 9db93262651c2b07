import { z } from 'zod';
import { limitSchema } from '../../platform/http/pagination.js';
import { multiValue } from '../../platform/http/validation.js';

export const SEVERITIES = ['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const INCIDENT_STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const severitySchema = z.enum(SEVERITIES);
export const incidentStatusSchema = z.enum(INCIDENT_STATUSES);
const timestamp = z.iso.datetime({ offset: true });
const title = z.string().trim().min(1).max(200);
const description = z.string().max(10000).nullable();

/** Path ids that are not UUIDs answer 404 (validation of `params` maps to NOT_FOUND). */
export const incidentParams = z.object({ incidentId: z.uuid() });
export type IncidentParams = z.infer<typeof incidentParams>;

export const createIncidentBody = z
  .object({ title, description: description.optional(), severity: severitySchema, commanderId: z.uuid().nullable().optional() })
  .strict();
export type CreateIncidentInput = z.infer<typeof createIncidentBody>;

export const updateIncidentBody = z
  .object({
    title: title.optional(),
    description: description.optional(),
    severity: severitySchema.optional(),
    status: incidentStatusSchema.optional(),
    commanderId: z.uuid().nullable().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, { error: 'Give at least one field to change.' });
export type UpdateIncidentInput = z.infer<typeof updateIncidentBody>;

export const listIncidentsQuery = z
  .object({
    limit: limitSchema,
    cursor: z.string().min(1).max(1024).optional(),
    status: multiValue(INCIDENT_STATUSES).optional(),
    severity: multiValue(SEVERITIES).optional(),
    q: z.string().trim().min(1).max(200).optional(),
    createdAfter: timestamp.optional(),
    createdBefore: timestamp.optional(),
  })
  .strict();
export type ListIncidentsQuery = z.infer<typeof listIncidentsQuery>;

/** `limit` and `cursor` of the sub-resource lists. */
export const pageQuery = z.object({ limit: limitSchema, cursor: z.string().min(1).max(1024).optional() }).strict();
export type PageQuery = z.infer<typeof pageQuery>;
