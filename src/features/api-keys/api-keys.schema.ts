import { z } from 'zod';
import { listQuery } from '../../platform/http/pagination.js';
import { SCOPES } from '../../platform/rbac/roles.js';

export const tenantPathParams = z.object({ tenantId: z.uuid() });
export const apiKeyParams = z.object({ tenantId: z.uuid(), apiKeyId: z.uuid() });
export const listParamsQuery = listQuery;

export const createServiceAccountBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().trim().max(1000).nullable().optional(),
  })
  .strict();

export const createApiKeyBody = z
  .object({
    serviceAccountId: z.uuid(),
    name: z.string().trim().min(1).max(200),
    scopes: z
      .array(z.enum(SCOPES))
      .min(1)
      .max(SCOPES.length)
      .refine((s) => new Set(s).size === s.length, { error: 'Scopes must be unique.' }),
    // Whether it lies in the future is checked against the request clock in the service.
    expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
  })
  .strict();

export type CreateServiceAccountInput = z.infer<typeof createServiceAccountBody>;
export type CreateApiKeyInput = z.infer<typeof createApiKeyBody>;
