import { z } from 'zod';

export const createTenantBody = z.object({ name: z.string().trim().min(1).max(200) }).strict();
export const tenantParams = z.object({ tenantId: z.uuid() });
