/**
 * GET /v1/alerts: its filters (status, source, incident) and the page cursor, which is bound to
 * the filters it was issued with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { MANY_USERS_ENV } from '../incidents/helpers.js';
import { createSource, sendEvent, trigger, type AlertBody } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

interface Page {
  data: AlertBody[];
  nextCursor: string | null;
}

describe('GET /v1/alerts', () => {
  it('when filtered by status, source or incident, then only matching alerts come back, and a cursor pages within its filters only', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const first = await createSource(owner, tenantId, { name: 'First' });
    const second = await createSource(owner, tenantId, { name: 'Second', groupingWindowSeconds: 0 });
    for (const key of ['a', 'b', 'c']) expect((await sendEvent(t, trigger(first.routingKey, key))).status).toBe(202);
    expect((await sendEvent(t, trigger(second.routingKey, 'x'))).status).toBe(202);
    expect((await sendEvent(t, { routing_key: first.routingKey, event_action: 'resolve', dedup_key: 'b' })).status).toBe(202);

    const list = async (query: string): Promise<Page> => (await owner.get(`/v1/alerts${query}`).expect(200)).body as Page;
    const keys = (page: Page) => page.data.map((a) => a.dedupKey);
    expect(keys(await list(''))).toEqual(['x', 'c', 'b', 'a']);
    expect(keys(await list(`?sourceId=${first.id}`))).toEqual(['c', 'b', 'a']);
    expect(keys(await list('?status=resolved'))).toEqual(['b']);
    expect(keys(await list(`?status=triggered&sourceId=${first.id}`))).toEqual(['c', 'a']);
    const x = (await list(`?sourceId=${second.id}`)).data[0] as AlertBody;
    expect(keys(await list(`?incidentId=${x.incidentId ?? ''}`))).toEqual(['x']);

    const page1 = await list(`?sourceId=${first.id}&limit=2`);
    expect(keys(page1)).toEqual(['c', 'b']);
    const cursor = page1.nextCursor ?? '';
    expect(keys(await list(`?sourceId=${first.id}&limit=2&cursor=${cursor}`))).toEqual(['a']);
    const reused = await owner.get(`/v1/alerts?limit=2&cursor=${cursor}`);
    expect(reused.status).toBe(400);
    expect(reused.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ path: 'cursor' }] } });
  });

  it('when a filter is malformed or unknown, then 400 VALIDATION_FAILED names it', async () => {
    const { owner } = await ownerWithTenant(t);
    for (const [query, path] of [
      ['?status=open', 'status'],
      ['?sourceId=not-a-uuid', 'sourceId'],
      ['?severity=critical', ''],
      ['?limit=0', 'limit'],
    ] as const) {
      const res = await owner.get(`/v1/alerts${query}`);
      expect(res.status, query).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
      if (path !== '') expect(JSON.stringify(res.body), query).toContain(`"path":"${path}"`);
    }
  });
});
