import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { addMember, insertApiKey, ownerWithTenant, signUp, type SessionClient } from '../support/factories.js';
import { openIncident, timelineOf, type IncidentBody, MANY_USERS_ENV } from './helpers.js';

let t: TestApp;
// Stamped timestamps are compared exactly, so the clock moves only when the test moves it.
const clock = FakeClock.frozen();
beforeAll(async () => {
  t = await createTestApp({ clock, env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

const STATUSES = ['investigating', 'identified', 'monitoring', 'resolved'] as const;
type Status = (typeof STATUSES)[number];
const ALLOWED: Record<Status, Status[]> = {
  investigating: ['identified', 'resolved'],
  identified: ['monitoring', 'resolved'],
  monitoring: ['resolved'],
  resolved: ['investigating'],
};
/** The PATCHes that bring a fresh incident to each status. */
const PATH_TO: Record<Status, Status[]> = {
  investigating: [],
  identified: ['identified'],
  monitoring: ['identified', 'monitoring'],
  resolved: ['resolved'],
};

async function patch(client: SessionClient, id: string, body: object) {
  return client.patch(`/v1/incidents/${id}`, body);
}

async function incidentIn(owner: SessionClient, status: Status): Promise<IncidentBody> {
  let incident = await openIncident(owner);
  for (const step of PATH_TO[status]) {
    const res = await patch(owner, incident.id, { status: step });
    expect(res.status).toBe(200);
    incident = res.body as IncidentBody;
  }
  expect(incident.status).toBe(status);
  return incident;
}

describe('incident lifecycle', () => {
  it('when an incident is opened, then it is investigating with the documented shape, Location and ETag', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const commander = await addMember(t, tenantId, 'member');
    const before = clock.advance(1000);
    const res = await owner.post('/v1/incidents', {
      title: 'Checkout 502s',
      description: 'Elevated error rate',
      severity: 'SEV1',
      commanderId: commander.user?.id,
    });
    expect(res.status).toBe(201);
    const body = res.body as IncidentBody;
    expect(body).toEqual({
      id: expect.any(String) as string,
      number: 1,
      title: 'Checkout 502s',
      description: 'Elevated error rate',
      severity: 'SEV1',
      status: 'investigating',
      allowedTransitions: ['identified', 'resolved'],
      commanderId: commander.user?.id,
      createdBy: { type: 'user', id: owner.user?.id },
      acknowledgedAt: null,
      acknowledgedBy: null,
      startedAt: before.toISOString(),
      identifiedAt: null,
      monitoringAt: null,
      resolvedAt: null,
      createdAt: before.toISOString(),
      updatedAt: before.toISOString(),
      version: 1,
    });
    expect(res.headers.location).toBe(`/v1/incidents/${body.id}`);
    expect(res.headers.etag).toBe('"1"');

    const got = await owner.get(`/v1/incidents/${body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(body);
    expect(got.headers.etag).toBe('"1"');
  });

  describe('every transition', () => {
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        const allowed = ALLOWED[from].includes(to);
        it(`${allowed ? 'allows' : 'refuses with 409'} ${from} -> ${to}`, async () => {
          const { owner } = await ownerWithTenant(t);
          const incident = await incidentIn(owner, from);
          expect(incident.allowedTransitions).toEqual(ALLOWED[from]);
          const res = await patch(owner, incident.id, { status: to });
          const after = await owner.get(`/v1/incidents/${incident.id}`);
          if (allowed) {
            expect(res.status).toBe(200);
            const body = res.body as IncidentBody;
            expect(body.status).toBe(to);
            expect(body.version).toBe(incident.version + 1);
            expect(body.allowedTransitions).toEqual(ALLOWED[to]);
            expect(res.headers.etag).toBe(`"${incident.version + 1}"`);
            expect(after.body).toEqual(body);
          } else {
            expect(res.status).toBe(409);
            expect((res.body as { code: string }).code).toBe('INVALID_STATUS_TRANSITION');
            expect(after.body).toEqual(incident);
          }
        });
      }
    }
  });

  it('when an incident moves forward, then each transition stamps its own time and a reopen clears resolvedAt', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const identifiedAt = clock.advance(60_000).toISOString();
    const identified = (await patch(owner, incident.id, { status: 'identified' })).body as IncidentBody;
    expect(identified).toMatchObject({ identifiedAt, monitoringAt: null, resolvedAt: null, updatedAt: identifiedAt });

    const monitoringAt = clock.advance(60_000).toISOString();
    const monitoring = (await patch(owner, incident.id, { status: 'monitoring' })).body as IncidentBody;
    expect(monitoring).toMatchObject({ identifiedAt, monitoringAt, resolvedAt: null });

    const resolvedAt = clock.advance(60_000).toISOString();
    const resolved = (await patch(owner, incident.id, { status: 'resolved' })).body as IncidentBody;
    expect(resolved).toMatchObject({ identifiedAt, monitoringAt, resolvedAt, startedAt: incident.startedAt });

    const reopenedAt = clock.advance(60_000).toISOString();
    const reopened = (await patch(owner, incident.id, { status: 'investigating' })).body as IncidentBody;
    expect(reopened).toMatchObject({ status: 'investigating', resolvedAt: null, identifiedAt, monitoringAt, updatedAt: reopenedAt });
    expect(reopened.version).toBe(5);
  });

  it('when status and severity change, then the timeline gets status_changed and severity_changed events by the actor', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner, { severity: 'SEV3' });
    expect(await timelineOf(owner, incident.id)).toEqual([]);

    const res = await patch(owner, incident.id, { status: 'identified', severity: 'SEV1' });
    expect(res.status).toBe(200);
    const events = await timelineOf(owner, incident.id);
    expect(events.map((e) => [e.type, e.message]).sort()).toEqual([
      ['severity_changed', 'Severity changed from SEV3 to SEV1.'],
      ['status_changed', 'Status changed from investigating to identified.'],
    ]);
    for (const e of events) expect(e.actor).toEqual({ type: 'user', id: owner.user?.id });

    await patch(owner, incident.id, { title: 'Renamed only' });
    expect(await timelineOf(owner, incident.id)).toHaveLength(2);
  });

  it('when the title, description and commander change, then they are saved and version goes up once', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const commander = await addMember(t, tenantId, 'viewer');
    const incident = await openIncident(owner, { description: 'old' });
    const res = await patch(owner, incident.id, { title: 'New title', description: null, commanderId: commander.user?.id });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ title: 'New title', description: null, commanderId: commander.user?.id, version: 2 });
    const cleared = await patch(owner, incident.id, { commanderId: null });
    expect(cleared.body).toMatchObject({ commanderId: null, version: 3 });
  });

  it('when a PATCH changes nothing, then the incident and its version stay as they were', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const res = await patch(owner, incident.id, { title: incident.title, severity: incident.severity });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(incident);
    expect(res.headers.etag).toBe('"1"');
  });

  it('rejects a commander or assignee who is not a member of the tenant with 400 naming the field', async () => {
    const { owner } = await ownerWithTenant(t);
    const outsider = await signUp(t);
    const created = await owner.post('/v1/incidents', { title: 'x', severity: 'SEV4', commanderId: outsider.user?.id });
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'commanderId' }] } });

    const incident = await openIncident(owner);
    const patched = await patch(owner, incident.id, { commanderId: outsider.user?.id });
    expect(patched.status).toBe(400);
    expect(patched.body).toMatchObject({ details: { fields: [{ path: 'commanderId' }] } });

    const task = await owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 't', assigneeId: outsider.user?.id });
    expect(task.status).toBe(400);
    expect(task.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'assigneeId' }] } });
  });

  it('rejects an empty PATCH, an unknown field and an unknown severity with 400', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    for (const body of [{}, { version: 3 }, { severity: 'SEV5' }, { title: '' }]) {
      const res = await patch(owner, incident.id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    }
    const created = await owner.post('/v1/incidents', { title: 'no severity' });
    expect(created.status).toBe(400);
    expect((await owner.get(`/v1/incidents/${incident.id}`)).body).toEqual(incident);
  });

  it('when a service account opens an incident, then createdBy names the service account', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const key = await insertApiKey(t, tenantId, ['write']);
    const res = await t.request().post('/v1/incidents').set('x-api-key', key).send({ title: 'From a bot', severity: 'SEV3' });
    expect(res.status).toBe(201);
    const body = res.body as IncidentBody;
    expect(body.createdBy.type).toBe('service_account');
    expect(body.createdBy.id).not.toBe(owner.user?.id);
    expect(body.number).toBe(1);
  });
});
