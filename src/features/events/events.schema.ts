import { z } from 'zod';
import { limitSchema } from '../../platform/http/pagination.js';
import { multiValue } from '../../platform/http/validation.js';
import { EVENT_TYPES } from './events.record.js';

const seq = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const filters = {
  types: multiValue(EVENT_TYPES).optional(),
  incidentId: z.uuid().optional(),
  after: seq.optional(),
};

export const listEventsQuery = z
  .object({ ...filters, limit: limitSchema, cursor: z.string().min(1).max(200).optional() })
  .strict()
  .refine((q) => q.after === undefined || q.cursor === undefined, { error: 'Give either after or cursor, not both.', path: ['cursor'] });
export type ListEventsQuery = z.infer<typeof listEventsQuery>;

export const streamEventsQuery = z.object(filters).strict();
export type StreamEventsQuery = z.infer<typeof streamEventsQuery>;

/** `Last-Event-ID` as the stream reads it: a seq. */
export const lastEventIdSchema = seq;
