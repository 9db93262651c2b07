import { describe, expect, it } from 'vitest';
import { countRows } from '../support/factories.js';
import { deliveryWorker, Receiver, webhookSuite } from '../support/webhook-receiver.js';
import { createEndpoint, createIncident, deliveries, delivery } from './support.js';

const s = webhookSuite();

const at = (base: Date, ms: number) => new Date(base.getTime() + ms);

async function eventsOf(tenant: string): Promise<{ id: string; seq: number; type: string }[]> {
  const { rows } = await s.t.db.withSystemTx((tx) =>
    tx.query<{ id: string; seq: string; type: string }>('SELECT id, seq, type FROM events WHERE tenant_id = $1 ORDER BY seq', [tenant]),
  );
  return rows.map((r) => ({ id: r.id, seq: Number(r.seq), type: r.type }));
}

describe('webhook delivery against a receiver verifying with standardwebhooks', () => {
  it('when incidents change, then every event is delivered once, signed, verified, with webhook-id = event id and the Event as body', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    s.receiver.secrets = [ep.secret];
    const incident = await createIncident(s.owner);
    expect((await s.owner.patch(`/v1/incidents/${incident.id}`, { status: 'identified' })).status).toBe(200);
    expect((await s.owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'Roll back' })).status).toBe(201);
    expect((await s.owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'Rolled back' })).status).toBe(201);
    await s.worker.drain();

    const events = await eventsOf(s.tenantId);
    expect(events.map((e) => e.type)).toEqual(['incident.created', 'incident.status_changed', 'task.created', 'timeline_event.created']);
    const got = [...s.receiver.received].sort((a, b) => (JSON.parse(a.body) as { seq: number }).seq - (JSON.parse(b.body) as { seq: number }).seq);
    expect(got.map((r) => r.id)).toEqual(events.map((e) => e.id));
    for (const [i, r] of got.entries()) {
      expect(r.verifiedWith).toEqual([ep.secret]);
      expect(r.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      const body = JSON.parse(r.body) as { id: string; seq: number; type: string; data: Record<string, unknown> };
      expect(body).toMatchObject({ id: events[i]?.id, seq: events[i]?.seq, type: events[i]?.type });
    }
    const list = await deliveries(s.owner, s.tenantId, ep.id);
    expect(list.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // A second run finds nothing more: the cursor moved past every event.
    await s.worker.drain();
    expect(s.receiver.received).toHaveLength(4);
  });

  it('when an endpoint subscribes to some types, then only those are delivered', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url, eventTypes: ['task.created'] });
    s.receiver.secrets = [ep.secret];
    const incident = await createIncident(s.owner);
    await s.owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'Page the DBA' });
    await s.worker.drain();
    expect(s.receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['task.created']);
  });

  it('when the secret is rotated with an overlap, then old and new secret both verify; with no overlap only the new one does', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    const rotated = await s.owner.post(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}/rotate-secret`, { overlapSeconds: 3600 });
    expect(rotated.status).toBe(200);
    const next = (rotated.body as { secret: string }).secret;
    expect(next).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    s.receiver.secrets = [ep.secret, next];
    await createIncident(s.owner);
    await s.worker.drain();
    expect(s.receiver.received).toHaveLength(1);
    expect(s.receiver.received[0]?.verifiedWith).toEqual([ep.secret, next]);
    expect(s.receiver.received[0]?.signature.split(' ')).toHaveLength(2);

    const third = (await s.owner.post(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}/rotate-secret`, { overlapSeconds: 0 })).body as { secret: string };
    s.receiver.secrets = [ep.secret, next, third.secret];
    await createIncident(s.owner, 'second');
    await s.worker.drain();
    expect(s.receiver.received[1]?.verifiedWith).toEqual([third.secret]);
  });

  it('when the receiver answers 500 then 200, then the retry comes after the schedule with the same webhook-id and the log shows both attempts', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    s.receiver.secrets = [ep.secret];
    s.receiver.replies.push({ status: 500, body: 'boom' });
    await createIncident(s.owner);
    const now = new Date();
    await s.worker.drain(now);
    expect(s.receiver.received).toHaveLength(1);
    await s.worker.drain(at(now, 4_000));
    expect(s.receiver.received).toHaveLength(1);
    await s.worker.drain(at(now, 5_000));
    expect(s.receiver.received).toHaveLength(2);
    expect(s.receiver.received[1]?.id).toBe(s.receiver.received[0]?.id);
    expect(s.receiver.received.every((r) => r.verifiedWith.length === 1)).toBe(true);
    const [d] = await deliveries(s.owner, s.tenantId, ep.id);
    const detail = await delivery(s.owner, s.tenantId, ep.id, d?.id ?? '');
    expect(detail).toMatchObject({ status: 'succeeded', attempts: 2, lastResponseStatus: 200, nextAttemptAt: null });
    expect(detail.attemptLog?.map((a) => [a.responseStatus, a.responseBodyExcerpt])).toEqual([[500, 'boom'], [200, 'ok']]);
  });

  it.each([
    ['2', 5_000, 4_000],
    ['600', 600_000, 599_000],
  ])('when the receiver answers 429 with Retry-After: %s, then it is retried no sooner', async (retryAfter, due, early) => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    s.receiver.replies.push({ status: 429, headers: { 'retry-after': retryAfter } });
    await createIncident(s.owner);
    const now = new Date();
    await s.worker.drain(now);
    const [d] = await deliveries(s.owner, s.tenantId, ep.id);
    expect(new Date(d?.nextAttemptAt ?? 0).getTime() - now.getTime()).toBe(due);
    expect(new Date(d?.nextAttemptAt ?? 0).getTime() - now.getTime()).toBeGreaterThanOrEqual(Number(retryAfter) * 1000);
    await s.worker.drain(at(now, early));
    expect(s.receiver.received).toHaveLength(1);
    await s.worker.drain(at(now, due));
    expect(s.receiver.received).toHaveLength(2);
  });

  it('when the receiver answers 410, then the endpoint is disabled at once, audited, and gets nothing more until re-enabled', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    s.receiver.replies.push({ status: 410 });
    await createIncident(s.owner);
    await s.worker.drain();
    const got = await s.owner.get(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}`);
    expect(got.body).toMatchObject({ enabled: false, disabledReason: 'The endpoint answered 410 Gone.', version: 2 });
    expect(await countRows(s.t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.disabled' AND actor_type = 'system'", [s.tenantId])).toBe(1);
    expect((await deliveries(s.owner, s.tenantId, ep.id))[0]?.status).toBe('failed');

    await createIncident(s.owner, 'while disabled');
    await s.worker.drain(at(new Date(), 3_600_000));
    expect(s.receiver.received).toHaveLength(1);

    const enabled = await s.owner.patch(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}`, { enabled: true }).set('If-Match', '"2"');
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null, version: 3 });
    await s.worker.drain();
    expect(s.receiver.received.map((r) => (JSON.parse(r.body) as { data: { incident: { title: string } } }).data.incident.title)).toEqual(['Checkout down', 'while disabled']);
  });

  it('when the receiver redirects, then the redirect is not followed and the attempt is a failure', async () => {
    const other = await new Receiver().start();
    try {
      const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
      s.receiver.replies.push({ status: 307, headers: { location: other.url } });
      await createIncident(s.owner);
      await s.worker.drain();
      expect(other.received).toHaveLength(0);
      const [d] = await deliveries(s.owner, s.tenantId, ep.id);
      const detail = await delivery(s.owner, s.tenantId, ep.id, d?.id ?? '');
      expect(detail).toMatchObject({ status: 'pending', attempts: 1, lastResponseStatus: 307 });
      expect(detail.attemptLog?.[0]?.error).toBe('Redirects are not followed.');
    } finally {
      await other.close();
    }
  });

  it('when every attempt fails for 5 days, then the endpoint is disabled with a reason and an audit row', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    for (let i = 0; i < 10; i++) s.receiver.replies.push({ status: 500 });
    await createIncident(s.owner);
    const now = new Date();
    await s.worker.drain(now);
    await s.worker.drain(at(now, 4 * 86_400_000));
    expect((await s.owner.get(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}`)).body).toMatchObject({ enabled: true });
    await s.worker.drain(at(now, 5 * 86_400_000 + 1000));
    expect((await s.owner.get(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}`)).body).toMatchObject({ enabled: false, disabledReason: 'Every delivery failed for 5 days.' });
    expect(await countRows(s.t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.disabled'", [s.tenantId])).toBe(1);
  });

  it('when a test event is sent, then only that endpoint gets a verified webhook.test and the event record does not hold it', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    const other = await createEndpoint(s.owner, s.tenantId, { url: `${s.receiver.url}/other` });
    s.receiver.secrets = [ep.secret];
    const res = await s.owner.post(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}/test`);
    expect(res.status).toBe(202);
    await s.worker.drain();
    expect(s.receiver.received).toHaveLength(1);
    expect(s.receiver.received[0]?.verifiedWith).toEqual([ep.secret]);
    expect(JSON.parse(s.receiver.received[0]?.body ?? '{}')).toMatchObject({ type: 'webhook.test', seq: null, data: { endpointId: ep.id } });
    expect(await eventsOf(s.tenantId)).toEqual([]);
    expect(await deliveries(s.owner, s.tenantId, other.id)).toEqual([]);
    expect((await delivery(s.owner, s.tenantId, ep.id, (res.body as { deliveryId: string }).deliveryId)).status).toBe('succeeded');
  });

  it('when events are replayed after a seq or a delivery is redelivered, then they go again with their original webhook-id, and both are audited', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url, eventTypes: ['incident.created'] });
    for (const title of ['a', 'b', 'c']) await createIncident(s.owner, title);
    await s.worker.drain();
    const events = await eventsOf(s.tenantId);
    const replayed = await s.owner.post(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}/replay`, { afterSeq: events[0]?.seq ?? 0 });
    expect(replayed.status).toBe(202);
    expect(replayed.body).toEqual({ queued: 2 });
    await s.worker.drain();
    expect(s.receiver.received.map((r) => r.id)).toEqual([...events.map((e) => e.id), events[1]?.id, events[2]?.id]);

    const first = (await deliveries(s.owner, s.tenantId, ep.id)).find((d) => d.eventId === events[0]?.id);
    const again = await s.owner.post(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}/deliveries/${first?.id ?? ''}/redeliver`);
    expect(again.status).toBe(202);
    await s.worker.drain();
    expect(s.receiver.received.at(-1)?.id).toBe(events[0]?.id);
    expect(await delivery(s.owner, s.tenantId, ep.id, first?.id ?? '')).toMatchObject({ status: 'succeeded', attempts: 2 });
    for (const action of ['webhook_endpoint.replayed', 'webhook_delivery.redelivered']) {
      expect(await countRows(s.t, 'audit_log_events', 'tenant_id = $1 AND action = $2', [s.tenantId, action])).toBe(1);
    }
  });

  it('when an endpoint is deleted, then its pending deliveries are dropped and nothing more is sent', async () => {
    const ep = await createEndpoint(s.owner, s.tenantId, { url: s.receiver.url });
    s.receiver.replies.push({ status: 500 });
    await createIncident(s.owner);
    await s.worker.drain();
    expect((await s.owner.delete(`/v1/tenants/${s.tenantId}/webhook-endpoints/${ep.id}`)).status).toBe(204);
    expect(await countRows(s.t, 'webhook_deliveries', 'tenant_id = $1', [s.tenantId])).toBe(0);
    await s.worker.drain(at(new Date(), 3_600_000));
    expect(s.receiver.received).toHaveLength(1);
  });
});

describe('SSRF guard at delivery time (WEBHOOK_ALLOW_PRIVATE_NETWORKS off in the worker)', () => {
  it.each([
    'http://127.0.0.1:PORT/hook',
    'http://localhost:PORT/hook',
    'http://[::1]:PORT/hook',
    'http://[::ffff:127.0.0.1]:PORT/hook',
    'http://10.0.0.1:PORT/hook',
    'http://169.254.169.254/latest/meta-data',
  ])('when the endpoint is %s, then no request is made and the attempt log says why', async (template) => {
    const guarded = deliveryWorker(s.t, { allowPrivateNetworks: false });
    guarded.tenantId = s.tenantId;
    try {
      const ep = await createEndpoint(s.owner, s.tenantId, { url: template.replace('PORT', new URL(s.receiver.url).port) });
      await createIncident(s.owner);
      await guarded.drain();
      expect(s.receiver.received).toHaveLength(0);
      const [d] = await deliveries(s.owner, s.tenantId, ep.id);
      const detail = await delivery(s.owner, s.tenantId, ep.id, d?.id ?? '');
      expect(detail.attemptLog?.[0]?.responseStatus).toBeNull();
      expect(detail.attemptLog?.[0]?.error).toMatch(/refused .*address/);
    } finally {
      await guarded.close();
    }
  });
});
