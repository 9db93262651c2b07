import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { createTaskFor, openIncident, tenantState, timelineOf, type IncidentBody, type TaskBody, type TimelineEventBody, MANY_USERS_ENV } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

describe('optimistic concurrency', () => {
  it('when If-Match is stale on an incident PATCH, then 412 PRECONDITION_FAILED and nothing changes', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const v2 = await owner.patch(`/v1/incidents/${incident.id}`, { title: 'v2' }).set('If-Match', '"1"');
    expect(v2.status).toBe(200);
    expect(v2.headers.etag).toBe('"2"');

    const before = await tenantState(t, tenantId);
    const stale = await owner.patch(`/v1/incidents/${incident.id}`, { title: 'lost update', status: 'resolved' }).set('If-Match', '"1"');
    expect(stale.status).toBe(412);
    expect((stale.body as { code: string }).code).toBe('PRECONDITION_FAILED');
    expect(await tenantState(t, tenantId)).toEqual(before);
    const current = await owner.get(`/v1/incidents/${incident.id}`);
    expect(current.body).toMatchObject({ title: 'v2', status: 'investigating', version: 2 });
    expect(current.headers.etag).toBe('"2"');
  });

  it('applies a PATCH whose If-Match is current, a list containing it, or *', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const cases: [string, number][] = [['"1"', 2], ['"7", "2"', 3], ['"3"', 4], ['*', 5]];
    for (const [ifMatch, version] of cases) {
      const res = await owner.patch(`/v1/incidents/${incident.id}`, { title: `v${version}` }).set('If-Match', ifMatch);
      expect(res.status, ifMatch).toBe(200);
      expect((res.body as IncidentBody).version).toBe(version);
    }
  });

  it('when two PATCHes race with the same If-Match, then exactly one applies and the other gets 412', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const results = await Promise.all(
      ['identified', 'resolved'].map((status) => owner.patch(`/v1/incidents/${incident.id}`, { status }).set('If-Match', '"1"')),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
    expect(((await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody).version).toBe(2);
  });

  it('when If-Match is stale on a task PATCH, then 412 and the task is unchanged', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const task = await createTaskFor(owner, incident.id);
    const ok = await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { status: 'in_progress' }).set('If-Match', '"1"');
    expect(ok.status).toBe(200);
    expect(ok.headers.etag).toBe('"2"');
    const before = await tenantState(t, tenantId);
    const stale = await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { status: 'done' }).set('If-Match', '"1"');
    expect(stale.status).toBe(412);
    expect(await tenantState(t, tenantId)).toEqual(before);
  });
  const patchTargets = [
    {
      what: 'an incident',
      async open(owner: SessionClient) {
        const incident = await openIncident(owner);
        return { path: `/v1/incidents/${incident.id}`, body: { title: 'changed' } };
      },
    },
    {
      what: 'a task',
      async open(owner: SessionClient) {
        const incident = await openIncident(owner);
        const task = await createTaskFor(owner, incident.id);
        return { path: `/v1/incidents/${incident.id}/tasks/${task.id}`, body: { title: 'changed' } };
      },
    },
  ];

  for (const target of patchTargets) {
    it(`when If-Match is the current version as a weak tag on ${target.what} PATCH, then 412 (strong comparison) and nothing changes`, async () => {
      const { owner, tenantId } = await ownerWithTenant(t);
      const { path, body } = await target.open(owner);
      const before = await tenantState(t, tenantId);
      for (const weak of ['W/"1"', 'W/"1", W/"2"']) {
        const res = await owner.patch(path, body).set('If-Match', weak);
        expect(res.status, weak).toBe(412);
        expect((res.body as { code: string }).code).toBe('PRECONDITION_FAILED');
      }
      expect(await tenantState(t, tenantId)).toEqual(before);
      // The strong tag beside a weak one still matches.
      expect((await owner.patch(path, body).set('If-Match', 'W/"1", "1"')).status).toBe(200);
    });

    it(`when If-Match on ${target.what} PATCH is not an entity tag, then 400 VALIDATION_FAILED showing the expected form, and nothing changes`, async () => {
      const { owner, tenantId } = await ownerWithTenant(t);
      const { path, body } = await target.open(owner);
      const before = await tenantState(t, tenantId);
      for (const bad of ['1', '"1', '"1" "2"', 'W/1', '*, "1"', ',', '"1",x']) {
        const res = await owner.patch(path, body).set('If-Match', bad);
        expect(res.status, bad).toBe(400);
        const err = res.body as { code: string; message: string; details: { fields: { path: string; message: string }[] } };
        expect(err.code).toBe('VALIDATION_FAILED');
        expect(err.message).toContain('If-Match: "3"');
        expect(err.details.fields).toEqual([{ path: 'If-Match', message: expect.stringContaining('"3"') as string }]);
      }
      expect(await tenantState(t, tenantId)).toEqual(before);
    });
  }
});

describe('timeline notes', () => {
  it('adds a note with the caller as actor, back-dated when occurredAt is given', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const res = await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'Rolled back', occurredAt: '2025-03-05T09:35:00Z' });
    expect(res.status).toBe(201);
    const note = res.body as TimelineEventBody;
    expect(note).toEqual({
      id: expect.any(String) as string,
      type: 'note',
      message: 'Rolled back',
      occurredAt: '2025-03-05T09:35:00.000Z',
      actor: { type: 'user', id: owner.user?.id },
      createdAt: expect.any(String) as string,
    });
    expect(note.createdAt > note.occurredAt).toBe(true);
    expect(await timelineOf(owner, incident.id)).toEqual([note]);
    const bad = await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: '', type: 'status_changed' });
    expect(bad.status).toBe(400);
  });
});

describe('tasks', () => {
  it('creates an open task with a task_created event, and completing it writes task_completed once', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const assignee = await addMember(t, tenantId, 'member');
    const incident = await openIncident(owner);
    const res = await owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'Roll back deploy', assigneeId: assignee.user?.id, dueAt: '2030-01-01T10:00:00Z' });
    expect(res.status).toBe(201);
    expect(res.headers.etag).toBe('"1"');
    const task = res.body as TaskBody;
    expect(task).toMatchObject({ incidentId: incident.id, title: 'Roll back deploy', status: 'open', assigneeId: assignee.user?.id, dueAt: '2030-01-01T10:00:00.000Z', version: 1 });
    expect((await timelineOf(owner, incident.id)).map((e) => [e.type, e.message])).toEqual([['task_created', 'Task created: Roll back deploy']]);

    const path = `/v1/incidents/${incident.id}/tasks/${task.id}`;
    const progressed = await owner.patch(path, { status: 'in_progress', dueAt: null, assigneeId: null });
    expect(progressed.body).toMatchObject({ status: 'in_progress', dueAt: null, assigneeId: null, version: 2 });
    const done = await owner.patch(path, { status: 'done' });
    expect(done.status).toBe(200);
    expect(done.headers.etag).toBe('"3"');
    expect(done.body).toMatchObject({ status: 'done', version: 3 });
    await owner.patch(path, { status: 'done', title: 'Roll back deploy (v2)' });
    expect((await timelineOf(owner, incident.id)).map((e) => e.type)).toEqual(['task_created', 'task_completed']);
  });

  it('answers 404 for a task id under another incident of the same tenant, and changes nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const a = await openIncident(owner);
    const b = await openIncident(owner);
    const task = await createTaskFor(owner, a.id);
    const before = await tenantState(t, tenantId);
    const res = await owner.patch(`/v1/incidents/${b.id}/tasks/${task.id}`, { status: 'done' });
    expect(res.status).toBe(404);
    expect((res.body as { code: string }).code).toBe('NOT_FOUND');
    expect(await tenantState(t, tenantId)).toEqual(before);
  });

  it('rejects an empty task PATCH and an unknown task status with 400', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const task = await createTaskFor(owner, incident.id);
    for (const body of [{}, { status: 'blocked' }, { incidentId: incident.id }]) {
      const res = await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('status updates', () => {
  it('when a status update carries a status, then the incident moves in the same request with its stamps and events', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const res = await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'Root cause found', visibility: 'public', status: 'identified' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String) as string,
      incidentId: incident.id,
      message: 'Root cause found',
      status: 'identified',
      visibility: 'public',
      actor: { type: 'user', id: owner.user?.id },
      createdAt: expect.any(String) as string,
    });
    const after = (await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody;
    expect(after).toMatchObject({ status: 'identified', version: 2, allowedTransitions: ['monitoring', 'resolved'] });
    expect(after.identifiedAt).toBe((res.body as { createdAt: string }).createdAt);
    expect((await timelineOf(owner, incident.id)).map((e) => e.type).sort()).toEqual(['status_changed', 'status_update_posted']);
  });

  it('when a status update has no status, then the incident keeps its status and is acknowledged, once', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const res = await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'Still looking', visibility: 'internal', status: null });
    expect(res.status).toBe(201);
    expect((res.body as { status: unknown }).status).toBeNull();
    const after = (await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody;
    expect(after).toMatchObject({ status: incident.status, title: incident.title, version: incident.version + 1, acknowledgedBy: { type: 'user', id: owner.user?.id } });
    expect(after.acknowledgedAt).not.toBeNull();
    // Written by one transaction at one instant: in no particular order.
    expect((await timelineOf(owner, incident.id)).map((e) => e.type).sort()).toEqual(['acknowledged', 'status_update_posted']);
    await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'Still', visibility: 'internal' }).expect(201);
    expect((await owner.get(`/v1/incidents/${incident.id}`)).body).toEqual(after);
  });

  it('when a status update asks for a refused transition, then 409 and nothing at all is written', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const before = await tenantState(t, tenantId);
    const res = await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'Skip ahead', visibility: 'public', status: 'monitoring' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'INVALID_STATUS_TRANSITION', details: { from: 'investigating', to: 'monitoring' } });
    expect(await tenantState(t, tenantId)).toEqual(before);
  });
});
