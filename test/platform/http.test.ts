import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { SessionClient } from '../support/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

function expectEnvelope(body: unknown, code: string): void {
  expect(body).toEqual({ code, message: expect.any(String) as string, traceId: expect.stringMatching(/^[0-9a-f]{32}$/) as string, details: expect.any(Object) as object });
}

describe('HTTP platform', () => {
  it('when the JSON is malformed, then 400 MALFORMED_JSON in the envelope', async () => {
    const c = new SessionClient(t.request());
    await c.refreshCsrf();
    const res = await c.agent.post('/v1/auth/login').set('x-csrf-token', c.csrfToken).set('content-type', 'application/json').send('{"email":');
    expect(res.status).toBe(400);
    expectEnvelope(res.body, 'MALFORMED_JSON');
    expect(res.headers['x-request-id']).toBe((res.body as { traceId: string }).traceId);
  });

  it('when the body is over 100 KB, then 413 PAYLOAD_TOO_LARGE', async () => {
    const c = new SessionClient(t.request());
    await c.refreshCsrf();
    const res = await c.post('/v1/auth/signup', { email: 'a@b.test', password: 'x'.repeat(101 * 1024), name: 'n' });
    expect(res.status).toBe(413);
    expectEnvelope(res.body, 'PAYLOAD_TOO_LARGE');
  });

  it('when the body is text/plain, then 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const c = new SessionClient(t.request());
    await c.refreshCsrf();
    const res = await c.agent.post('/v1/auth/login').set('x-csrf-token', c.csrfToken).set('content-type', 'text/plain').send('hello');
    expect(res.status).toBe(415);
    expectEnvelope(res.body, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when the route is unknown, then 404 NOT_FOUND in the envelope', async () => {
    const res = await t.request().get('/v1/no-such-thing');
    expect(res.status).toBe(404);
    expectEnvelope(res.body, 'NOT_FOUND');
    const outside = await t.request().get('/nothing-here');
    expect(outside.status).toBe(404);
    expectEnvelope(outside.body, 'NOT_FOUND');
  });

  it('when the method is wrong for a known path, then 405 with Allow', async () => {
    const res = await t.request().delete('/v1/auth/me');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expectEnvelope(res.body, 'METHOD_NOT_ALLOWED');
  });

  it('when an unknown body field is sent, then 400 VALIDATION_FAILED naming it', async () => {
    const c = new SessionClient(t.request());
    await c.refreshCsrf();
    const res = await c.post('/v1/auth/login', { email: 'a@b.test', password: 'whatever-password', isAdmin: true });
    expect(res.status).toBe(400);
    expectEnvelope(res.body, 'VALIDATION_FAILED');
    expect(JSON.stringify(res.body)).toContain('isAdmin');
  });

  it('sends no-store, x-request-id and no x-powered-by on /v1 responses', async () => {
    const res = await t.request().get('/v1/auth/me');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('GET /health reports the database, session store and migrations', async () => {
    const res = await t.request().get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { database: 'ok', sessionStore: 'ok', migrations: 'ok' } });
  });
});
