import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { MANY_USERS_ENV, timelineOf } from '../incidents/helpers.js';
import { alertRows, amPayload, createSource, incidentRows, sendAlertmanager } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

describe('POST /v1/integrations/alertmanager', () => {
  it('when a group is re-sent 10 times, then it stays one incident and its alerts count every notification', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { kind: 'alertmanager' });
    const group = amPayload('{}:{alertname="HighLatency"}', [{ fingerprint: 'aaa' }, { fingerprint: 'bbb' }]);
    for (let i = 0; i < 10; i += 1) {
      const res = await sendAlertmanager(t, source.routingKey, group);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ accepted: 2 });
    }
    const incidents = await incidentRows(t, tenantId);
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ created_by_type: 'alert_source', created_by_id: source.id, status: 'investigating' });
    const alerts = await alertRows(t, tenantId);
    expect(alerts.map((a) => [a.dedup_key, a.event_count, a.incident_id]).sort()).toEqual([
      ['aaa', 10, incidents[0]?.id],
      ['bbb', 10, incidents[0]?.id],
    ]);
    // One alert_triggered per alert, naming it; repeats add nothing to the timeline.
    const timeline = await timelineOf(owner, incidents[0]?.id ?? '');
    expect(timeline.map((e) => e.type)).toEqual(['alert_triggered', 'alert_triggered']);
  });

  it('when a later notification adds an alert to the group, then it joins the same incident; another group opens another', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { kind: 'alertmanager' });
    await sendAlertmanager(t, source.routingKey, amPayload('g1', [{ fingerprint: 'a' }])).expect(200);
    await sendAlertmanager(t, source.routingKey, amPayload('g1', [{ fingerprint: 'a' }, { fingerprint: 'b' }])).expect(200);
    await sendAlertmanager(t, source.routingKey, amPayload('g2', [{ fingerprint: 'c' }])).expect(200);
    const incidents = await incidentRows(t, tenantId);
    expect(incidents).toHaveLength(2);
    const byKey = Object.fromEntries((await alertRows(t, tenantId)).map((a) => [a.dedup_key, a.incident_id]));
    expect(byKey.a).toBe(incidents[0]?.id);
    expect(byKey.b).toBe(incidents[0]?.id);
    expect(byKey.c).toBe(incidents[1]?.id);
  });

  it('when entries come back resolved, then their alerts resolve and the incident resolves with the last one', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { kind: 'alertmanager' });
    await sendAlertmanager(t, source.routingKey, amPayload('g', [{ fingerprint: 'a' }, { fingerprint: 'b' }])).expect(200);
    await sendAlertmanager(t, source.routingKey, amPayload('g', [{ fingerprint: 'a', status: 'resolved' }, { fingerprint: 'b' }])).expect(200);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['investigating']);
    await sendAlertmanager(t, source.routingKey, amPayload('g', [{ fingerprint: 'a', status: 'resolved' }, { fingerprint: 'b', status: 'resolved' }])).expect(200);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['resolved']);
    expect((await alertRows(t, tenantId)).map((a) => a.status)).toEqual(['resolved', 'resolved']);
    // The group firing again opens a new incident: the old one is resolved.
    await sendAlertmanager(t, source.routingKey, amPayload('g', [{ fingerprint: 'a' }])).expect(200);
    expect((await incidentRows(t, tenantId)).map((i) => i.status)).toEqual(['resolved', 'investigating']);
  });

  it("takes severity from the severity label, else the source's default", async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { kind: 'alertmanager', defaultSeverity: 'SEV4' });
    await sendAlertmanager(t, source.routingKey, amPayload('page', [{ fingerprint: 'p', labels: { severity: 'page' } }])).expect(200);
    await sendAlertmanager(t, source.routingKey, amPayload('none', [{ fingerprint: 'n' }])).expect(200);
    expect((await incidentRows(t, tenantId)).map((i) => i.severity)).toEqual(['SEV1', 'SEV4']);
  });

  it('refuses a payload that is not webhook version 4 with 400 VALIDATION_FAILED naming the field', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId, { kind: 'alertmanager' });
    const res = await sendAlertmanager(t, source.routingKey, { ...amPayload('g', [{ fingerprint: 'a' }]), version: '3' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'version' }] } });
    expect(await alertRows(t, tenantId)).toEqual([]);
  });
});
