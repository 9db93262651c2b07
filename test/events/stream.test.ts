import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, createApiKey, insertApiKey, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { openIncident } from '../incidents/helpers.js';
import { signedInBrowser, SseClient } from './sse-client.js';

let nodeA: TestApp;
let nodeB: TestApp;
const servers: Server[] = [];
let originA = '';
let originB = '';

function listen(t: TestApp): Promise<string> {
  const server = t.app.listen(0, '127.0.0.1');
  servers.push(server);
  return new Promise((resolve) => server.once('listening', () => {
    resolve(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}`);
  }));
}

beforeAll(async () => {
  // Two app instances on one database: on the PostgreSQL lane two pools, two listeners, two hubs.
  nodeA = await createTestApp({ eventStreams: { keepAliveMs: 100 } });
  nodeB = await createTestApp({ eventStreams: { recheckIntervalMs: 200 } });
  originA = await listen(nodeA);
  originB = await listen(nodeB);
});
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await nodeA.close();
  await nodeB.close();
});

async function note(client: SessionClient, incidentId: string, message: string): Promise<void> {
  const res = await client.post(`/v1/incidents/${incidentId}/timeline-events`, { message });
  expect(res.status).toBe(201);
}

describe('GET /v1/events/stream', () => {
  it('when opened, then it answers text/event-stream with retry first, id/event/data frames and keep-alive comments', async () => {
    const { owner, tenantId } = await ownerWithTenant(nodeA);
    const key = await insertApiKey(nodeA, tenantId, ['read']);
    const stream = await SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-store');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    const incident = await openIncident(owner);
    const [event] = await stream.waitForEvents(1);
    expect(stream.retry).toBe(3000);
    expect(event?.id).toBe(String(event?.data.seq));
    expect(event?.event).toBe('incident.created');
    expect(event?.data).toMatchObject({ type: 'incident.created', data: { incident } });
    await stream.until(() => stream.comments.includes('keep-alive'));
    expect(stream.comments).toContain('keep-alive');
    stream.close();
  });

  it('when a client reconnects with Last-Event-ID after 200 events, then it gets exactly those 200, in order, then live ones', async () => {
    const { owner, tenantId } = await ownerWithTenant(nodeA);
    const incident = await openIncident(owner);
    const key = await insertApiKey(nodeA, tenantId, ['read']);
    const first = await SseClient.open(`${originA}/v1/events/stream?after=0`, { 'x-api-key': key });
    const [created] = await first.waitForEvents(1);
    first.close();
    await first.ended;

    for (let i = 0; i < 200; i += 1) await note(owner, incident.id, `note ${String(i)}`);
    const again = await SseClient.open(`${originB}/v1/events/stream`, { 'x-api-key': key, 'last-event-id': created?.id ?? '' });
    await again.waitForEvents(200);
    expect(again.events.map((e) => (e.data.data.timelineEvent as { message: string }).message)).toEqual(Array.from({ length: 200 }, (_, i) => `note ${String(i)}`));
    const seqs = again.events.map((e) => e.data.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(seqs[0]).toBeGreaterThan(created?.data.seq ?? Infinity);
    await note(owner, incident.id, 'live');
    await again.waitForEvents(201);
    expect(again.events.map((e) => (e.data.data.timelineEvent as { message: string }).message).slice(200)).toEqual(['live']);
    again.close();
  });

  it('when node A commits, then a subscriber on node B receives it; another tenant subscriber never does', async () => {
    const a = await ownerWithTenant(nodeA);
    const b = await ownerWithTenant(nodeA);
    const onB = await SseClient.open(`${originB}/v1/events/stream`, { 'x-api-key': await insertApiKey(nodeB, a.tenantId, ['read']) });
    const otherTenant = await SseClient.open(`${originB}/v1/events/stream`, { 'x-api-key': await insertApiKey(nodeB, b.tenantId, ['read']) });
    const incident = await openIncident(a.owner);
    for (let i = 0; i < 5; i += 1) await note(a.owner, incident.id, `a${String(i)}`);
    await onB.waitForEvents(6);
    expect(onB.events.map((e) => e.event)).toEqual(['incident.created', ...Array<string>(5).fill('timeline_event.created')]);
    // The marker: tenant B's own event arrives after all of A's were committed, and alone.
    const marker = await openIncident(b.owner);
    await otherTenant.waitForEvents(1);
    expect(otherTenant.events.map((e) => e.data.data.incident)).toEqual([marker]);
    onB.close();
    otherTenant.close();
  });

  it('filters the stream by types and incidentId', async () => {
    const { owner, tenantId } = await ownerWithTenant(nodeA);
    const x = await openIncident(owner);
    const key = await insertApiKey(nodeA, tenantId, ['read']);
    const stream = await SseClient.open(`${originA}/v1/events/stream?after=0&types=timeline_event.created&incidentId=${x.id}`, { 'x-api-key': key });
    const y = await openIncident(owner);
    await note(owner, y.id, 'other incident');
    await note(owner, x.id, 'this one');
    await stream.waitForEvents(1);
    expect(stream.events.map((e) => (e.data.data.timelineEvent as { message: string }).message)).toEqual(['this one']);
    stream.close();
  });

  it('when the session logs out, then its stream ends at the next credential check; a live session keeps streaming', async () => {
    const { owner } = await ownerWithTenant(nodeB);
    const browser = await signedInBrowser(nodeB, owner.user?.email ?? '');
    const keeper = await signedInBrowser(nodeB, owner.user?.email ?? '');
    const ending = await SseClient.open(`${originB}/v1/events/stream`, { cookie: browser.cookie });
    const staying = await SseClient.open(`${originB}/v1/events/stream`, { cookie: keeper.cookie });
    expect([ending.status, staying.status]).toEqual([200, 200]);
    expect((await browser.client.post('/v1/auth/logout')).status).toBe(204);
    // The check runs every 200 ms on node B (60 s at most in production).
    await ending.ended;
    await nodeB.built.eventHub.recheckAll();
    const incident = await openIncident(owner);
    await staying.waitForEvents(1);
    expect(staying.events[0]?.data.data.incident).toEqual(incident);
    expect(ending.events).toEqual([]);
    staying.close();
  });

  it('when a member is removed or a key revoked, then their streams end', async () => {
    const { owner, tenantId } = await ownerWithTenant(nodeB);
    const member = await addMember(nodeB, tenantId, 'member');
    const memberBrowser = await signedInBrowser(nodeB, member.user?.email ?? '');
    const issued = await createApiKey(owner, tenantId, { scopes: ['read'] });
    const memberStream = await SseClient.open(`${originB}/v1/events/stream`, { cookie: memberBrowser.cookie });
    const keyStream = await SseClient.open(`${originB}/v1/events/stream`, { 'x-api-key': issued.key });
    expect([memberStream.status, keyStream.status]).toEqual([200, 200]);
    expect((await owner.delete(`/v1/tenants/${tenantId}/members/${member.user?.id ?? ''}`)).status).toBe(204);
    expect((await owner.post(`/v1/tenants/${tenantId}/api-keys/${issued.id}/revoke`)).status).toBe(200);
    await memberStream.ended;
    await keyStream.ended;
  });

  it('when the node shuts down, then its streams end cleanly so clients reconnect elsewhere', async () => {
    const other = await createTestApp();
    const origin = await listen(other);
    const { tenantId } = await ownerWithTenant(other);
    const stream = await SseClient.open(`${origin}/v1/events/stream`, { 'x-api-key': await insertApiKey(other, tenantId, ['read']) });
    expect(stream.status).toBe(200);
    await other.built.eventHub.close();
    await stream.ended;
    await other.close();
  });

  it('refuses the 101st open stream of a tenant with 429 RATE_LIMITED, and takes a new one once one closes', async () => {
    const { tenantId } = await ownerWithTenant(nodeA);
    const key = await insertApiKey(nodeA, tenantId, ['read']);
    const open = await Promise.all(Array.from({ length: 100 }, () => SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key })));
    expect(open.every((s) => s.status === 200)).toBe(true);
    const refused = await SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key });
    expect(refused.status).toBe(429);
    await refused.ended;
    expect(refused.errorBody).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    open[0]?.close();
    await open[0]?.ended;
    // The slot is released when the server sees the close; retry until it has.
    let next = await SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key });
    while (next.status === 429) next = await SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key });
    expect(next.status).toBe(200);
    for (const s of [...open, next]) s.close();
  });

  it('answers 400 for a Last-Event-ID that is not a seq, and 401 without credentials', async () => {
    const { tenantId } = await ownerWithTenant(nodeA);
    const key = await insertApiKey(nodeA, tenantId, ['read']);
    const bad = await SseClient.open(`${originA}/v1/events/stream`, { 'x-api-key': key, 'last-event-id': 'yesterday' });
    await bad.ended;
    expect(bad.status).toBe(400);
    expect(bad.errorBody).toMatchObject({ code: 'VALIDATION_FAILED' });
    const anonymous = await SseClient.open(`${originA}/v1/events/stream`);
    await anonymous.ended;
    expect(anonymous.status).toBe(401);
  });
});
