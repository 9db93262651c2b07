import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ABANDONED_CLAIM_MS, requestFingerprint } from '../../src/platform/http/idempotency.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { addMember, insertApiKey, ownerWithTenant, type SessionClient } from '../support/factories.js';
import { auditCount, openIncident, tenantState, type IncidentBody, MANY_USERS_ENV } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: MANY_USERS_ENV });
});
afterAll(async () => {
  await t.close();
});

function postWithKey(client: SessionClient, path: string, key: string, body: object) {
  return client.post(path).set('Idempotency-Key', key).send(body);
}

describe('Idempotency-Key on incident POSTs', () => {
  it('when a claim was left in progress by a request that died, then a retry within two minutes is 409 and one after takes the key over', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const me = (await owner.get('/v1/auth/me').expect(200)).body as { user: { id: string } };
    const body = { title: 'Claimed by a request that died', severity: 'SEV2' };
    // The claim a request leaves when its process or its database dies before it commits.
    const leaveClaim = (key: string, ageMs: number) =>
      t.db.withSystemTx((tx) =>
        tx.query(
          `INSERT INTO idempotency_keys (tenant_id, principal_type, principal_id, key, fingerprint, state, created_at, expires_at)
           VALUES ($1, 'user', $2, $3, $4, 'in_progress', $5, $6)`,
          [tenantId, me.user.id, key, requestFingerprint('POST', '/incidents', body), new Date(Date.now() - ageMs), new Date(Date.now() + 86_400_000)],
        ),
      );
    await leaveClaim('died-recently', 10_000);
    const busy = await postWithKey(owner, '/v1/incidents', 'died-recently', body);
    expect(busy.status).toBe(409);
    expect((busy.body as { code: string }).code).toBe('IDEMPOTENCY_IN_PROGRESS');

    await leaveClaim('died-long-ago', ABANDONED_CLAIM_MS + 1_000);
    const created = await postWithKey(owner, '/v1/incidents', 'died-long-ago', body).expect(201);
    const replayed = await postWithKey(owner, '/v1/incidents', 'died-long-ago', body).expect(201);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect((replayed.body as IncidentBody).id).toBe((created.body as IncidentBody).id);
  });

  it('when a create is retried with the same key and body, then the original response is replayed and nothing new is created', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const body = { title: 'Checkout down', severity: 'SEV1' };
    const first = await postWithKey(owner, '/v1/incidents', 'retry-1', body);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const state = await tenantState(t, tenantId);

    const replay = await postWithKey(owner, '/v1/incidents', 'retry-1', body);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.location).toBe(first.headers.location);
    expect(replay.headers.etag).toBe('"1"');
    expect(replay.headers['x-quota-remaining']).toBe(first.headers['x-quota-remaining']);
    expect(await tenantState(t, tenantId)).toEqual(state);
    expect(state).toMatchObject({ incidents: 1, quota_used: 1 });
    expect(await auditCount(t, tenantId, 'incident.created')).toBe(1);
  });

  it('when the same key comes with a different body, then 422 IDEMPOTENCY_KEY_REUSED and nothing is created', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    expect((await postWithKey(owner, '/v1/incidents', 'k', { title: 'One', severity: 'SEV2' })).status).toBe(201);
    const state = await tenantState(t, tenantId);
    const reused = await postWithKey(owner, '/v1/incidents', 'k', { title: 'Two', severity: 'SEV2' });
    expect(reused.status).toBe(422);
    expect((reused.body as { code: string }).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await tenantState(t, tenantId)).toEqual(state);
  });

  it('when duplicates race with one key, then exactly one incident exists and the others are replays or 409 IDEMPOTENCY_IN_PROGRESS', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const body = { title: 'Raced', severity: 'SEV2' };
    const results = await Promise.all(Array.from({ length: 5 }, () => postWithKey(owner, '/v1/incidents', 'race', body)));
    const originals = results.filter((r) => r.status === 201 && r.headers['idempotent-replayed'] === undefined);
    expect(originals).toHaveLength(1);
    const originalId = (originals[0]?.body as IncidentBody).id;
    for (const r of results) {
      if (r.status === 201) expect((r.body as IncidentBody).id).toBe(originalId);
      else {
        expect(r.status).toBe(409);
        expect((r.body as { code: string }).code).toBe('IDEMPOTENCY_IN_PROGRESS');
      }
    }
    expect(await tenantState(t, tenantId)).toMatchObject({ incidents: 1, quota_used: 1 });
  });

  it('when a keyed request fails, then the key is released and a corrected retry with it succeeds', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const failed = await postWithKey(owner, '/v1/incidents', 'fix-me', { title: 'x', severity: 'SEV2', commanderId: '00000000-0000-4000-8000-000000000000' });
    expect(failed.status).toBe(400);
    const retried = await postWithKey(owner, '/v1/incidents', 'fix-me', { title: 'x', severity: 'SEV2' });
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(await tenantState(t, tenantId)).toMatchObject({ incidents: 1 });
  });

  it('scopes keys to the principal: another member or an API key using the same key creates its own incident', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const member = await addMember(t, tenantId, 'member');
    const apiKey = await insertApiKey(t, tenantId, ['write']);
    const body = { title: 'Same key', severity: 'SEV3' };
    const a = await postWithKey(owner, '/v1/incidents', 'shared', body);
    const b = await postWithKey(member, '/v1/incidents', 'shared', body);
    const c = await t.request().post('/v1/incidents').set('x-api-key', apiKey).set('Idempotency-Key', 'shared').send(body);
    const d = await t.request().post('/v1/incidents').set('x-api-key', apiKey).set('Idempotency-Key', 'shared').send(body);
    expect([a.status, b.status, c.status, d.status]).toEqual([201, 201, 201, 201]);
    expect(new Set([a, b, c].map((r) => (r.body as IncidentBody).id)).size).toBe(3);
    expect(d.headers['idempotent-replayed']).toBe('true');
    expect((d.body as IncidentBody).id).toBe((c.body as IncidentBody).id);
  });

  it('rejects a malformed Idempotency-Key with 400 and creates nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const res = await postWithKey(owner, '/v1/incidents', 'has space', { title: 'x', severity: 'SEV2' });
    expect(res.status).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    expect(await tenantState(t, tenantId)).toMatchObject({ incidents: 0 });
  });

  it('replays sub-resource POSTs too: a task, a note and a status update that moves the incident are created once', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const incident = await openIncident(owner);
    const posts: [string, object][] = [
      [`/v1/incidents/${incident.id}/tasks`, { title: 'Roll back' }],
      [`/v1/incidents/${incident.id}/timeline-events`, { message: 'Paged the DB team' }],
      [`/v1/incidents/${incident.id}/status-updates`, { message: 'Found it', visibility: 'public', status: 'identified' }],
    ];
    for (const [path, body] of posts) {
      const first = await postWithKey(owner, path, `sub-${path}`, body);
      expect(first.status, path).toBe(201);
      const state = await tenantState(t, tenantId);
      const replay = await postWithKey(owner, path, `sub-${path}`, body);
      expect(replay.status).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toEqual(first.body);
      expect(await tenantState(t, tenantId)).toEqual(state);
    }
    expect(((await owner.get(`/v1/incidents/${incident.id}`)).body as IncidentBody).version).toBe(2);
  });
});
