import { describe, expect, it } from 'vitest';
import { authorize, type AuthzSubject } from './authorize.js';
import { ACTIONS, ROLES, type Action, type Role, type Scope } from './roles.js';

const TENANT = '11111111-1111-4111-8111-111111111111';
const OTHER_TENANT = '22222222-2222-4222-8222-222222222222';

/**
 * docs/api-guide.md "Tenants, members and roles", transcribed independently of the implementation's table.
 * `tenants.access` is the implicit "member" permission (switch, list): every role, no API key.
 */
const MATRIX: Record<Action, { roles: Record<Role, boolean>; key: readonly Scope[] }> = {
  'tenants.access': { roles: { owner: true, admin: true, member: true, viewer: true }, key: [] },
  'incidents.read': { roles: { owner: true, admin: true, member: true, viewer: true }, key: ['read', 'write'] },
  'incidents.write': { roles: { owner: true, admin: true, member: true, viewer: false }, key: ['write'] },
  'members.read': { roles: { owner: true, admin: true, member: true, viewer: true }, key: [] },
  'members.invite': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'members.manage': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'api_keys.manage': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'audit_log.read': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'billing.read': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'webhooks.manage': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
  'alert_sources.manage': { roles: { owner: true, admin: true, member: false, viewer: false }, key: [] },
};

const SCOPE_SETS: readonly (readonly Scope[])[] = [[], ['read'], ['write'], ['read', 'write']];

function user(role: Role | null, tenantId: string | null = TENANT): AuthzSubject {
  return { kind: 'user', tenantId, role, scopes: [] };
}

function key(scopes: readonly Scope[], tenantId: string | null = TENANT): AuthzSubject {
  return { kind: 'service_account', tenantId, role: null, scopes };
}

const roleCases = ACTIONS.flatMap((action) => ROLES.map((role) => ({ action, role, allowed: MATRIX[action].roles[role] })));
const scopeCases = ACTIONS.flatMap((action) =>
  SCOPE_SETS.map((scopes) => ({ action, scopes, allowed: scopes.some((s) => MATRIX[action].key.includes(s)) })),
);

describe('authorize: the role table matches docs/api-guide.md', () => {
  it('the matrix in this test names every action the engine knows', () => {
    expect(Object.keys(MATRIX).sort()).toEqual([...ACTIONS].sort());
  });

  it.each(roleCases)('$role on $action in its own tenant: allowed=$allowed', ({ action, role, allowed }) => {
    const d = authorize(action, { tenantId: TENANT }, user(role));
    expect(d.allowed).toBe(allowed);
    expect(d.reason.length).toBeGreaterThan(0);
    if (!d.allowed) expect(d.code).toBe('FORBIDDEN');
  });

  it.each(scopeCases)('API key with [$scopes] on $action: allowed=$allowed', ({ action, scopes, allowed }) => {
    const d = authorize(action, { tenantId: TENANT }, key(scopes));
    expect(d.allowed).toBe(allowed);
    expect(d.reason.length).toBeGreaterThan(0);
    if (!d.allowed) expect(d.code).toBe('INSUFFICIENT_SCOPE');
  });
});

describe('authorize: deny by default', () => {
  it.each(ACTIONS)('an owner is denied %s on another tenant', (action) => {
    expect(authorize(action, { tenantId: OTHER_TENANT }, user('owner'))).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
  });

  it.each(ACTIONS)('a read-write key is denied %s on another tenant', (action) => {
    expect(authorize(action, { tenantId: OTHER_TENANT }, key(['read', 'write']))).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
  });

  it.each(ACTIONS)('an anonymous caller is denied %s', (action) => {
    expect(authorize(action, { tenantId: TENANT }, { kind: 'anonymous', tenantId: TENANT, role: 'owner', scopes: ['read', 'write'] })).toMatchObject({
      allowed: false,
      code: 'AUTH_REQUIRED',
    });
  });

  it.each(ACTIONS)('a user with no tenant context is denied %s', (action) => {
    expect(authorize(action, { tenantId: TENANT }, user('owner', null))).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
  });

  it.each(ACTIONS)('a user with no role in the tenant is denied %s', (action) => {
    expect(authorize(action, { tenantId: TENANT }, user(null))).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
  });

  // The type system rules this out; should a cast let one through, it is denied like anything
  // else the table does not grant.
  it.each([user('owner'), key(['read', 'write'])])('an action missing from the table is denied (%o)', (subject) => {
    const unknown = 'incidents.delete' as Action;
    expect(authorize(unknown, { tenantId: TENANT }, subject)).toMatchObject({ allowed: false, code: 'FORBIDDEN' });
  });
});

describe('authorize: members.manage and owners', () => {
  const cases: { actor: Role; targetRole?: Role; newRole?: Role; allowed: boolean }[] = [
    { actor: 'owner', targetRole: 'owner', newRole: 'admin', allowed: true },
    { actor: 'owner', targetRole: 'member', newRole: 'owner', allowed: true },
    { actor: 'owner', targetRole: 'owner', allowed: true },
    { actor: 'admin', targetRole: 'member', newRole: 'admin', allowed: true },
    { actor: 'admin', targetRole: 'admin', newRole: 'viewer', allowed: true },
    { actor: 'admin', targetRole: 'viewer', allowed: true },
    { actor: 'admin', targetRole: 'owner', newRole: 'admin', allowed: false },
    { actor: 'admin', targetRole: 'owner', allowed: false },
    { actor: 'admin', targetRole: 'member', newRole: 'owner', allowed: false },
    { actor: 'admin', targetRole: 'admin', newRole: 'owner', allowed: false },
    { actor: 'member', targetRole: 'viewer', newRole: 'member', allowed: false },
    { actor: 'viewer', targetRole: 'viewer', allowed: false },
  ];

  it.each(cases)('$actor changing a $targetRole to $newRole: allowed=$allowed', ({ actor, targetRole, newRole, allowed }) => {
    const d = authorize('members.manage', { tenantId: TENANT, ...(targetRole ? { targetRole } : {}), ...(newRole ? { newRole } : {}) }, user(actor));
    expect(d.allowed).toBe(allowed);
  });

  it('the owner rule applies only to members.manage', () => {
    expect(authorize('members.read', { tenantId: TENANT, targetRole: 'owner' }, user('admin')).allowed).toBe(true);
  });
});
