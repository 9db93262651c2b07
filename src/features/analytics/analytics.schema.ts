import { z } from 'zod';
import { multiValue } from '../../platform/http/validation.js';
import { SEVERITIES } from '../incidents/incidents.schema.js';

export const INTERVALS = ['day', 'week', 'month'] as const;
export type Interval = (typeof INTERVALS)[number];

const timestamp = z.iso.datetime({ offset: true });

export const incidentAnalyticsQuery = z
  .object({
    from: timestamp.optional(),
    to: timestamp.optional(),
    interval: z.enum(INTERVALS).default('day'),
    groupBy: z.enum(['none', 'severity']).default('none'),
    severity: multiValue(SEVERITIES).optional(),
  })
  .strict();
export type IncidentAnalyticsQuery = z.infer<typeof incidentAnalyticsQuery>;
