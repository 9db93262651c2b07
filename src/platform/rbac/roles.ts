// The role, scope and action names alone: a leaf that request context types import without the policy.

export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
export const SCOPES = ['read', 'write'] as const;
export type Scope = (typeof SCOPES)[number];

export const ACTIONS = [
  'tenants.access',
  'incidents.read',
  'incidents.write',
  'members.read',
  'members.invite',
  'members.manage',
  'api_keys.manage',
  'audit_log.read',
  'billing.read',
  'webhooks.manage',
  'alert_sources.manage',
] as const;
export type Action = (typeof ACTIONS)[number];
