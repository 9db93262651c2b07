import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant, type SessionClient } from '../support/factories.js';
import { createTaskFor, openIncident, type ListBody } from '../incidents/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

/** Every id of a list, walking it one row per page. */
async function walk(client: SessionClient, path: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 20; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await client.get(`${path}${sep}limit=1${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const body = res.body as ListBody<{ id: string }>;
    ids.push(...body.data.map((r) => r.id));
    cursor = body.nextCursor;
    if (cursor === null) return ids;
  }
  throw new Error(`${path}: more than 20 pages`);
}

/** Moves each row's created_at into one millisecond, a microsecond apart (as rows written by the database's now() can be). */
async function sameMillisecond(table: string, ids: string[]): Promise<void> {
  await t.db.withSystemTx((tx) =>
    tx.query(
      `UPDATE ${table} SET created_at = '2026-03-01T12:00:00.123Z'::timestamptz + (array_position($1::uuid[], id) * interval '1 microsecond')
        WHERE id = ANY($1::uuid[])`,
      [ids],
    ),
  );
}

describe('keyset pagination at microsecond precision', () => {
  it('when rows of a list differ only in microseconds, then paging one by one returns each exactly once, in order, newest and oldest first', async () => {
    const { owner } = await ownerWithTenant(t);
    const incidents = [await openIncident(owner), await openIncident(owner), await openIncident(owner)];
    const incidentIds = incidents.map((i) => i.id);
    await sameMillisecond('incidents', incidentIds);
    expect(await walk(owner, '/v1/incidents')).toEqual([...incidentIds].reverse());
    expect(await walk(owner, '/v1/incidents?severity=SEV2')).toEqual([...incidentIds].reverse());

    const incidentId = incidentIds[0] ?? '';
    const tasks = [await createTaskFor(owner, incidentId), await createTaskFor(owner, incidentId), await createTaskFor(owner, incidentId)];
    await sameMillisecond('tasks', tasks.map((x) => x.id));
    expect(await walk(owner, `/v1/incidents/${incidentId}/tasks`)).toEqual(tasks.map((x) => x.id).reverse());

    const notes: string[] = [];
    for (const message of ['one', 'two', 'three']) {
      const res = await owner.post(`/v1/incidents/${incidentId}/timeline-events`, { message });
      expect(res.status).toBe(201);
      notes.push((res.body as { id: string }).id);
    }
    await sameMillisecond('timeline_events', notes);
    const timeline = await walk(owner, `/v1/incidents/${incidentId}/timeline-events`);
    expect(timeline.filter((id) => notes.includes(id))).toEqual(notes);
  });
});
