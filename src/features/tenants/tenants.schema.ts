import { z } from 'zod';
import { emailSchema } from '../auth/auth.schema.js';
import { uuid } from '../../platform/http/validation.js';

export const createTenantBody = z.object({ name: z.string().trim().min(1).max(200) }).strict();
export const tenantParams = z.object({ tenantId: uuid });
export const memberParams = z.object({ tenantId: uuid, userId: uuid });
export const inviteParams = z.object({ tenantId: uuid, inviteId: uuid });

export const memberRole = z.enum(['owner', 'admin', 'member', 'viewer']);
/** Invites never carry `owner`: ownership is granted by an owner through a role change. */
export const inviteRole = z.enum(['admin', 'member', 'viewer']);

export const updateMemberBody = z.object({ role: memberRole }).strict();
export const createInviteBody = z.object({ email: emailSchema, role: inviteRole }).strict();
export const acceptInviteBody = z.object({ token: z.string().min(1).max(512) }).strict();
