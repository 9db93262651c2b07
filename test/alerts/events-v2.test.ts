import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { MANY_USERS_ENV, timelineOf } from '../incidents/helpers.js';
import { alertRows, createSource, incidentRows, sendEvent, trigger, type AlertBody } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

describe('POST /v1/integrations/events-v2/enqueue', () => {
  it('when a trigger arrives, then 202 in PagerDuty shape, an alert, and an incident opened by the source with a timeline event naming the alert', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const res = await sendEvent(t, trigger(source.routingKey, 'disk-db-1', { summary: 'Disk full on db-1', severity: 'critical' }));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'success', message: 'Event processed', dedup_key: 'disk-db-1' });

    const alerts = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data;
    expect(alerts).toHaveLength(1);
    const alert = alerts[0] as AlertBody;
    expect(alert).toMatchObject({ sourceId: source.id, dedupKey: 'disk-db-1', status: 'triggered', summary: 'Disk full on db-1', severity: 'critical', eventCount: 1 });
    const incident = (await owner.get(`/v1/incidents/${alert.incidentId ?? ''}`).expect(200)).body as Record<string, unknown>;
    expect(incident).toMatchObject({ title: 'Disk full on db-1', severity: 'SEV1', status: 'investigating', createdBy: { type: 'alert_source', id: source.id }, acknowledgedAt: null });
    const timeline = await timelineOf(owner, alert.incidentId ?? '');
    expect(timeline).toHaveLength(1);
    expect(timeline[0]).toMatchObject({ type: 'alert_triggered', actor: { type: 'alert_source', id: source.id } });
    expect(timeline[0]?.message).toContain(alert.id);
    const byIncident = (await owner.get(`/v1/incidents/${alert.incidentId ?? ''}/alerts`).expect(200)).body as { data: AlertBody[] };
    expect(byIncident.data.map((a) => a.id)).toEqual([alert.id]);
    expect((await owner.get(`/v1/alerts/${alert.id}`).expect(200)).body).toEqual(alert);
  });

  it('when the same dedup key triggers again, then the open alert absorbs it (eventCount, latest summary) and nothing new opens', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k1', { summary: 'first' })).expect(202);
    await sendEvent(t, trigger(source.routingKey, 'k1', { summary: 'second' })).expect(202);
    await sendEvent(t, trigger(source.routingKey, 'k1', { summary: 'third' })).expect(202);
    const alerts = await alertRows(t, tenantId);
    expect(alerts.map((a) => [a.dedup_key, a.status, a.event_count])).toEqual([['k1', 'triggered', 3]]);
    expect(await incidentRows(t, tenantId)).toHaveLength(1);
    const alert = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data[0];
    expect(alert?.summary).toBe('third');
  });

  it('when an alert is resolved and the key triggers again, then a new alert and a new incident open; the first incident auto-resolved', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'k' }).expect(202);
    let incidents = await incidentRows(t, tenantId);
    expect(incidents.map((i) => i.status)).toEqual(['resolved']);
    // Resolved by its alerts: nobody acknowledged it.
    expect(incidents[0]?.acknowledged_at).toBeNull();
    const firstTimeline = await timelineOf(owner, incidents[0]?.id ?? '');
    // The last two are written by one transaction, at one instant, in no particular order.
    expect(firstTimeline[0]?.type).toBe('alert_triggered');
    expect(firstTimeline.slice(1).map((e) => e.type).sort()).toEqual(['alert_resolved', 'status_changed']);

    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    const alerts = await alertRows(t, tenantId);
    expect(alerts.map((a) => a.status)).toEqual(['triggered', 'resolved']);
    incidents = await incidentRows(t, tenantId);
    expect(incidents.map((i) => i.status)).toEqual(['resolved', 'investigating']);
    expect(alerts[0]?.incident_id).toBe(incidents[1]?.id);
  });

  it('when autoResolve is off, then resolving every alert leaves the incident open', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { autoResolve: false });
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'k' }).expect(202);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['investigating']);
    expect((await alertRows(t, tenantId)).map((a) => a.status)).toEqual(['resolved']);
  });

  it('when an incident has two alerts, then it resolves only once the last one is resolved', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { groupingWindowSeconds: 600 });
    await sendEvent(t, trigger(source.routingKey, 'a')).expect(202);
    await sendEvent(t, trigger(source.routingKey, 'b')).expect(202);
    expect(await incidentRows(t, tenantId)).toHaveLength(1);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'a' }).expect(202);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['investigating']);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'b' }).expect(202);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['resolved']);
  });

  it('when grouping is off (window 0), then every new alert opens its own incident', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'a')).expect(202);
    await sendEvent(t, trigger(source.routingKey, 'b')).expect(202);
    const incidents = await incidentRows(t, tenantId);
    expect(incidents).toHaveLength(2);
    expect(new Set((await alertRows(t, tenantId)).map((a) => a.incident_id))).toEqual(new Set(incidents.map((i) => i.id)));
  });

  it('when an acknowledge arrives, then the alert and its incident are acknowledged by the source, once', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'acknowledge', dedup_key: 'k' }).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'acknowledge', dedup_key: 'k' }).expect(202);
    const alert = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data[0] as AlertBody;
    expect(alert.status).toBe('acknowledged');
    expect(alert.acknowledgedAt).not.toBeNull();
    expect(alert.eventCount).toBe(3);
    const incident = (await owner.get(`/v1/incidents/${alert.incidentId ?? ''}`).expect(200)).body as Record<string, unknown>;
    expect(incident.acknowledgedBy).toEqual({ type: 'alert_source', id: source.id });
    expect(incident.acknowledgedAt).not.toBeNull();
    const types = (await timelineOf(owner, alert.incidentId ?? '')).map((e) => e.type);
    expect(types[0]).toBe('alert_triggered');
    expect(types.slice(1).sort()).toEqual(['acknowledged', 'alert_acknowledged']);
  });

  it('when an acknowledge or resolve names no open alert, then 202 and nothing changes', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'resolve', dedup_key: 'nothing' }).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'acknowledge', dedup_key: 'nothing' }).expect(202);
    expect(await alertRows(t, tenantId)).toEqual([]);
  });

  it.each([
    ['critical', 'SEV1'],
    ['error', 'SEV2'],
    ['warning', 'SEV3'],
    ['info', 'SEV4'],
  ])('maps severity %s to %s', async (severity, sev) => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k', { severity })).expect(202);
    expect((await incidentRows(t, tenantId)).map((i) => i.severity)).toEqual([sev]);
  });

  it('when a trigger has no dedup_key, then one is generated and answered', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const res = await sendEvent(t, trigger(source.routingKey, undefined)).expect(202);
    const key = (res.body as { dedup_key: string }).dedup_key;
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect((await alertRows(t, tenantId)).map((a) => a.dedup_key)).toEqual([key]);
  });

  it('truncates summary to 1,024 and dedup_key to 255 characters (counting characters, not bytes)', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const res = await sendEvent(t, trigger(source.routingKey, 'd'.repeat(300), { summary: '€'.repeat(2000) })).expect(202);
    expect((res.body as { dedup_key: string }).dedup_key).toBe('d'.repeat(255));
    const alert = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data[0] as AlertBody;
    expect(alert.summary).toBe('€'.repeat(1024));
    expect(alert.dedupKey).toBe('d'.repeat(255));
    expect((await incidentRows(t, tenantId))[0]?.title).toBe('€'.repeat(200));
  });
});
