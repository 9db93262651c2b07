import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { ownerWithTenant, type SessionClient } from '../support/factories.js';
import { createTaskFor, openIncident, type IncidentBody, type ListBody, type TaskBody, type TimelineEventBody, MANY_USERS_ENV } from './helpers.js';

let t: TestApp;
const clock = new FakeClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

async function list(client: SessionClient, query: string): Promise<IncidentBody[]> {
  const res = await client.get(`/v1/incidents?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body as ListBody<IncidentBody>).data;
}

describe('incident list filters', () => {
  let owner: SessionClient;
  const ids: Record<string, string> = {};
  const createdAt: Record<string, string> = {};

  beforeAll(async () => {
    ({ owner } = await ownerWithTenant(t));
    const seed: [string, Record<string, unknown>, string[]][] = [
      ['A', { title: 'Database outage on primary', severity: 'SEV1' }, []],
      ['B', { title: 'Checkout latency', severity: 'SEV2' }, ['identified']],
      ['C', { title: 'Database replica lag', description: 'Some checkout impact', severity: 'SEV2' }, ['resolved']],
      ['D', { title: 'Login errors', severity: 'SEV3' }, ['identified', 'monitoring']],
    ];
    for (const [name, body, steps] of seed) {
      clock.advance(1000);
      const incident = await openIncident(owner, body);
      ids[name] = incident.id;
      createdAt[name] = incident.createdAt;
      for (const status of steps) expect((await owner.patch(`/v1/incidents/${incident.id}`, { status })).status).toBe(200);
    }
  });

  const names = (rows: IncidentBody[]) => rows.map((r) => Object.keys(ids).find((k) => ids[k] === r.id));

  it('lists every incident newest first without filters', async () => {
    expect(names(await list(owner, ''))).toEqual(['D', 'C', 'B', 'A']);
  });

  it.each([
    ['status=investigating,identified', ['B', 'A']],
    ['status=investigating&status=resolved', ['C', 'A']],
    ['severity=SEV2', ['C', 'B']],
    ['severity=SEV1,SEV3', ['D', 'A']],
    ['severity=SEV2&status=resolved', ['C']],
    ['severity=SEV2&status=investigating', []],
    ['q=database', ['C', 'A']],
    ['q=checkout', ['C', 'B']],
    ['q=database&severity=SEV1', ['A']],
    ['q=database%20-replica', ['A']],
    ['q=%22replica%20lag%22&status=resolved', ['C']],
  ])('when filtered by %s, then exactly the matching incidents come back', async (query, expected) => {
    expect(names(await list(owner, query))).toEqual(expected);
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive), combined with the others', async () => {
    expect(names(await list(owner, `createdAfter=${createdAt.B}`))).toEqual(['D', 'C', 'B']);
    expect(names(await list(owner, `createdBefore=${createdAt.C}`))).toEqual(['B', 'A']);
    expect(names(await list(owner, `createdAfter=${createdAt.B}&createdBefore=${createdAt.D}`))).toEqual(['C', 'B']);
    expect(names(await list(owner, `createdAfter=${createdAt.B}&severity=SEV2&q=checkout&status=identified`))).toEqual(['B']);
  });

  it('keeps filters across pages', async () => {
    const first = await owner.get('/v1/incidents?severity=SEV2,SEV1&limit=2');
    const body = first.body as ListBody<IncidentBody>;
    expect(names(body.data)).toEqual(['C', 'B']);
    expect(body.nextCursor).not.toBeNull();
    const second = await owner.get(`/v1/incidents?severity=SEV2,SEV1&limit=2&cursor=${body.nextCursor ?? ''}`);
    expect(names((second.body as ListBody<IncidentBody>).data)).toEqual(['A']);
    expect((second.body as ListBody<IncidentBody>).nextCursor).toBeNull();
  });

  it('when a cursor is reused with different filters, then 400 VALIDATION_FAILED on cursor; the same filters in another order or form keep it', async () => {
    const first = (await owner.get('/v1/incidents?severity=SEV2,SEV1&limit=2').expect(200)).body as ListBody<IncidentBody>;
    const cursor = first.nextCursor ?? '';
    expect(cursor).not.toBe('');
    for (const other of ['', 'severity=SEV2', 'severity=SEV2,SEV1&q=checkout', 'severity=SEV2,SEV1&status=resolved', `severity=SEV2,SEV1&createdAfter=${createdAt.A}`]) {
      const res = await owner.get(`/v1/incidents?${other}&limit=2&cursor=${cursor}`);
      expect(res.status, other).toBe(400);
      const body = res.body as { code: string; details: { fields: { path: string }[] } };
      expect(body.code).toBe('VALIDATION_FAILED');
      expect(body.details.fields.map((f) => f.path)).toEqual(['cursor']);
    }
    // Page size is not a filter; the order and form of multi-value filters do not matter.
    for (const same of ['severity=SEV1,SEV2&limit=1', 'severity=SEV1&severity=SEV2&limit=5']) {
      const res = await owner.get(`/v1/incidents?${same}&cursor=${cursor}`);
      expect(res.status, same).toBe(200);
      expect(names((res.body as ListBody<IncidentBody>).data)).toEqual(['A']);
    }
  });

  it.each([['status=open'], ['severity=SEV9'], ['limit=0'], ['limit=101'], ['cursor=not-a-cursor'], ['createdAfter=yesterday'], ['sort=title']])(
    'rejects %s with 400 VALIDATION_FAILED',
    async (query) => {
      const res = await owner.get(`/v1/incidents?${query}`);
      expect(res.status).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    },
  );

  it('never lists another tenant’s incidents', async () => {
    const other = await ownerWithTenant(t);
    await openIncident(other.owner, { title: 'Database outage elsewhere' });
    expect(names(await list(owner, 'q=database'))).toEqual(['C', 'A']);
    expect(await list(other.owner, 'q=replica')).toEqual([]);
  });
});

describe('keyset pagination', () => {
  it('when all pages of 250 incidents are walked with limit=7 while new ones are created, then each comes back once, in order', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const base = new Date(clock.now().getTime() - 3_600_000);
    // Seeded directly so that groups of three share a created_at and the id tie-break is exercised.
    await t.db.withSystemTx(async (tx) => {
      await tx.query(
        `INSERT INTO incidents (tenant_id, number, title, severity, status, created_by_type, created_by_id, started_at, created_at, updated_at)
         SELECT $1, g, 'Seeded ' || g, 'SEV3', 'investigating', 'user', $2, x.ts, x.ts, x.ts
           FROM generate_series(1, 250) AS g, LATERAL (SELECT $3::timestamptz + (g / 3) * interval '1 millisecond') AS x(ts)`,
        [tenantId, owner.user?.id, base],
      );
      await tx.query('UPDATE tenants SET incident_seq = 250 WHERE id = $1', [tenantId]);
    });

    const walk = { done: false };
    const created: string[] = [];
    const creator = (async () => {
      while (!walk.done) {
        const res = await owner.post('/v1/incidents', { title: 'Arrived during the walk', severity: 'SEV4' });
        expect(res.status).toBe(201);
        created.push((res.body as IncidentBody).id);
      }
    })();

    const seen: IncidentBody[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await owner.get(`/v1/incidents?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status).toBe(200);
      const body = res.body as ListBody<IncidentBody>;
      expect(body.data.length).toBeLessThanOrEqual(7);
      seen.push(...body.data);
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor);
    walk.done = true;
    await creator;

    expect(created.length).toBeGreaterThan(0);
    const seeded = seen.filter((i) => i.title.startsWith('Seeded '));
    expect(seeded).toHaveLength(250);
    expect(new Set(seen.map((i) => i.id)).size).toBe(seen.length);
    expect(seeded.map((i) => i.number).sort((a, b) => a - b)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1] as IncidentBody, seen[i] as IncidentBody];
      const ordered = a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
      expect(ordered, `${a.id} before ${b.id}`).toBe(true);
    }
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(250 / 7));
  });
});

describe('sub-resource lists', () => {
  it('lists timeline events oldest first across pages, and tasks and status updates newest first', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const notes: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      const res = await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: `note ${i}` });
      expect(res.status).toBe(201);
      notes.push((res.body as TimelineEventBody).id);
    }
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await owner.get(`/v1/incidents/${incident.id}/timeline-events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const body = res.body as ListBody<TimelineEventBody>;
      walked.push(...body.data.map((e) => e.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(walked).toEqual(notes);

    const tasks: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      tasks.push((await createTaskFor(owner, incident.id, { title: `task ${i}` })).id);
    }
    const page1 = (await owner.get(`/v1/incidents/${incident.id}/tasks?limit=2`)).body as ListBody<TaskBody>;
    const page2 = (await owner.get(`/v1/incidents/${incident.id}/tasks?limit=2&cursor=${page1.nextCursor ?? ''}`)).body as ListBody<TaskBody>;
    expect([...page1.data, ...page2.data].map((x) => x.id)).toEqual([...tasks].reverse());
    expect(page2.nextCursor).toBeNull();

    const updates: string[] = [];
    for (const visibility of ['internal', 'public', 'internal']) {
      clock.advance(1000);
      const res = await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: `update ${visibility}`, visibility });
      updates.push((res.body as { id: string }).id);
    }
    const su = (await owner.get(`/v1/incidents/${incident.id}/status-updates?limit=10`)).body as ListBody<{ id: string }>;
    expect(su.data.map((x) => x.id)).toEqual([...updates].reverse());
    expect(su.nextCursor).toBeNull();
  });

  it("when a sub-resource list's cursor is used on another incident's list, then 400 VALIDATION_FAILED", async () => {
    const { owner } = await ownerWithTenant(t);
    const a = await openIncident(owner);
    const b = await openIncident(owner);
    for (let i = 0; i < 3; i++) {
      await createTaskFor(owner, a.id);
      await createTaskFor(owner, b.id);
    }
    const page1 = (await owner.get(`/v1/incidents/${a.id}/tasks?limit=2`).expect(200)).body as ListBody<TaskBody>;
    expect(page1.nextCursor).not.toBeNull();
    expect((await owner.get(`/v1/incidents/${a.id}/tasks?limit=2&cursor=${page1.nextCursor ?? ''}`)).status).toBe(200);
    const res = await owner.get(`/v1/incidents/${b.id}/tasks?limit=2&cursor=${page1.nextCursor ?? ''}`);
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it('rejects a bad limit or cursor on sub-resource lists with 400', async () => {
    const { owner } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    for (const path of ['timeline-events?limit=0', 'tasks?cursor=%%%', `status-updates?cursor=${Buffer.from(JSON.stringify({ t: 'x', i: randomUUID() })).toString('base64url')}`]) {
      const res = await owner.get(`/v1/incidents/${incident.id}/${path}`);
      expect(res.status, path).toBe(400);
    }
  });
});
