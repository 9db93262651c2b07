import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { countRows, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { createEndpoint, createIncident, deliveries, delivery, deliveryWorker, Receiver } from './support.js';

let t: TestApp;
let worker: ReturnType<typeof deliveryWorker>;
let receiver: Receiver;
let owner: SessionClient;
let tenantId: string;

beforeAll(async () => {
  t = await createTestApp({ env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } });
  worker = deliveryWorker(t);
});
afterAll(async () => {
  await worker.close();
  await t.close();
});
beforeEach(async () => {
  receiver = await new Receiver().start();
  ({ owner, tenantId } = await ownerWithTenant(t));
  worker.tenantId = tenantId;
  return () => receiver.close();
});

const at = (base: Date, ms: number) => new Date(base.getTime() + ms);

async function eventsOf(tenant: string): Promise<{ id: string; seq: number; type: string }[]> {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ id: string; seq: string; type: string }>('SELECT id, seq, type FROM events WHERE tenant_id = $1 ORDER BY seq', [tenant]),
  );
  return rows.map((r) => ({ id: r.id, seq: Number(r.seq), type: r.type }));
}

describe('webhook delivery against a receiver verifying with standardwebhooks', () => {
  it('when incidents change, then every event is delivered once, signed, verified, with webhook-id = event id and the Event as body', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.secrets = [ep.secret];
    const incident = await createIncident(owner);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { status: 'identified' })).status).toBe(200);
    expect((await owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'Roll back' })).status).toBe(201);
    expect((await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'Rolled back' })).status).toBe(201);
    await worker.drain();

    const events = await eventsOf(tenantId);
    expect(events.map((e) => e.type)).toEqual(['incident.created', 'incident.status_changed', 'task.created', 'timeline_event.created']);
    const got = [...receiver.received].sort((a, b) => (JSON.parse(a.body) as { seq: number }).seq - (JSON.parse(b.body) as { seq: number }).seq);
    expect(got.map((r) => r.id)).toEqual(events.map((e) => e.id));
    for (const [i, r] of got.entries()) {
      expect(r.verifiedWith).toEqual([ep.secret]);
      expect(r.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      const body = JSON.parse(r.body) as { id: string; seq: number; type: string; data: Record<string, unknown> };
      expect(body).toMatchObject({ id: events[i]?.id, seq: events[i]?.seq, type: events[i]?.type });
    }
    const list = await deliveries(owner, tenantId, ep.id);
    expect(list.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    // A second run finds nothing more: the cursor moved past every event.
    await worker.drain();
    expect(receiver.received).toHaveLength(4);
  });

  it('when an endpoint subscribes to some types, then only those are delivered', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url, eventTypes: ['task.created'] });
    receiver.secrets = [ep.secret];
    const incident = await createIncident(owner);
    await owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'Page the DBA' });
    await worker.drain();
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['task.created']);
  });

  it('when the secret is rotated with an overlap, then old and new secret both verify; with no overlap only the new one does', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    const rotated = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}/rotate-secret`, { overlapSeconds: 3600 });
    expect(rotated.status).toBe(200);
    const next = (rotated.body as { secret: string }).secret;
    expect(next).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    receiver.secrets = [ep.secret, next];
    await createIncident(owner);
    await worker.drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.verifiedWith).toEqual([ep.secret, next]);
    expect(receiver.received[0]?.signature.split(' ')).toHaveLength(2);

    const third = (await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}/rotate-secret`, { overlapSeconds: 0 })).body as { secret: string };
    receiver.secrets = [ep.secret, next, third.secret];
    await createIncident(owner, 'second');
    await worker.drain();
    expect(receiver.received[1]?.verifiedWith).toEqual([third.secret]);
  });

  it('when the receiver answers 500 then 200, then the retry comes after the schedule with the same webhook-id and the log shows both attempts', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.secrets = [ep.secret];
    receiver.replies.push({ status: 500, body: 'boom' });
    await createIncident(owner);
    const now = new Date();
    await worker.drain(now);
    expect(receiver.received).toHaveLength(1);
    await worker.drain(at(now, 4_000));
    expect(receiver.received).toHaveLength(1);
    await worker.drain(at(now, 5_000));
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]?.id).toBe(receiver.received[0]?.id);
    expect(receiver.received.every((r) => r.verifiedWith.length === 1)).toBe(true);
    const [d] = await deliveries(owner, tenantId, ep.id);
    const detail = await delivery(owner, tenantId, ep.id, d?.id ?? '');
    expect(detail).toMatchObject({ status: 'succeeded', attempts: 2, lastResponseStatus: 200, nextAttemptAt: null });
    expect(detail.attemptLog?.map((a) => [a.responseStatus, a.responseBodyExcerpt])).toEqual([[500, 'boom'], [200, 'ok']]);
  });

  it.each([
    ['2', 5_000, 4_000],
    ['600', 600_000, 599_000],
  ])('when the receiver answers 429 with Retry-After: %s, then it is retried no sooner', async (retryAfter, due, early) => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.replies.push({ status: 429, headers: { 'retry-after': retryAfter } });
    await createIncident(owner);
    const now = new Date();
    await worker.drain(now);
    const [d] = await deliveries(owner, tenantId, ep.id);
    expect(new Date(d?.nextAttemptAt ?? 0).getTime() - now.getTime()).toBe(due);
    expect(new Date(d?.nextAttemptAt ?? 0).getTime() - now.getTime()).toBeGreaterThanOrEqual(Number(retryAfter) * 1000);
    await worker.drain(at(now, early));
    expect(receiver.received).toHaveLength(1);
    await worker.drain(at(now, due));
    expect(receiver.received).toHaveLength(2);
  });

  it('when the receiver answers 410, then the endpoint is disabled at once, audited, and gets nothing more until re-enabled', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.replies.push({ status: 410 });
    await createIncident(owner);
    await worker.drain();
    const got = await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}`);
    expect(got.body).toMatchObject({ enabled: false, disabledReason: 'The endpoint answered 410 Gone.', version: 2 });
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.disabled' AND actor_type = 'system'", [tenantId])).toBe(1);
    expect((await deliveries(owner, tenantId, ep.id))[0]?.status).toBe('failed');

    await createIncident(owner, 'while disabled');
    await worker.drain(at(new Date(), 3_600_000));
    expect(receiver.received).toHaveLength(1);

    const enabled = await owner.patch(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}`, { enabled: true }).set('If-Match', '"2"');
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null, version: 3 });
    await worker.drain();
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { data: { incident: { title: string } } }).data.incident.title)).toEqual(['Checkout down', 'while disabled']);
  });

  it('when the receiver redirects, then the redirect is not followed and the attempt is a failure', async () => {
    const other = await new Receiver().start();
    try {
      const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
      receiver.replies.push({ status: 307, headers: { location: other.url } });
      await createIncident(owner);
      await worker.drain();
      expect(other.received).toHaveLength(0);
      const [d] = await deliveries(owner, tenantId, ep.id);
      const detail = await delivery(owner, tenantId, ep.id, d?.id ?? '');
      expect(detail).toMatchObject({ status: 'pending', attempts: 1, lastResponseStatus: 307 });
      expect(detail.attemptLog?.[0]?.error).toBe('Redirects are not followed.');
    } finally {
      await other.close();
    }
  });

  it('when every attempt fails for 5 days, then the endpoint is disabled with a reason and an audit row', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    for (let i = 0; i < 10; i++) receiver.replies.push({ status: 500 });
    await createIncident(owner);
    const now = new Date();
    await worker.drain(now);
    await worker.drain(at(now, 4 * 86_400_000));
    expect((await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}`)).body).toMatchObject({ enabled: true });
    await worker.drain(at(now, 5 * 86_400_000 + 1000));
    expect((await owner.get(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}`)).body).toMatchObject({ enabled: false, disabledReason: 'Every delivery failed for 5 days.' });
    expect(await countRows(t, 'audit_log_events', "tenant_id = $1 AND action = 'webhook_endpoint.disabled'", [tenantId])).toBe(1);
  });

  it('when a test event is sent, then only that endpoint gets a verified webhook.test and the event record does not hold it', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    const other = await createEndpoint(owner, tenantId, { url: `${receiver.url}/other` });
    receiver.secrets = [ep.secret];
    const res = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}/test`);
    expect(res.status).toBe(202);
    await worker.drain();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.verifiedWith).toEqual([ep.secret]);
    expect(JSON.parse(receiver.received[0]?.body ?? '{}')).toMatchObject({ type: 'webhook.test', seq: null, data: { endpointId: ep.id } });
    expect(await eventsOf(tenantId)).toEqual([]);
    expect(await deliveries(owner, tenantId, other.id)).toEqual([]);
    expect((await delivery(owner, tenantId, ep.id, (res.body as { deliveryId: string }).deliveryId)).status).toBe('succeeded');
  });

  it('when events are replayed after a seq or a delivery is redelivered, then they go again with their original webhook-id, and both are audited', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url, eventTypes: ['incident.created'] });
    for (const title of ['a', 'b', 'c']) await createIncident(owner, title);
    await worker.drain();
    const events = await eventsOf(tenantId);
    const replayed = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}/replay`, { afterSeq: events[0]?.seq ?? 0 });
    expect(replayed.status).toBe(202);
    expect(replayed.body).toEqual({ queued: 2 });
    await worker.drain();
    expect(receiver.received.map((r) => r.id)).toEqual([...events.map((e) => e.id), events[1]?.id, events[2]?.id]);

    const first = (await deliveries(owner, tenantId, ep.id)).find((d) => d.eventId === events[0]?.id);
    const again = await owner.post(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}/deliveries/${first?.id ?? ''}/redeliver`);
    expect(again.status).toBe(202);
    await worker.drain();
    expect(receiver.received.at(-1)?.id).toBe(events[0]?.id);
    expect(await delivery(owner, tenantId, ep.id, first?.id ?? '')).toMatchObject({ status: 'succeeded', attempts: 2 });
    for (const action of ['webhook_endpoint.replayed', 'webhook_delivery.redelivered']) {
      expect(await countRows(t, 'audit_log_events', 'tenant_id = $1 AND action = $2', [tenantId, action])).toBe(1);
    }
  });

  it('when an endpoint is deleted, then its pending deliveries are dropped and nothing more is sent', async () => {
    const ep = await createEndpoint(owner, tenantId, { url: receiver.url });
    receiver.replies.push({ status: 500 });
    await createIncident(owner);
    await worker.drain();
    expect((await owner.delete(`/v1/tenants/${tenantId}/webhook-endpoints/${ep.id}`)).status).toBe(204);
    expect(await countRows(t, 'webhook_deliveries', 'tenant_id = $1', [tenantId])).toBe(0);
    await worker.drain(at(new Date(), 3_600_000));
    expect(receiver.received).toHaveLength(1);
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
    const guarded = deliveryWorker(t, { allowPrivateNetworks: false });
    guarded.tenantId = tenantId;
    try {
      const ep = await createEndpoint(owner, tenantId, { url: template.replace('PORT', new URL(receiver.url).port) });
      await createIncident(owner);
      await guarded.drain();
      expect(receiver.received).toHaveLength(0);
      const [d] = await deliveries(owner, tenantId, ep.id);
      const detail = await delivery(owner, tenantId, ep.id, d?.id ?? '');
      expect(detail.attemptLog?.[0]?.responseStatus).toBeNull();
      expect(detail.attemptLog?.[0]?.error).toMatch(/refused .*address/);
    } finally {
      await guarded.close();
    }
  });
});
