import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, insertApiKey, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { openIncident, type ListBody } from '../incidents/helpers.js';

let t: TestApp;
let small: TestApp;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 10, env: { DATABASE_CONNECTION_TIMEOUT_MS: '30000' } });
  small = await createTestApp({ env: { DAILY_WRITE_QUOTA: '2' } });
});
afterAll(async () => {
  await t.close();
  await small.close();
});

interface EventBody {
  id: string;
  seq: number;
  type: string;
  occurredAt: string;
  actor: { type: string; id: string | null };
  data: Record<string, unknown>;
}

async function eventsAfter(client: SessionClient, after: number, extra = ''): Promise<EventBody[]> {
  const res = await client.get(`/v1/events?after=${String(after)}&limit=100${extra}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as ListBody<EventBody>).data;
}

describe('GET /v1/events', () => {
  it('when 8 writers change one tenant while a reader polls ?after=, then the reader sees every committed change once, in ascending seq', async () => {
    const { owner } = await ownerWithTenant(t);
    const incidents = await Promise.all(Array.from({ length: 4 }, () => openIncident(owner)));
    const start = (await eventsAfter(owner, 0)).at(-1)?.seq ?? 0;
    const committed = new Set<string>();
    let refused = 0;
    let writing = true;

    const writer = async (w: number): Promise<void> => {
      const incident = incidents[w % incidents.length];
      if (!incident) return;
      for (let i = 0; i < 12; i += 1) {
        const path = `/v1/incidents/${incident.id}`;
        // A stale If-Match now and then: refused (412) and rolled back, so it must leave no event.
        const res =
          i % 4 === 3
            ? await owner.patch(path, { title: `stale ${String(w)}-${String(i)}` }).set('If-Match', '"1"')
            : i % 2 === 0
              ? await owner.post(`${path}/timeline-events`, { message: `w${String(w)} n${String(i)}` })
              : await owner.patch(path, { title: `w${String(w)} t${String(i)}` });
        if (res.status === 412) refused += 1;
        else {
          expect(res.status).toBeLessThan(300);
          const body = res.body as { id: string; version?: number };
          committed.add(body.version === undefined ? `note ${body.id}` : `incident ${body.id} v${String(body.version)}`);
        }
      }
    };

    const seen: EventBody[] = [];
    const reader = async (): Promise<void> => {
      let after = start;
      for (;;) {
        const last = !writing;
        const page = await eventsAfter(owner, after);
        for (const e of page) {
          // Nothing ever appears at or below a seq the reader has already passed.
          expect(e.seq).toBeGreaterThan(after);
          after = e.seq;
          seen.push(e);
        }
        if (last && page.length < 100) return;
      }
    };

    const reading = reader();
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    writing = false;
    await reading;

    expect(refused).toBeGreaterThan(0);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    const fromEvents = seen.map((e) => {
      if (e.type === 'timeline_event.created') return `note ${(e.data.timelineEvent as { id: string }).id}`;
      const incident = e.data.incident as { id: string; version: number };
      return `incident ${incident.id} v${String(incident.version)}`;
    });
    expect(new Set(fromEvents)).toEqual(committed);
    expect(fromEvents.length).toBe(committed.size);
  });

  it('when a write is over the daily quota, then it leaves no event', async () => {
    const { owner } = await ownerWithTenant(small);
    const incident = await openIncident(owner);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { title: 'second' })).status).toBe(200);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { title: 'third' })).status).toBe(429);
    expect((await eventsAfter(owner, 0)).map((e) => e.type)).toEqual(['incident.created', 'incident.updated']);
  });

  it('filters by types and incidentId, pages by cursor bound to its filters, and answers the Event shape', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const a = await openIncident(owner);
    const b = await openIncident(owner);
    for (let i = 0; i < 3; i += 1) await owner.post(`/v1/incidents/${a.id}/timeline-events`, { message: `n${String(i)}` }).expect(201);
    await owner.patch(`/v1/incidents/${b.id}`, { status: 'identified' }).expect(200);

    const all = await eventsAfter(owner, 0);
    expect(all).toHaveLength(6);
    expect(all[0]).toEqual({ id: expect.any(String) as string, seq: all[0]?.seq, type: 'incident.created', occurredAt: a.createdAt, actor: { type: 'user', id: owner.user?.id }, data: { incident: a } });
    expect((await eventsAfter(owner, 0, `&incidentId=${a.id}`)).map((e) => e.type)).toEqual(['incident.created', ...Array<string>(3).fill('timeline_event.created')]);
    expect((await eventsAfter(owner, 0, '&types=incident.created,incident.status_changed')).map((e) => e.type)).toEqual(['incident.created', 'incident.created', 'incident.status_changed']);

    const first = await owner.get('/v1/events?limit=4').expect(200);
    const page1 = first.body as ListBody<EventBody>;
    expect(page1.data.map((e) => e.seq)).toEqual(all.slice(0, 4).map((e) => e.seq));
    const second = (await owner.get(`/v1/events?limit=4&cursor=${page1.nextCursor ?? ''}`).expect(200)).body as ListBody<EventBody>;
    expect(second.data.map((e) => e.seq)).toEqual(all.slice(4).map((e) => e.seq));
    expect(second.nextCursor).toBeNull();
    expect((await owner.get(`/v1/events?limit=4&types=task.created&cursor=${page1.nextCursor ?? ''}`)).status).toBe(400);

    // A read-scoped key and a viewer read the same list; another tenant sees none of it.
    const key = await insertApiKey(t, tenantId, ['read']);
    const byKey = await t.request().get('/v1/events?limit=100').set('x-api-key', key).expect(200);
    expect((byKey.body as ListBody<EventBody>).data.map((e) => e.id)).toEqual(all.map((e) => e.id));
    const viewer = await addMember(t, tenantId, 'viewer');
    expect((await eventsAfter(viewer, 0)).map((e) => e.id)).toEqual(all.map((e) => e.id));
    const { owner: other } = await ownerWithTenant(t);
    expect(await eventsAfter(other, 0)).toEqual([]);
  });

  it.each([
    ['types=incident.exploded', 'types.0'],
    ['after=-1', 'after'],
    ['after=abc', 'after'],
    ['incidentId=nope', 'incidentId'],
    ['limit=101', 'limit'],
    ['after=1&cursor=abc', 'cursor'],
    ['cursor=not-a-cursor', 'cursor'],
  ])('when the query is %s, then 400 VALIDATION_FAILED naming %s', async (query, path) => {
    const { owner } = await ownerWithTenant(t);
    const res = await owner.get(`/v1/events?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [expect.objectContaining({ path }) as unknown] } });
  });
});

describe('API keys on event routes', () => {
  it('keys are accepted on every /v1/incidents/** and /v1/events/** route and on no route outside the API-key areas', () => {
    const keyAreas = /^\/v1\/(incidents|events|alerts|analytics)(\/|$)/;
    const routes = t.built.inventory.filter((r) => r.path.startsWith('/v1/'));
    expect(routes.filter((r) => /^\/v1\/(incidents|events)(\/|$)/.test(r.path) && !r.apiKeys)).toEqual([]);
    expect(routes.filter((r) => r.apiKeys && !keyAreas.test(r.path))).toEqual([]);
    expect(routes.filter((r) => r.path.startsWith('/v1/events')).map((r) => `${r.method} ${r.path}`).sort()).toEqual(['get /v1/events', 'get /v1/events/stream']);
  });
});
