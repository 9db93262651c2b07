import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { countRows, ownerWithTenant } from '../support/factories.js';
import { logCapture } from '../support/state.js';
import { MANY_USERS_ENV } from '../incidents/helpers.js';
import { alertRows, amPayload, createSource, sendAlertmanager, sendEvent, trigger, writeCounts, type AlertBody } from './support.js';

let t: TestApp;
beforeAll(async () => {
  // Addresses come from X-Forwarded-For (the wrong-key throttle is per address), and the clock
  // stands still, so "a second" is the same second however slowly the machine runs.
  const still = new Date();
  t = await createTestApp({ env: { ...MANY_USERS_ENV, TRUST_PROXY: 'loopback' }, clock: { now: () => new Date(still) } });
});
afterAll(async () => {
  await t.close();
});

/** Each test gets its own client address: the wrong-key throttle counts per address. */
let address = 0;
function from<T extends { set(name: string, value: string): T }>(req: T): T {
  address += 1;
  return req.set('x-forwarded-for', `198.51.100.${String(address % 250)}`);
}

describe('routing keys', () => {
  it('stores only the SHA-256 digest of a routing key, never the key, and never lists it', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    expect(source.routingKey).toMatch(/^[0-9a-f]{32}$/);
    const { rows } = await t.db.withSystemTx((tx) => tx.query<{ row: string }>('SELECT row_to_json(s)::text AS row FROM alert_sources s WHERE id = $1', [source.id]));
    expect(rows[0]?.row).not.toContain(source.routingKey);
    const { createHash } = await import('node:crypto');
    expect(rows[0]?.row).toContain(createHash('sha256').update(source.routingKey).digest('hex'));
    const list = await owner.get(`/v1/tenants/${tenantId}/alert-sources`).expect(200);
    expect(list.text).not.toContain(source.routingKey);
    const audit = await t.db.withSystemTx((tx) => tx.query<{ m: string }>("SELECT metadata::text AS m FROM audit_log_events WHERE tenant_id = $1 AND action = 'alert_source.created'", [tenantId]));
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]?.m).not.toContain(source.routingKey);
  });

  it('when a key is wrong, malformed, rotated out or deleted, then it is refused with no database write', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const rotated = (await owner.post(`/v1/tenants/${tenantId}/alert-sources/${source.id}/rotate-key`).expect(200)).body as { routingKey: string };
    expect(rotated.routingKey).not.toBe(source.routingKey);
    const deleted = await createSource(owner, tenantId);
    await owner.delete(`/v1/tenants/${tenantId}/alert-sources/${deleted.id}`).expect(204);

    const before = await writeCounts(t);
    for (const key of [source.routingKey, deleted.routingKey, '0'.repeat(32), 'not-a-key']) {
      const res = await from(t.request().post('/v1/integrations/events-v2/enqueue')).send(trigger(key, 'k'));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid routing key'] });
      const am = await from(t.request().post('/v1/integrations/alertmanager')).set('authorization', `Bearer ${key}`).send(amPayload('g', [{ fingerprint: 'f' }]));
      expect(am.status).toBe(401);
      expect((am.body as { code: string }).code).toBe('ROUTING_KEY_INVALID');
    }
    expect(await writeCounts(t)).toEqual(before);
    // The rotated key works at once.
    await sendEvent(t, trigger(rotated.routingKey, 'k')).expect(202);
    expect(await alertRows(t, tenantId)).toHaveLength(1);
  });

  it('when Alertmanager sends no Authorization, then 401 and nothing is written', async () => {
    const before = await writeCounts(t);
    const res = await sendAlertmanager(t, null, amPayload('g', [{ fingerprint: 'f' }]));
    expect(res.status).toBe(401);
    expect((res.body as { code: string }).code).toBe('ROUTING_KEY_INVALID');
    expect(await writeCounts(t)).toEqual(before);
  });

  it("when tenant A's key sends alerts, then only tenant A has them and tenant B cannot read them", async () => {
    const a = await ownerWithTenant(t);
    const b = await ownerWithTenant(t);
    const sourceA = await createSource(a.owner, a.tenantId);
    await createSource(b.owner, b.tenantId);
    const bBefore = [await countRows(t, 'alerts', 'tenant_id = $1', [b.tenantId]), await countRows(t, 'incidents', 'tenant_id = $1', [b.tenantId])];
    await sendEvent(t, trigger(sourceA.routingKey, 'shared-key')).expect(202);
    await sendAlertmanager(t, sourceA.routingKey, amPayload('g', [{ fingerprint: 'shared-fp' }])).expect(200);
    expect([await countRows(t, 'alerts', 'tenant_id = $1', [b.tenantId]), await countRows(t, 'incidents', 'tenant_id = $1', [b.tenantId])]).toEqual(bBefore);
    const aAlerts = ((await a.owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data;
    expect(aAlerts).toHaveLength(2);
    expect(((await b.owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data).toEqual([]);
    for (const alert of aAlerts) {
      expect((await b.owner.get(`/v1/alerts/${alert.id}`)).status).toBe(404);
      expect((await b.owner.get(`/v1/incidents/${alert.incidentId ?? ''}/alerts`)).status).toBe(404);
    }
  });

  it('when one address sends more than 20 wrong keys a second, then it gets 429 before any lookup', async () => {
    const ip = '203.0.113.77';
    const statuses: number[] = [];
    for (let i = 0; i < 22; i += 1) {
      const res = await t.request().post('/v1/integrations/events-v2/enqueue').set('x-forwarded-for', ip).send(trigger('f'.repeat(32), 'k'));
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body).toMatchObject({ status: 'throttle event' });
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
    }
    expect(statuses.slice(0, 20).every((s) => s === 400)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
  });

  it('never writes a routing key to the log', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    await sendEvent(t, trigger(source.routingKey, 'k')).expect(202);
    await sendEvent(t, { routing_key: source.routingKey, event_action: 'bogus' }).expect(400);
    expect(logCapture.join('\n')).not.toContain(source.routingKey);
  });
});

describe('untrusted bodies', () => {
  it('refuses a body of 512 KB + 1 byte with 413 and accepts one just under 512 KB', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const base = JSON.stringify(trigger(source.routingKey, 'big', { custom_details: { blob: '' } }));
    const fill = (size: number) => base.replace('"blob":""', `"blob":"${'x'.repeat(size - base.length)}"`);
    const over = fill(512 * 1024 + 1);
    expect(Buffer.byteLength(over)).toBe(512 * 1024 + 1);
    const before = await writeCounts(t);
    const refused = await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(over);
    expect(refused.status).toBe(413);
    expect(refused.body).toMatchObject({ status: 'invalid event' });
    const amOver = JSON.stringify(amPayload('g', [{ fingerprint: 'f', summary: 'x'.repeat(512 * 1024) }]));
    const amRefused = await sendAlertmanager(t, source.routingKey, JSON.parse(amOver));
    expect(amRefused.status).toBe(413);
    expect((amRefused.body as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
    expect(await writeCounts(t)).toEqual(before);
    await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(fill(512 * 1024)).expect(202);
  });

  it('refuses custom_details nested 10,000 levels deep with 400 (never a 500) and stores 32 levels (33 refused)', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    const body = (depth: number) => JSON.stringify(trigger(source.routingKey, `deep-${String(depth)}`)).replace('"severity":"critical"', `"severity":"critical","custom_details":${nested(depth)}`);
    const deep = await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(body(10_000));
    expect(deep.status).toBe(400);
    expect((deep.body as { errors: string[] }).errors[0]).toMatch(/nested at most 32 levels/);
    expect((await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(body(33))).status).toBe(400);
    await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(body(32)).expect(202);
    const alert = ((await owner.get('/v1/alerts').expect(200)).body as { data: AlertBody[] }).data[0] as AlertBody;
    let depth = 0;
    let node = (alert.details as { custom_details: unknown }).custom_details;
    while (typeof node === 'object' && node !== null) {
      node = (node as { a: unknown }).a;
      depth += 1;
    }
    expect(depth).toBe(32);
  });

  it('stores __proto__ and constructor keys as plain data and pollutes nothing', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const raw = JSON.stringify(trigger(source.routingKey, 'proto')).replace(
      '"severity":"critical"',
      '"severity":"critical","custom_details":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"note":"<script>x</script>"}',
    );
    await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send(raw).expect(202);
    const res = await owner.get('/v1/alerts').expect(200);
    expect(res.text).toContain('"__proto__":{"polluted":true}');
    expect(res.text).toContain('"note":"<script>x</script>"');
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(res.headers['content-type']).toMatch(/^application\/json/);
  });

  it.each([
    ['no payload on trigger', (k: string) => ({ routing_key: k, event_action: 'trigger' }), /payload is required/],
    ['an unknown action', (k: string) => ({ routing_key: k, event_action: 'explode', dedup_key: 'x' }), /event_action/],
    ['a bad severity', (k: string) => trigger(k, 'x', { severity: 'sev1' }), /payload.severity/],
    ['resolve without dedup_key', (k: string) => ({ routing_key: k, event_action: 'resolve' }), /dedup_key is required/],
    ['a NUL in custom_details', (k: string) => trigger(k, 'x', { custom_details: { a: 'b\u0000' } }), /NUL/],
  ])('answers %s with 400 invalid event and its errors, writing nothing', async (_name, make, error) => {
    const { owner, tenantId } = await ownerWithTenant(t);
    const source = await createSource(owner, tenantId);
    const before = await writeCounts(t);
    const res = await sendEvent(t, make(source.routingKey));
    expect(res.status).toBe(400);
    expect((res.body as { status: string }).status).toBe('invalid event');
    expect((res.body as { errors: string[] }).errors.join('\n')).toMatch(error);
    expect(await writeCounts(t)).toEqual(before);
  });

  it('answers malformed JSON and a non-JSON body in PagerDuty shape', async () => {
    const bad = await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'application/json').send('{"routing_key":');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 'invalid event' });
    const text = await t.request().post('/v1/integrations/events-v2/enqueue').set('content-type', 'text/plain').send('hello');
    expect(text.status).toBe(400);
    expect(text.body).toMatchObject({ status: 'invalid event' });
  });

  it('answers a GET on an ingestion route with 405 and Allow: POST', async () => {
    const res = await t.request().get('/v1/integrations/alertmanager');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });
});
