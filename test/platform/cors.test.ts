import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { PASSWORD, SessionClient, signUp } from '../support/factories.js';

const LISTED = 'https://app.example.test';
const ALSO_LISTED = 'http://localhost:5173';
const UNLISTED = 'https://evil.example.test';

let withCors: TestApp;
let withoutCors: TestApp;
beforeAll(async () => {
  [withCors, withoutCors] = await Promise.all([createTestApp({ env: { CORS_ORIGINS: `${LISTED},${ALSO_LISTED}` } }), createTestApp()]);
});
afterAll(async () => {
  await Promise.all([withCors.close(), withoutCors.close()]);
});

function corsHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('access-control-')));
}

function preflight(t: TestApp, origin: string, method = 'POST') {
  return t
    .request()
    .options('/v1/auth/login')
    .set('Origin', origin)
    .set('Access-Control-Request-Method', method)
    .set('Access-Control-Request-Headers', 'content-type,x-csrf-token');
}

describe('CORS (CORS_ORIGINS)', () => {
  it('when a listed origin calls, then it may read the response with credentials, and the exposed headers are named', async () => {
    const res = await withCors.request().get('/v1/auth/me').set('Origin', ALSO_LISTED);
    expect(res.status).toBe(200);
    expect(corsHeaders(res.headers as Record<string, string>)).toEqual({
      'access-control-allow-origin': ALSO_LISTED,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag, Location, X-Quota-Limit, X-Quota-Remaining, X-Quota-Reset, Retry-After, x-request-id, Idempotent-Replayed',
    });
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('when a listed origin sends a preflight, then 204 with the methods, request headers and a cached answer', async () => {
    const res = await preflight(withCors, LISTED, 'PATCH');
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(corsHeaders(res.headers as Record<string, string>)).toEqual({
      'access-control-allow-origin': LISTED,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
      'access-control-allow-headers': 'content-type, x-csrf-token, x-api-key, authorization, idempotency-key, if-match, traceparent, tracestate',
      'access-control-max-age': '600',
    });
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
    // Answered before the session: a preflight never starts one.
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('when an unlisted origin calls, then no CORS header at all, so its browser withholds the response', async () => {
    const res = await withCors.request().get('/v1/auth/me').set('Origin', UNLISTED);
    expect(res.status).toBe(200);
    expect(corsHeaders(res.headers as Record<string, string>)).toEqual({});
    // A cache must not hand this answer to a listed origin, nor a listed origin's to this one.
    expect(res.headers.vary).toMatch(/\bOrigin\b/);
  });

  it('when an unlisted origin sends a preflight, then it is not a success and carries no CORS header', async () => {
    const res = await preflight(withCors, UNLISTED);
    expect(res.status).toBe(405);
    expect(corsHeaders(res.headers as Record<string, string>)).toEqual({});
  });

  it('when an origin differs from a listed one only by a trailing slash or a port, then it is unlisted', async () => {
    for (const origin of [`${LISTED}/`, `${LISTED}:8443`, 'http://localhost:5174']) {
      const res = await withCors.request().get('/v1/auth/me').set('Origin', origin);
      expect(corsHeaders(res.headers as Record<string, string>), origin).toEqual({});
    }
  });

  it('when CORS_ORIGINS is unset, then no origin gets CORS headers or a successful preflight', async () => {
    const res = await withoutCors.request().get('/v1/auth/me').set('Origin', LISTED);
    expect(corsHeaders(res.headers as Record<string, string>)).toEqual({});
    expect(res.headers.vary ?? '').not.toMatch(/\bOrigin\b/);
    const pre = await preflight(withoutCors, LISTED);
    expect(pre.status).toBe(405);
    expect(corsHeaders(pre.headers as Record<string, string>)).toEqual({});
  });

  it('when a listed origin posts without the CSRF token, then 403 CSRF_TOKEN_INVALID as from anywhere, readable by that origin', async () => {
    const c = await signUp(withCors);
    const res = await c.agent.post('/v1/auth/logout').set('Origin', LISTED);
    expect(res.status).toBe(403);
    expect((res.body as { code: string }).code).toBe('CSRF_TOKEN_INVALID');
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
    // Still signed in: the refused request changed nothing.
    const me = await c.get('/v1/auth/me').set('Origin', LISTED).expect(200);
    expect((me.body as { user: { id: string } | null }).user?.id).toBe(c.user?.id);
  });

  it('when a listed origin signs in, then the session cookie keeps HttpOnly and SameSite=Lax', async () => {
    const c = await signUp(withCors);
    const fresh = new SessionClient(withCors.request());
    await fresh.refreshCsrf();
    const res = await fresh.post('/v1/auth/login', { email: c.user?.email, password: PASSWORD }).set('Origin', LISTED);
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(LISTED);
    const cookies = res.headers['set-cookie'] as unknown as string[];
    const sid = cookies.find((cookie) => cookie.startsWith('sid='));
    expect(sid).toMatch(/; HttpOnly/i);
    expect(sid).toMatch(/; SameSite=Lax/i);
  });
});
