import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { createApiKey, createServiceAccount, ownerWithTenant, PASSWORD, SessionClient, uniqueEmail } from '../support/factories.js';

let t: TestApp;
let owner: SessionClient;
let tenantId: string;
let incidentId: string;
let taskId: string;
let serviceAccountId: string;

beforeAll(async () => {
  t = await createTestApp();
  ({ owner, tenantId } = await ownerWithTenant(t));
  incidentId = ((await owner.post('/v1/incidents', { title: 'Checkout 502s', severity: 'SEV2' }).expect(201)).body as { id: string }).id;
  taskId = ((await owner.post(`/v1/incidents/${incidentId}/tasks`, { title: 'Roll back' }).expect(201)).body as { id: string }).id;
  serviceAccountId = await createServiceAccount(owner, tenantId);
});
afterAll(async () => {
  await t.close();
});

interface FieldProblem {
  path: string;
  message: string;
}

function fieldsOf(body: unknown): FieldProblem[] {
  return (body as { details: { fields: FieldProblem[] } }).details.fields;
}

/** A valid body for each route with free text, and the text fields in it. */
interface TextRoute {
  method: 'post' | 'patch';
  label: string;
  path: () => string;
  body: () => Record<string, unknown>;
  fields: string[];
}

const TEXT_ROUTES: TextRoute[] = [
  { method: 'post', label: '/v1/auth/signup', path: () => '/v1/auth/signup', body: () => ({ email: uniqueEmail(), password: PASSWORD, name: 'Ada' }), fields: ['name', 'password'] },
  { method: 'post', label: '/v1/tenants', path: () => '/v1/tenants', body: () => ({ name: 'Acme' }), fields: ['name'] },
  { method: 'post', label: '/v1/tenants/:tenantId/service-accounts', path: () => `/v1/tenants/${tenantId}/service-accounts`, body: () => ({ name: 'bot', description: 'deploys' }), fields: ['name', 'description'] },
  { method: 'post', label: '/v1/tenants/:tenantId/api-keys', path: () => `/v1/tenants/${tenantId}/api-keys`, body: () => ({ serviceAccountId, name: 'ci', scopes: ['read'] }), fields: ['name'] },
  { method: 'post', label: '/v1/incidents', path: () => '/v1/incidents', body: () => ({ title: 'Down', description: 'All of it', severity: 'SEV1' }), fields: ['title', 'description'] },
  { method: 'patch', label: '/v1/incidents/:incidentId', path: () => `/v1/incidents/${incidentId}`, body: () => ({ title: 'Down', description: 'All of it' }), fields: ['title', 'description'] },
  { method: 'post', label: '/v1/incidents/:incidentId/tasks', path: () => `/v1/incidents/${incidentId}/tasks`, body: () => ({ title: 'Page DBA' }), fields: ['title'] },
  { method: 'patch', label: '/v1/incidents/:incidentId/tasks/:taskId', path: () => `/v1/incidents/${incidentId}/tasks/${taskId}`, body: () => ({ title: 'Page DBA' }), fields: ['title'] },
  { method: 'post', label: '/v1/incidents/:incidentId/timeline-events', path: () => `/v1/incidents/${incidentId}/timeline-events`, body: () => ({ message: 'Rolled back' }), fields: ['message'] },
  { method: 'post', label: '/v1/incidents/:incidentId/status-updates', path: () => `/v1/incidents/${incidentId}/status-updates`, body: () => ({ message: 'Fixed', visibility: 'public' }), fields: ['message'] },
  { method: 'post', label: '/v1/auth/password/reset', path: () => '/v1/auth/password/reset', body: () => ({ token: 'x'.repeat(43), password: PASSWORD }), fields: ['token'] },
  { method: 'post', label: '/v1/tenants/invites/accept', path: () => '/v1/tenants/invites/accept', body: () => ({ token: 'x'.repeat(43) }), fields: ['token'] },
];

/** Strings PostgreSQL cannot store as given: a NUL, and UTF-16 surrogates without their pair. */
const UNSTORABLE = [
  { label: 'a NUL byte', text: 'a\u0000b', message: /NUL/ },
  { label: 'a lone high surrogate', text: 'a\ud800b', message: /surrogate/ },
  { label: 'a lone low surrogate', text: 'a\udfffb', message: /surrogate/ },
];

function sendAs(client: SessionClient, route: TextRoute, body: Record<string, unknown>) {
  const req = client.agent[route.method](route.path()).set('x-csrf-token', client.csrfToken);
  // JSON.stringify writes a lone surrogate as a \ud800 escape, which JSON.parse turns back into one.
  return req.set('content-type', 'application/json').send(JSON.stringify(body));
}

describe('strings that cannot be stored', () => {
  for (const route of TEXT_ROUTES) {
    for (const field of route.fields) {
      for (const bad of UNSTORABLE) {
        it(`when ${route.method.toUpperCase()} ${route.label} has ${bad.label} in ${field}, then 400 VALIDATION_FAILED naming ${field}`, async () => {
          // Signup runs signed out, as an attacker would; everything else as the tenant owner.
          const client = route.path() === '/v1/auth/signup' ? await anonymous() : owner;
          const res = await sendAs(client, route, { ...route.body(), [field]: bad.text });
          expect(res.status, JSON.stringify(res.body)).toBe(400);
          expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
          expect(fieldsOf(res.body)).toEqual([{ path: field, message: expect.stringMatching(bad.message) as string }]);
        });
      }
    }
  }

  it('when the body is the same without the bad character, then the route accepts it (the table above tests the character, not the body)', async () => {
    // Signed-out, token and tenant-switching routes have their own tests.
    const plain = TEXT_ROUTES.filter((r) => !['/v1/auth/signup', '/v1/tenants', '/v1/auth/password/reset', '/v1/tenants/invites/accept'].includes(r.label));
    expect(plain.length).toBe(8);
    for (const route of plain) {
      const res = await sendAs(owner, route, route.body());
      expect(res.status, `${route.method} ${route.path()}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    }
  });

  it('when a well-formed surrogate pair (an emoji) is sent, then it is stored and read back unchanged', async () => {
    const res = await owner.post('/v1/incidents', { title: 'Pager \u{1F6A8} fire', severity: 'SEV3' });
    expect(res.status).toBe(201);
    const read = await owner.get(`/v1/incidents/${(res.body as { id: string }).id}`).expect(200);
    expect((read.body as { title: string }).title).toBe('Pager \u{1F6A8} fire');
  });

  it('when a NUL byte is nested deep in an unknown field or in a key, then 400 VALIDATION_FAILED naming where it is', async () => {
    const nested = await sendAs(owner, TEXT_ROUTES[4] as TextRoute, { title: 'x', severity: 'SEV1', extra: { list: ['ok', 'a\u0000'] } });
    expect(nested.status).toBe(400);
    expect(fieldsOf(nested.body)).toEqual([{ path: 'extra.list.1', message: expect.stringMatching(/NUL/) as string }]);
    const key = await sendAs(owner, TEXT_ROUTES[4] as TextRoute, { title: 'x', severity: 'SEV1', 'k\u0000': 1 });
    expect(key.status).toBe(400);
    expect(fieldsOf(key.body)[0]?.message).toMatch(/NUL/);
  });

  it('when a body nests arrays tens of thousands deep, then 400, not a stack overflow', async () => {
    const deep = `{"title":"x","severity":"SEV1","extra":${'['.repeat(40_000)}"a\\u0000"${']'.repeat(40_000)}}`;
    const res = await owner.agent.post('/v1/incidents').set('x-csrf-token', owner.csrfToken).set('content-type', 'application/json').send(deep);
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
  });

  it.each([
    ['/v1/incidents?q=a%00b', 'q'],
    ['/v1/audit-logs?action=a%00b', 'action'],
    ['/v1/audit-logs?targetType=a%00b', 'targetType'],
    ['/v1/audit-logs?targetId=a%00b', 'targetId'],
    ['/v1/incidents?cursor=a%00b', 'cursor'],
    ['/v1/incidents?status=investigating&status=a%00b', 'status.1'],
  ])('when the query %s carries a NUL byte, then 400 VALIDATION_FAILED naming %s', async (url, field) => {
    const res = await owner.get(url);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    expect(fieldsOf(res.body)).toEqual([{ path: field, message: expect.stringMatching(/NUL/) as string }]);
  });

  it('when an API key caller sends a NUL byte in a filter, then 400 as for a session', async () => {
    const key = await createApiKey(owner, tenantId, { scopes: ['read'] });
    const res = await t.request().get('/v1/incidents?q=a%00b').set('x-api-key', key.key);
    expect(res.status).toBe(400);
    expect(fieldsOf(res.body)[0]?.path).toBe('q');
  });

  it('when a path id carries a NUL byte, then 404 NOT_FOUND like any other unknown id', async () => {
    const res = await owner.get('/v1/incidents/a%00b');
    expect(res.status).toBe(404);
    expect((res.body as { code: string }).code).toBe('NOT_FOUND');
  });
});

describe('wrong-typed fields', () => {
  it('when scopes is a string, then the message says an array of strings is expected, and nothing about its length', async () => {
    const res = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId, name: 'ci', scopes: 'write' });
    expect(res.status).toBe(400);
    expect(fieldsOf(res.body)).toEqual([{ path: 'scopes', message: 'Expected an array of strings, received a string.' }]);
  });

  it.each([
    [{ title: 5, severity: 'SEV1' }, 'title', 'Expected a string, received a number.'],
    [{ title: 'x', severity: 'SEV1', description: ['a'] }, 'description', 'Expected a string, received an array.'],
    [{ title: 'x', severity: 'SEV1', commanderId: 7 }, 'commanderId', 'Expected a UUID string, received a number.'],
    [{ title: 'x', severity: 'SEV1', commanderId: {} }, 'commanderId', 'Expected a UUID string, received an object.'],
    [{ severity: 'SEV1' }, 'title', 'Required: expected a string.'],
    [{ title: null, severity: 'SEV1' }, 'title', 'Expected a string, received null.'],
  ])('when POST /v1/incidents gets %j, then %s says: %s', async (body, path, message) => {
    const res = await owner.post('/v1/incidents', body);
    expect(res.status).toBe(400);
    expect(fieldsOf(res.body)).toEqual([{ path, message }]);
  });

  it('when a date-time, an integer or a boolean-free field gets the wrong type, then the expected type is named', async () => {
    const due = await owner.post(`/v1/incidents/${incidentId}/tasks`, { title: 'x', dueAt: 5 });
    expect(fieldsOf(due.body)).toEqual([{ path: 'dueAt', message: 'Expected an ISO 8601 date-time string, received a number.' }]);
    const limit = await owner.get('/v1/incidents?limit=abc');
    expect(limit.status).toBe(400);
    expect(fieldsOf(limit.body)[0]?.path).toBe('limit');
  });

  it("when a field has the right type but a bad value, then the schema's own message stands", async () => {
    const res = await owner.post(`/v1/tenants/${tenantId}/api-keys`, { serviceAccountId, name: 'ci', scopes: ['read', 'read'] });
    expect(fieldsOf(res.body)).toEqual([{ path: 'scopes', message: 'Scopes must be unique.' }]);
  });
});

async function anonymous(): Promise<SessionClient> {
  const c = new SessionClient(t.request());
  await c.refreshCsrf();
  return c;
}
