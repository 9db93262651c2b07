import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { createTaskFor, openIncident, type IncidentBody } from '../incidents/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

interface StoredEvent {
  seq: number;
  type: string;
  incident_id: string | null;
  actor_type: string;
  actor_id: string | null;
  data: Record<string, unknown>;
}

async function storedEvents(tenantId: string): Promise<StoredEvent[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<StoredEvent>('SELECT seq, type, incident_id, actor_type, actor_id, data FROM events WHERE tenant_id = $1 ORDER BY seq', [tenantId]),
  );
  return rows;
}

describe('the event record', () => {
  it('when incidents, notes, tasks and status updates change, then each mutation has one event holding the resource as the API returned it', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const patched = await owner.patch(`/v1/incidents/${incident.id}`, { title: 'Renamed', severity: 'SEV1' });
    const moved = await owner.patch(`/v1/incidents/${incident.id}`, { status: 'identified', description: 'db' });
    const note = await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'looking' });
    const task = await createTaskFor(owner, incident.id);
    const taskPatched = await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { status: 'done' });
    const update = await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'fixed', visibility: 'public', status: 'resolved' });
    const after = (await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody;

    const events = await storedEvents(tenantId);
    expect(events.map((e) => e.type)).toEqual([
      'incident.created',
      'incident.updated',
      'incident.status_changed',
      'timeline_event.created',
      'task.created',
      'task.updated',
      'status_update.created',
    ]);
    for (let i = 1; i < events.length; i += 1) expect(events[i]?.seq).toBeGreaterThan(events[i - 1]?.seq ?? Infinity);
    expect(events.every((e) => e.incident_id === incident.id && e.actor_type === 'user' && e.actor_id === owner.user?.id)).toBe(true);
    expect(events[0]?.data).toEqual({ incident });
    expect(events[1]?.data).toEqual({
      incident: patched.body as unknown,
      changes: { title: { from: 'Checkout 502s', to: 'Renamed' }, severity: { from: 'SEV2', to: 'SEV1' } },
    });
    expect(events[2]?.data).toEqual({
      incident: moved.body as unknown,
      // Leaving investigating acknowledged it: part of the same change.
      changes: {
        status: { from: 'investigating', to: 'identified' },
        description: { from: null, to: 'db' },
        acknowledgedAt: { from: null, to: (moved.body as IncidentBody).acknowledgedAt },
      },
    });
    expect(events[3]?.data).toEqual({ timelineEvent: note.body as unknown });
    expect(events[4]?.data).toEqual({ task });
    expect(events[5]?.data).toEqual({ task: taskPatched.body as unknown, changes: { status: { from: 'open', to: 'done' } } });
    // A status update that moves the incident is one mutation: one event, carrying both.
    expect(events[6]?.data).toEqual({ statusUpdate: update.body as unknown, incident: after, changes: { status: { from: 'identified', to: 'resolved' } } });
  });

  it('when a write is refused (412, 409) or changes nothing, then no event is recorded', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { title: 'x' }).set('If-Match', '"7"')).status).toBe(412);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { status: 'identified' })).status).toBe(200);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { status: 'investigating' })).status).toBe(409);
    expect((await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'm', visibility: 'internal', status: 'investigating' })).status).toBe(409);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { severity: 'SEV2' })).status).toBe(200);
    expect((await storedEvents(tenantId)).map((e) => e.type)).toEqual(['incident.created', 'incident.status_changed']);
  });
});
