import { z } from 'zod';
import { pageQuery } from '../incidents/incidents.schema.js';
import { ALERT_STATUSES } from './alerts.queries.js';

export const alertParams = z.object({ alertId: z.uuid() });

/** A page of alerts; every field besides `limit` and `cursor` is a filter (`AlertFilter`). */
export const listAlertsQuery = pageQuery.extend({
  status: z.enum(ALERT_STATUSES).optional(),
  sourceId: z.uuid().optional(),
  incidentId: z.uuid().optional(),
});
export type ListAlertsQuery = z.infer<typeof listAlertsQuery>;
