import { z } from 'zod';
import { limitSchema, listQuery } from '../../platform/http/pagination.js';
import { EVENT_TYPES } from '../events/events.record.js';

/** What an endpoint can subscribe to: every recorded type (`webhook.test` goes to one endpoint, on request only). */
export const SUBSCRIBABLE_EVENT_TYPES = EVENT_TYPES;

export const tenantPathParams = z.object({ tenantId: z.uuid() });
export const endpointParams = z.object({ tenantId: z.uuid(), endpointId: z.uuid() });
export const deliveryParams = z.object({ tenantId: z.uuid(), endpointId: z.uuid(), deliveryId: z.uuid() });
export const listEndpointsQuery = listQuery;

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export const listDeliveriesQuery = z
  .object({ status: z.enum(DELIVERY_STATUSES).optional(), limit: limitSchema, cursor: z.string().min(1).max(200).optional() })
  .strict();

// Where it may point (scheme, credentials, addresses) is checked in the service, against the config.
const url = z.string().trim().min(1).max(2048);
const description = z.string().trim().max(1000).nullable();
const eventTypes = z
  .array(z.enum(['*', ...SUBSCRIBABLE_EVENT_TYPES]))
  .min(1)
  .max(SUBSCRIBABLE_EVENT_TYPES.length)
  .refine((t) => new Set(t).size === t.length, { error: 'Event types must be unique.' })
  .refine((t) => !t.includes('*') || t.length === 1, { error: '"*" stands alone: ["*"] subscribes to every event type.' });

export const createEndpointBody = z.object({ url, description: description.optional(), eventTypes }).strict();
export const updateEndpointBody = z
  .object({ url: url.optional(), description: description.optional(), eventTypes: eventTypes.optional(), enabled: z.boolean().optional() })
  .strict();

export const rotateSecretBody = z
  .object({ overlapSeconds: z.number().int().min(0).max(604_800).optional() })
  .strict()
  .optional();

export const replayBody = z.object({ afterSeq: z.number().int().min(0) }).strict();

export type CreateEndpointInput = z.infer<typeof createEndpointBody>;
export type UpdateEndpointInput = z.infer<typeof updateEndpointBody>;
export type ListDeliveriesInput = z.infer<typeof listDeliveriesQuery>;
