/**
 * Cross-tenant matrix (docs/api-guide.md "Tenants, members and roles", docs/security.md 31): for every route with an id in
 * its path, another tenant's id and a random UUID get the same status and body (apart from
 * traceId), nothing changes, and 403 shows up only for an object that exists in the caller's own
 * tenant. A later feature adds one row per id route to ID_ROUTES, adds a seeded object to World
 * if it needs one, and adds its route registrar to FEATURES_IN_MATRIX so the coverage test holds
 * it to that. The incident routes have their own matrix (test/incidents/access.test.ts); the
 * coverage test also requires every id route the app serves to be in one of the two.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureDeps } from '../../src/deps.js';
import { registerAlertRoutes } from '../../src/features/alerts/alerts.routes.js';
import { registerWebhookRoutes } from '../../src/features/webhooks/webhooks.routes.js';
import { registerApiKeyRoutes } from '../../src/features/api-keys/api-keys.routes.js';
import { registerTenantRoutes } from '../../src/features/tenants/tenants.routes.js';
import { featureRouteDeps } from '../../src/features/index.js';
import { RouteRegistry } from '../../src/platform/http/route.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, createApiKey, ownerWithTenant, uniqueEmail, type SessionClient } from '../support/factories.js';
import { INCIDENT_ID_ROUTES } from '../support/incident-id-routes.js';
import { createSource, sendEvent, trigger, type AlertBody } from '../alerts/support.js';
import { inviteWithToken, MANY_USERS_ENV, userId, withoutTrace } from './support.js';

/** One tenant with objects of every kind the matrix's routes address. */
interface World {
  tenantId: string;
  owner: SessionClient;
  viewer: SessionClient;
  /** A member (role member) the viewer could try to change or remove. */
  memberId: string;
  /** A pending invite. */
  inviteId: string;
  /** A service account, and an unrevoked API key issued for it. */
  serviceAccountId: string;
  apiKeyId: string;
  /** An alert source, an alert it sent, and the incident the alert opened. */
  sourceId: string;
  alertId: string;
  alertIncidentId: string;
  webhookEndpointId: string;
  webhookDeliveryId: string;
}

interface Ids {
  tenantId: string;
  objectId: string;
  /** The World `tenantId` belongs to, for ids a request body names; absent for a random tenant. */
  world?: World;
}

interface IdRouteRow {
  /** Exactly as in the route inventory: "METHOD /v1/path/:params". */
  route: string;
  call(client: SessionClient, ids: Ids): supertest.Test;
  /** The object the path's last id names, for routes with an id besides :tenantId. */
  objectOf?: (w: World) => string;
  /** The viewer's answer on an existing object in their own tenant: 403 where viewers lack the permission. */
  viewerInOwnTenant: number;
}

export const ID_ROUTES: IdRouteRow[] = [
  {
    route: 'POST /v1/tenants/:tenantId/switch',
    call: (c, { tenantId }) => c.post(`/v1/tenants/${tenantId}/switch`),
    viewerInOwnTenant: 200,
  },
  {
    route: 'GET /v1/tenants/:tenantId/members',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/members`),
    viewerInOwnTenant: 200,
  },
  {
    route: 'PATCH /v1/tenants/:tenantId/members/:userId',
    call: (c, { tenantId, objectId }) => c.patch(`/v1/tenants/${tenantId}/members/${objectId}`, { role: 'admin' }),
    objectOf: (w) => w.memberId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'DELETE /v1/tenants/:tenantId/members/:userId',
    call: (c, { tenantId, objectId }) => c.delete(`/v1/tenants/${tenantId}/members/${objectId}`),
    objectOf: (w) => w.memberId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/invites',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/invites`),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/invites',
    call: (c, { tenantId }) => c.post(`/v1/tenants/${tenantId}/invites`, { email: 'matrix@example.test', role: 'member' }),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/invites/:inviteId/revoke',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/invites/${objectId}/revoke`),
    objectOf: (w) => w.inviteId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/service-accounts',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/service-accounts`),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/service-accounts',
    call: (c, { tenantId }) => c.post(`/v1/tenants/${tenantId}/service-accounts`, { name: 'matrix bot' }),
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/api-keys',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/api-keys`),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/api-keys',
    // The target tenant's own service account, so only the role can stand between the caller and a new key.
    call: (c, { tenantId, world }) =>
      c.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId: world?.serviceAccountId ?? randomUUID(), name: 'matrix key', scopes: ['read'] }),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/api-keys/:apiKeyId/revoke',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/api-keys/${objectId}/revoke`),
    objectOf: (w) => w.apiKeyId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/alert-sources',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/alert-sources`),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/alert-sources',
    call: (c, { tenantId }) => c.post(`/v1/tenants/${tenantId}/alert-sources`, { name: 'matrix source', kind: 'events_v2' }),
    viewerInOwnTenant: 403,
  },
  {
    route: 'PATCH /v1/tenants/:tenantId/alert-sources/:sourceId',
    call: (c, { tenantId, objectId }) => c.patch(`/v1/tenants/${tenantId}/alert-sources/${objectId}`, { name: 'renamed' }),
    objectOf: (w) => w.sourceId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'DELETE /v1/tenants/:tenantId/alert-sources/:sourceId',
    call: (c, { tenantId, objectId }) => c.delete(`/v1/tenants/${tenantId}/alert-sources/${objectId}`),
    objectOf: (w) => w.sourceId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/alert-sources/:sourceId/rotate-key',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/alert-sources/${objectId}/rotate-key`),
    objectOf: (w) => w.sourceId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/webhook-endpoints',
    call: (c, { tenantId }) => c.get(`/v1/tenants/${tenantId}/webhook-endpoints`),
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/webhook-endpoints',
    call: (c, { tenantId }) => c.post(`/v1/tenants/${tenantId}/webhook-endpoints`, { url: 'https://hooks.example.test/matrix', eventTypes: ['*'] }),
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/webhook-endpoints/:endpointId',
    call: (c, { tenantId, objectId }) => c.get(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}`),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'PATCH /v1/tenants/:tenantId/webhook-endpoints/:endpointId',
    call: (c, { tenantId, objectId }) => c.patch(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}`, { description: 'renamed' }).set('If-Match', '"1"'),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'DELETE /v1/tenants/:tenantId/webhook-endpoints/:endpointId',
    call: (c, { tenantId, objectId }) => c.delete(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}`),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/webhook-endpoints/:endpointId/rotate-secret',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}/rotate-secret`, {}),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/webhook-endpoints/:endpointId/test',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}/test`),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/webhook-endpoints/:endpointId/replay',
    call: (c, { tenantId, objectId }) => c.post(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}/replay`, { afterSeq: 0 }),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'GET /v1/tenants/:tenantId/webhook-endpoints/:endpointId/deliveries',
    call: (c, { tenantId, objectId }) => c.get(`/v1/tenants/${tenantId}/webhook-endpoints/${objectId}/deliveries`),
    objectOf: (w) => w.webhookEndpointId,
    viewerInOwnTenant: 403,
  },
  // The delivery routes name two ids: the world's own endpoint with the delivery under test.
  {
    route: 'GET /v1/tenants/:tenantId/webhook-endpoints/:endpointId/deliveries/:deliveryId',
    call: (c, { tenantId, objectId, world }) =>
      c.get(`/v1/tenants/${tenantId}/webhook-endpoints/${world?.webhookEndpointId ?? randomUUID()}/deliveries/${objectId}`),
    objectOf: (w) => w.webhookDeliveryId,
    viewerInOwnTenant: 403,
  },
  {
    route: 'POST /v1/tenants/:tenantId/webhook-endpoints/:endpointId/deliveries/:deliveryId/redeliver',
    call: (c, { tenantId, objectId, world }) =>
      c.post(`/v1/tenants/${tenantId}/webhook-endpoints/${world?.webhookEndpointId ?? randomUUID()}/deliveries/${objectId}/redeliver`),
    objectOf: (w) => w.webhookDeliveryId,
    viewerInOwnTenant: 403,
  },
  // Alert reads use the active tenant: another tenant's id must look exactly like a random one.
  {
    route: 'GET /v1/alerts/:alertId',
    call: (c, { objectId }) => c.get(`/v1/alerts/${objectId}`),
    objectOf: (w) => w.alertId,
    viewerInOwnTenant: 200,
  },
  {
    route: 'GET /v1/incidents/:incidentId/alerts',
    call: (c, { objectId }) => c.get(`/v1/incidents/${objectId}/alerts`),
    objectOf: (w) => w.alertIncidentId,
    viewerInOwnTenant: 200,
  },
];

/** Route registrars whose id routes must all appear in ID_ROUTES. */
const FEATURES_IN_MATRIX: ((routes: RouteRegistry, deps: FeatureDeps) => void)[] = [registerTenantRoutes, registerApiKeyRoutes, registerAlertRoutes, registerWebhookRoutes];

let t: TestApp;
let a: World;
let b: World;
let tenantTables: string[];

async function world(name: string): Promise<World> {
  const { owner, tenantId } = await ownerWithTenant(t, name);
  const member = await addMember(t, tenantId, 'member');
  const viewer = await addMember(t, tenantId, 'viewer');
  const { invite } = await inviteWithToken(t, owner, tenantId, uniqueEmail());
  const key = await createApiKey(owner, tenantId);
  const source = await createSource(owner, tenantId);
  await sendEvent(t, trigger(source.routingKey, 'matrix')).expect(202);
  const alert = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data[0] as AlertBody;
  const endpoint = (await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints`, { url: 'https://hooks.example.test/world', eventTypes: ['*'] }).expect(201)).body as { id: string };
  const delivery = (await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${endpoint.id}/test`).expect(202)).body as { deliveryId: string };
  return {
    tenantId,
    owner,
    viewer,
    memberId: userId(member),
    inviteId: invite.id,
    serviceAccountId: key.serviceAccountId,
    apiKeyId: key.id,
    sourceId: source.id,
    alertId: alert.id,
    alertIncidentId: alert.incidentId ?? '',
    webhookEndpointId: endpoint.id,
    webhookDeliveryId: delivery.deliveryId,
  };
}

/**
 * Everything stored for tenants A and B: every row of every table with tenant_id (found from the
 * catalog, so later tables are covered), and the tenant rows themselves.
 */
async function snapshot(): Promise<Record<string, string>> {
  const ids = [a.tenantId, b.tenantId];
  return t.db.withSystemTx(async (tx) => {
    const out: Record<string, string> = {};
    for (const table of [...tenantTables, 'tenants']) {
      const column = table === 'tenants' ? 'id' : 'tenant_id';
      const { rows } = await tx.query<{ digest: string | null; n: number }>(
        `SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) AS digest, count(*)::int AS n
           FROM "${table}" x WHERE ${column} = ANY($1::uuid[])`,
        [ids],
      );
      out[table] = `${String(rows[0]?.n)}:${rows[0]?.digest ?? ''}`;
    }
    return out;
  });
}

async function answer(req: supertest.Test): Promise<{ status: number; body: unknown }> {
  const res = await req;
  return { status: res.status, body: withoutTrace(res.body) };
}

async function activeTenantOf(client: SessionClient): Promise<string | null> {
  const res = await client.get('/v1/auth/me').expect(200);
  return (res.body as { activeTenant: { id: string } | null }).activeTenant?.id ?? null;
}

beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
  a = await world('Tenant A');
  b = await world('Tenant B');
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ table_name: string }>(
      `SELECT c.relname AS table_name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         JOIN pg_attribute att ON att.attrelid = c.oid AND att.attname = 'tenant_id' AND NOT att.attisdropped
        WHERE c.relkind IN ('r', 'p') ORDER BY 1`,
    ),
  );
  tenantTables = rows.map((r) => r.table_name);
});
afterAll(async () => {
  await t.close();
});

describe('cross-tenant matrix', () => {
  it('covers every id route of the features in the matrix', () => {
    const router = express.Router();
    const registry = new RouteRegistry(router, {
      db: t.db,
      clock: t.built.deps.clock,
      anonymousCsrf: t.built.deps.anonymousCsrf,
      afterResponse: t.built.deps.afterResponse,
      sessionCookie: { cookieName: 'sid', secure: false },
      ...featureRouteDeps(t.built.deps),
    });
    for (const register of FEATURES_IN_MATRIX) register(registry, t.built.deps);
    const idRoutes = registry.inventory.filter((r) => r.path.includes('/:')).map((r) => `${r.method.toUpperCase()} /v1${r.path}`);
    expect(idRoutes.length).toBeGreaterThan(0);
    expect(ID_ROUTES.map((r) => r.route).sort()).toEqual(idRoutes.sort());
    const served = t.built.inventory.map((r) => `${r.method.toUpperCase()} ${r.path}`);
    for (const row of ID_ROUTES) expect(served).toContain(row.route);
  });

  it('covers every id route the app serves, here or in the incidents matrix', () => {
    const servedIdRoutes = t.built.inventory.filter((r) => r.path.includes('/:')).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    const covered = new Set([...ID_ROUTES, ...INCIDENT_ID_ROUTES].map((r) => r.route));
    expect(servedIdRoutes.filter((route) => !covered.has(route))).toEqual([]);
    expect([...covered].filter((route) => !servedIdRoutes.includes(route))).toEqual([]);
    // The incidents matrix requests each route through path(); its route label must name the same route.
    for (const row of INCIDENT_ID_ROUTES) {
      const [method, pattern] = row.route.split(' ') as [string, string];
      expect(`${method} ${pattern.replace(':incidentId', 'I').replace(':taskId', 'K')}`).toBe(`${row.method.toUpperCase()} ${row.path('I', 'K')}`);
    }
  });

  describe.each(ID_ROUTES)('$route', (row) => {
    it("answers another tenant's id exactly like a random UUID (404) and changes nothing", async () => {
      const before = await snapshot();
      const foreign = await answer(row.call(a.owner, { tenantId: b.tenantId, objectId: row.objectOf?.(b) ?? randomUUID(), world: b }));
      const random = await answer(row.call(a.owner, { tenantId: randomUUID(), objectId: randomUUID() }));
      expect(foreign.status).toBe(404);
      expect(foreign).toEqual(random);
      expect(await snapshot()).toEqual(before);
      expect(await activeTenantOf(a.owner)).toBe(a.tenantId);
    });

    it(`gives a viewer ${String(row.viewerInOwnTenant)} only on their own tenant's object, and 404 elsewhere`, async () => {
      const before = await snapshot();
      const own = await answer(row.call(a.viewer, { tenantId: a.tenantId, objectId: row.objectOf?.(a) ?? randomUUID(), world: a }));
      expect(own.status).toBe(row.viewerInOwnTenant);
      if (row.objectOf) {
        const missing = await answer(row.call(a.viewer, { tenantId: a.tenantId, objectId: randomUUID(), world: a }));
        expect(missing.status).toBe(404);
      }
      const foreign = await answer(row.call(a.viewer, { tenantId: b.tenantId, objectId: row.objectOf?.(b) ?? randomUUID(), world: b }));
      const random = await answer(row.call(a.viewer, { tenantId: randomUUID(), objectId: randomUUID() }));
      expect(foreign.status).toBe(404);
      expect(foreign).toEqual(random);
      expect(await snapshot()).toEqual(before);
    });
  });

  describe.each(ID_ROUTES.filter((r) => r.objectOf))('$route, object id', (row) => {
    it("in the caller's own tenant, answers another tenant's object exactly like a random UUID", async () => {
      const objectOf = row.objectOf as (w: World) => string;
      const before = await snapshot();
      const foreign = await answer(row.call(a.owner, { tenantId: a.tenantId, objectId: objectOf(b), world: a }));
      const random = await answer(row.call(a.owner, { tenantId: a.tenantId, objectId: randomUUID(), world: a }));
      expect(foreign.status).toBe(404);
      expect(foreign).toEqual(random);
      expect(await snapshot()).toEqual(before);
    });
  });
});
