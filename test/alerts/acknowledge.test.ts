import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, insertApiKey, ownerWithTenant } from '../support/factories.js';
import { auditCount, MANY_USERS_ENV, openIncident, timelineOf, type IncidentBody } from '../incidents/helpers.js';
import { createSource, sendEvent, trigger } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

async function eventTypes(tenantId: string): Promise<string[]> {
  const { rows } = await t.db.withSystemTx((tx) => tx.query<{ type: string }>('SELECT type FROM events WHERE tenant_id = $1 ORDER BY seq', [tenantId]));
  return rows.map((r) => r.type);
}

describe('POST /v1/incidents/:incidentId/acknowledge', () => {
  it('acknowledges once: ETag and quota headers, one audit row, one timeline event, one event; a second call changes nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const first = await owner.post(`/v1/incidents/${incident.id}/acknowledge`);
    expect(first.status).toBe(200);
    const body = first.body as IncidentBody;
    expect(body.acknowledgedBy).toEqual({ type: 'user', id: owner.user?.id });
    expect(body.acknowledgedAt).not.toBeNull();
    expect(body.version).toBe(incident.version + 1);
    expect(first.headers.etag).toBe(`"${String(body.version)}"`);
    expect(first.headers['x-quota-remaining']).toBeDefined();
    const second = await owner.post(`/v1/incidents/${incident.id}/acknowledge`);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(body);
    expect(await auditCount(t, tenantId, 'incident.acknowledged')).toBe(1);
    expect((await timelineOf(owner, incident.id)).map((e) => e.type)).toEqual(['acknowledged']);
    expect(await eventTypes(tenantId)).toEqual(['incident.created', 'incident.acknowledged']);
  });

  it('needs incidents.write: a viewer gets 403, a read key 403 INSUFFICIENT_SCOPE, a write key 200; another tenant 404', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const viewer = await addMember(t, tenantId, 'viewer');
    expect((await viewer.post(`/v1/incidents/${incident.id}/acknowledge`)).status).toBe(403);
    const readKey = await insertApiKey(t, tenantId, ['read']);
    const read = await t.request().post(`/v1/incidents/${incident.id}/acknowledge`).set('x-api-key', readKey);
    expect(read.status).toBe(403);
    expect((read.body as { code: string }).code).toBe('INSUFFICIENT_SCOPE');
    const other = await ownerWithTenant(t);
    expect((await other.owner.post(`/v1/incidents/${incident.id}/acknowledge`)).status).toBe(404);
    expect(((await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody).acknowledgedAt).toBeNull();
    const writeKey = await insertApiKey(t, tenantId, ['write']);
    const ok = await t.request().post(`/v1/incidents/${incident.id}/acknowledge`).set('x-api-key', writeKey);
    expect(ok.status).toBe(200);
    expect((ok.body as IncidentBody).acknowledgedBy?.type).toBe('service_account');
  });

  it('leaving investigating acknowledges an unacknowledged incident; a later acknowledge keeps the first stamp', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const moved = (await owner.patch(`/v1/incidents/${incident.id}`, { status: 'identified' }).expect(200)).body as IncidentBody;
    expect(moved.acknowledgedAt).toBe(moved.identifiedAt);
    expect(moved.acknowledgedBy).toEqual({ type: 'user', id: owner.user?.id });
    const again = (await owner.post(`/v1/incidents/${incident.id}/acknowledge`).expect(200)).body as IncidentBody;
    expect(again.acknowledgedAt).toBe(moved.acknowledgedAt);
  });
});

describe('alert events in the event record', () => {
  it('records alert.triggered with the incident it opened, then alert.acknowledged and incident.acknowledged, then alert.resolved and the status change', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'acknowledge', dedup_key: 'k' }).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'k' }).expect(202);
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ type: string; actor_type: string; actor_id: string; data: { alert?: { status: string; incidentId: string | null } } }>(
        'SELECT type, actor_type, actor_id, data FROM events WHERE tenant_id = $1 ORDER BY seq',
        [tenantId],
      ),
    );
    // The repeated trigger only added to the alert: no event of its own.
    expect(rows.map((r) => r.type).sort()).toEqual(
      ['incident.created', 'alert.triggered', 'incident.acknowledged', 'alert.acknowledged', 'incident.status_changed', 'alert.resolved'].sort(),
    );
    expect(rows.every((r) => r.actor_type === 'alert_source' && r.actor_id === source.id)).toBe(true);
    const triggered = rows.find((r) => r.type === 'alert.triggered');
    expect(triggered?.data.alert?.incidentId).not.toBeNull();
    expect(rows.find((r) => r.type === 'alert.resolved')?.data.alert?.status).toBe('resolved');
  });
});
