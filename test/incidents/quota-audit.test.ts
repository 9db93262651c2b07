import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Queryable } from '../../src/platform/db/database.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { insertApiKey, ownerWithTenant } from '../support/factories.js';
import { auditActions, createTaskFor, MANY_USERS_ENV, openIncident, tenantState, type IncidentBody, type TaskBody } from './helpers.js';

let t: TestApp;
let small: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
  // A real pool and a patient connect timeout, so concurrent writes race in the database.
  small = await createTestApp({ env: { ...MANY_USERS_ENV, DAILY_WRITE_QUOTA: '3', DATABASE_CONNECTION_TIMEOUT_MS: '30000' }, poolMax: 10 });
});
afterAll(async () => {
  await t.close();
  await small.close();
});

async function metadataOf(app: TestApp, tenantId: string, action: string): Promise<Record<string, unknown>[]> {
  const { rows } = await app.db.withSystemTx((tx) =>
    tx.query<{ metadata: Record<string, unknown> }>('SELECT metadata FROM audit_log_events WHERE tenant_id = $1 AND action = $2 ORDER BY seq', [tenantId, action]),
  );
  return rows.map((r) => r.metadata);
}

describe('daily write quota', () => {
  it('when writes succeed, then they carry quota headers counting down; reads carry none', async () => {
    const { owner } = await ownerWithTenant(small);
    const created = await owner.post('/v1/incidents', { title: 'q', severity: 'SEV3' });
    expect(created.headers['x-quota-limit']).toBe('3');
    expect(created.headers['x-quota-remaining']).toBe('2');
    const reset = Number(created.headers['x-quota-reset']);
    const nextMidnight = new Date();
    nextMidnight.setUTCHours(24, 0, 0, 0);
    expect(reset).toBe(nextMidnight.getTime() / 1000);
    const id = (created.body as IncidentBody).id;
    const patched = await owner.patch(`/v1/incidents/${id}`, { severity: 'SEV2' });
    expect(patched.headers['x-quota-remaining']).toBe('1');
    const read = await owner.get(`/v1/incidents/${id}`);
    expect(read.headers['x-quota-limit']).toBeUndefined();
  });

  it('when the quota is used up, then 429 QUOTA_EXCEEDED with Retry-After and details, and nothing is written', async () => {
    const { owner, tenantId } = await ownerWithTenant(small);
    const incident = await openIncident(owner);
    // Failed writes (validation, not found, refused transition) use no quota.
    expect((await owner.post('/v1/incidents', { title: '', severity: 'SEV3' })).status).toBe(400);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { status: 'monitoring' })).status).toBe(409);
    expect((await owner.post('/v1/incidents/00000000-0000-4000-8000-000000000000/tasks', { title: 'x' })).status).toBe(404);
    await createTaskFor(owner, incident.id);
    const third = await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'third write' });
    expect(third.status).toBe(201);
    expect(third.headers['x-quota-remaining']).toBe('0');

    const before = await tenantState(small, tenantId);
    const over = await owner.patch(`/v1/incidents/${incident.id}`, { title: 'over quota' });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { limit: 3, used: 3, resetAt: expect.any(String) as string } });
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(over.headers['x-quota-remaining']).toBe('0');
    const after = await tenantState(small, tenantId);
    // Only the once-a-day quota.exceeded audit row is added; the refused write itself left nothing.
    expect({ ...after, audit_rows: before?.audit_rows }).toEqual(before);
    expect((await auditActions(small, tenantId)).slice(-1)).toEqual(['quota.exceeded']);
    expect(((await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody).title).toBe(incident.title);
  });

  it('when the quota is used up, then the metered handler never runs: no statement of it reaches the database', async () => {
    const { owner } = await ownerWithTenant(small);
    const incident = await openIncident(owner);
    await createTaskFor(owner, incident.id);
    expect((await owner.patch(`/v1/incidents/${incident.id}`, { severity: 'SEV1' })).status).toBe(200);

    const statements: string[] = [];
    const record = (tx: Queryable): Queryable => ({ ...tx, query: (sql, params) => (statements.push(sql), tx.query(sql, params)) });
    const original = small.db.withAppTx.bind(small.db);
    const appTx = vi.spyOn(small.db, 'withAppTx').mockImplementation((settings, fn) => original(settings, (tx, opened) => fn(record(tx), opened)));
    try {
      const over = await owner.patch(`/v1/incidents/${incident.id}`, { severity: 'SEV2' });
      expect(over.status).toBe(429);
    } finally {
      appTx.mockRestore();
    }
    // The refusal's own transaction (quota.exceeded) ran; the handler's lock, update and audit did not.
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter((sql) => /\bincidents\b|timeline_events/.test(sql))).toEqual([]);
  });

  it('when 23 creates race for a quota of 3, then exactly 3 succeed with numbers 1..3 and 20 get 429', async () => {
    const { owner, tenantId } = await ownerWithTenant(small);
    const results = await Promise.all(Array.from({ length: 23 }, (_, i) => owner.post('/v1/incidents', { title: `race ${i}`, severity: 'SEV4' })));
    const ok = results.filter((r) => r.status === 201);
    expect(ok.map((r) => (r.body as IncidentBody).number).sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
    expect(await tenantState(small, tenantId)).toMatchObject({ incidents: 3, quota_used: 3 });
  });

  it('counts API-key writes against the same tenant quota', async () => {
    const { owner, tenantId } = await ownerWithTenant(small);
    const key = await insertApiKey(small, tenantId, ['write']);
    await openIncident(owner);
    await openIncident(owner);
    const third = await small.request().post('/v1/incidents').set('x-api-key', key).send({ title: 'bot', severity: 'SEV4' });
    expect(third.status).toBe(201);
    const fourth = await small.request().post('/v1/incidents').set('x-api-key', key).send({ title: 'bot', severity: 'SEV4' });
    expect(fourth.status).toBe(429);
    expect(await tenantState(small, tenantId)).toMatchObject({ incidents: 3, quota_used: 3 });
  });
});

describe('audit of incident mutations', () => {
  it('when each kind of mutation succeeds, then it leaves exactly one audit row of its action, in the same order', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const start = (await auditActions(t, tenantId)).length;
    const incident = await openIncident(owner, { severity: 'SEV3' });
    await owner.patch(`/v1/incidents/${incident.id}`, { title: 'Renamed', severity: 'SEV1' });
    await owner.post(`/v1/incidents/${incident.id}/timeline-events`, { message: 'note' });
    const task = await createTaskFor(owner, incident.id);
    await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { status: 'done' });
    await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'fyi', visibility: 'internal' });
    expect((await auditActions(t, tenantId)).slice(start)).toEqual([
      'incident.created',
      'incident.updated',
      'timeline_event.created',
      'task.created',
      'task.updated',
      'status_update.created',
    ]);
    expect(await metadataOf(t, tenantId, 'incident.updated')).toEqual([
      { changes: { title: { from: incident.title, to: 'Renamed' }, severity: { from: 'SEV3', to: 'SEV1' } }, version: 2 },
    ]);
    expect(await metadataOf(t, tenantId, 'task.updated')).toEqual([
      { incidentId: incident.id, changes: { status: { from: 'open', to: 'done' } }, version: 2 },
    ]);
  });

  it('when a status update moves the incident, then it is audited as status_update.created and incident.updated', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const start = (await auditActions(t, tenantId)).length;
    await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'fixed', visibility: 'public', status: 'resolved' });
    expect((await auditActions(t, tenantId)).slice(start)).toEqual(['incident.updated', 'status_update.created']);
    expect((await metadataOf(t, tenantId, 'incident.updated'))[0]).toMatchObject({ changes: { status: { from: 'investigating', to: 'resolved' } } });
  });

  it('when a mutation fails, then it leaves no audit row', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const task = await createTaskFor(owner, incident.id);
    const before = await auditActions(t, tenantId);
    const failures = [
      await owner.patch(`/v1/incidents/${incident.id}`, { status: 'monitoring' }),
      await owner.patch(`/v1/incidents/${incident.id}`, { title: 'stale' }).set('If-Match', '"9"'),
      await owner.patch(`/v1/incidents/${incident.id}`, { commanderId: '00000000-0000-4000-8000-000000000000' }),
      await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'x', visibility: 'public', status: 'monitoring' }),
      await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { title: 'stale' }).set('If-Match', '"5"'),
      await owner.post(`/v1/incidents/${incident.id}/status-updates`, { message: 'x', visibility: 'secret' }),
      await owner.post(`/v1/incidents/${incident.id}/tasks`, { title: 'x', assigneeId: '00000000-0000-4000-8000-000000000000' }),
    ];
    expect(failures.map((r) => r.status)).toEqual([409, 412, 400, 409, 412, 400, 400]);
    expect(await auditActions(t, tenantId)).toEqual(before);
  });

  it('records a service account as the actor of API-key writes', async () => {
    const { tenantId } = await ownerWithTenant(t);
    const key = await insertApiKey(t, tenantId, ['write']);
    const res = await t.request().post('/v1/incidents').set('x-api-key', key).send({ title: 'bot', severity: 'SEV4' });
    expect(res.status).toBe(201);
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ actor_type: string; actor_id: string; target_id: string }>(
        "SELECT actor_type, actor_id, target_id FROM audit_log_events WHERE tenant_id = $1 AND action = 'incident.created'",
        [tenantId],
      ),
    );
    expect(rows).toEqual([{ actor_type: 'service_account', actor_id: (res.body as IncidentBody).createdBy.id, target_id: (res.body as IncidentBody).id }]);
    expect((res.body as IncidentBody).createdBy.type).toBe('service_account');
  });

  it('keeps the task and version intact when a task PATCH fails', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const task: TaskBody = await createTaskFor(owner, incident.id);
    const before = await tenantState(t, tenantId);
    const res = await owner.patch(`/v1/incidents/${incident.id}/tasks/${task.id}`, { assigneeId: '00000000-0000-4000-8000-000000000000' });
    expect(res.status).toBe(400);
    expect(await tenantState(t, tenantId)).toEqual(before);
  });
});
