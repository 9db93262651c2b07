import { randomUUID } from 'node:crypto';
import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, insertApiKey, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { INCIDENT_ID_ROUTES, type IncidentRouteMethod } from '../support/incident-id-routes.js';
import { createTaskFor, openIncident, tenantState, type IncidentBody, type TaskBody, MANY_USERS_ENV } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

type Method = IncidentRouteMethod;
const ID_ROUTES = INCIDENT_ID_ROUTES;
const WRITES = ID_ROUTES.filter((r) => r.method !== 'get');
const READS = ID_ROUTES.filter((r) => r.method === 'get');

/** A caller: a session client (CSRF sent) or an API key. */
type Caller = { session: SessionClient } | { apiKey: string };

function send(caller: Caller, method: Method, path: string, body?: object): supertest.Test {
  if ('session' in caller) {
    if (method === 'get') return caller.session.get(path);
    return method === 'post' ? caller.session.post(path, body ?? {}) : caller.session.patch(path, body ?? {});
  }
  const r = t.request()[method](path).set('x-api-key', caller.apiKey);
  return body === undefined ? r : r.send(body);
}

function withoutTrace(body: unknown): unknown {
  const rest = { ...(body as Record<string, unknown>) };
  delete rest.traceId;
  return rest;
}

/** Tenant B with an incident and a task, for the cross-tenant cases. */
async function victim() {
  const { owner, tenantId } = await ownerWithTenant(t, 'Victim');
  const incident = await openIncident(owner);
  const task = await createTaskFor(owner, incident.id);
  return { owner, tenantId, incident, task };
}

describe('roles and scopes on incident routes', () => {
  it('when a viewer writes to an existing incident, then 403 FORBIDDEN on every write route and nothing changes', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const viewer = await addMember(t, tenantId, 'viewer');
    const incident = await openIncident(owner);
    const task = await createTaskFor(owner, incident.id);
    const before = await tenantState(t, tenantId);
    for (const route of WRITES) {
      const res = await send({ session: viewer }, route.method, route.path(incident.id, task.id), route.body);
      expect(res.status, route.name).toBe(403);
      expect((res.body as { code: string }).code, route.name).toBe('FORBIDDEN');
    }
    const create = await viewer.post('/v1/incidents', { title: 'x', severity: 'SEV1' });
    expect(create.status).toBe(403);
    expect((create.body as { code: string }).code).toBe('FORBIDDEN');
    expect(await tenantState(t, tenantId)).toEqual(before);
    for (const route of READS) expect((await send({ session: viewer }, 'get', route.path(incident.id, task.id))).status, route.name).toBe(200);
    expect((await viewer.get('/v1/incidents')).status).toBe(200);
  });

  it('when a viewer targets another tenant’s incident, then 404 NOT_FOUND, not 403', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const viewer = await addMember(t, tenantId, 'viewer');
    const other = await victim();
    for (const route of ID_ROUTES) {
      const res = await send({ session: viewer }, route.method, route.path(other.incident.id, other.task.id), route.body);
      expect(res.status, route.name).toBe(404);
    }
  });

  it('lets a member write', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const incident = await openIncident(member);
    expect((await member.patch(`/v1/incidents/${incident.id}`, { severity: 'SEV1' })).status).toBe(200);
  });

  it('when a read-scoped key is used, then reads answer 200 and every write 403 INSUFFICIENT_SCOPE with nothing changed', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const readKey = await insertApiKey(t, tenantId, ['read']);
    const incident = await openIncident(owner);
    const task = await createTaskFor(owner, incident.id);
    const list = await send({ apiKey: readKey }, 'get', '/v1/incidents');
    expect(list.status).toBe(200);
    expect((list.body as { data: IncidentBody[] }).data.map((i) => i.id)).toEqual([incident.id]);
    for (const route of READS) expect((await send({ apiKey: readKey }, 'get', route.path(incident.id, task.id))).status, route.name).toBe(200);

    const before = await tenantState(t, tenantId);
    const create = await send({ apiKey: readKey }, 'post', '/v1/incidents', { title: 'x', severity: 'SEV1' });
    expect(create.status).toBe(403);
    expect((create.body as { code: string }).code).toBe('INSUFFICIENT_SCOPE');
    for (const route of WRITES) {
      const res = await send({ apiKey: readKey }, route.method, route.path(incident.id, task.id), route.body);
      expect(res.status, route.name).toBe(403);
      expect((res.body as { code: string }).code, route.name).toBe('INSUFFICIENT_SCOPE');
    }
    expect(await tenantState(t, tenantId)).toEqual(before);
  });

  it('lets a write-scoped key create and change incidents without a CSRF token', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const key = await insertApiKey(t, tenantId, ['write']);
    const created = await send({ apiKey: key }, 'post', '/v1/incidents', { title: 'Bot incident', severity: 'SEV2' });
    expect(created.status).toBe(201);
    const id = (created.body as IncidentBody).id;
    const task = await send({ apiKey: key }, 'post', `/v1/incidents/${id}/tasks`, { title: 'bot task' });
    expect(task.status).toBe(201);
    const done = await send({ apiKey: key }, 'patch', `/v1/incidents/${id}/tasks/${(task.body as TaskBody).id}`, { status: 'done' });
    expect(done.status).toBe(200);
    const patched = await send({ apiKey: key }, 'patch', `/v1/incidents/${id}`, { status: 'resolved' });
    expect(patched.status).toBe(200);
    expect((patched.body as IncidentBody).version).toBe(2);
  });

  it('rejects a session write without the CSRF token with 403 and changes nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const before = await tenantState(t, tenantId);
    const res = await owner.agent.patch(`/v1/incidents/${incident.id}`).send({ title: 'no csrf' });
    expect(res.status).toBe(403);
    expect((res.body as { code: string }).code).toBe('CSRF_TOKEN_INVALID');
    expect(await tenantState(t, tenantId)).toEqual(before);
  });
});

describe('cross-tenant matrix', () => {
  // Shared by every case: each probe is refused, and each case proves the victim is unchanged.
  let attacker: { owner: SessionClient; tenantId: string; incident: IncidentBody };
  let other: Awaited<ReturnType<typeof victim>>;
  const callers: Record<string, () => Promise<Caller>> = {
    'an owner session': () => Promise.resolve({ session: attacker.owner }),
    'a write-scoped key': async () => ({ apiKey: await insertApiKey(t, attacker.tenantId, ['read', 'write']) }),
  };
  beforeAll(async () => {
    const { owner, tenantId } = await ownerWithTenant(t, 'Attacker');
    attacker = { owner, tenantId, incident: await openIncident(owner) };
    other = await victim();
  });

  for (const callerName of Object.keys(callers)) {
    for (const route of ID_ROUTES) {
      it(`${route.name} by ${callerName}: another tenant's ids and random UUIDs give the same 404 and change nothing`, async () => {
        const caller = await (callers[callerName] as () => Promise<Caller>)();
        const before = await tenantState(t, other.tenantId);
        const probes: [string, string][] = [
          [other.incident.id, other.task.id],
          [randomUUID(), randomUUID()],
          [randomUUID(), other.task.id],
          // The caller's own incident with the other tenant's task, for the task route.
          [attacker.incident.id, other.task.id],
        ];
        const bodies: unknown[] = [];
        for (const [incidentId, taskId] of route.name === 'PATCH task' ? probes : probes.slice(0, 2)) {
          const res = await send(caller, route.method, route.path(incidentId, taskId), route.body);
          expect(res.status, `${incidentId}/${taskId}`).toBe(404);
          bodies.push(withoutTrace(res.body));
        }
        const notAUuid = await send(caller, route.method, route.path('not-a-uuid', 'nope'), route.body);
        expect(notAUuid.status).toBe(404);
        bodies.push(withoutTrace(notAUuid.body));
        for (const b of bodies) expect(b).toEqual(bodies[0]);
        expect(bodies[0]).toEqual({ code: 'NOT_FOUND', message: 'Not found.', details: {} });
        expect(await tenantState(t, other.tenantId)).toEqual(before);
        expect((await other.owner.get(`/v1/incidents/${other.incident.id}`)).body).toEqual(other.incident);
      });
    }
  }
});
