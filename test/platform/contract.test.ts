import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { ownerWithTenant } from '../support/factories.js';
import { loadOpenApi, openApiOperations, ResponseValidator, toOpenApiPath } from '../support/contract.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

function servedOperations(): string[] {
  return t.built.inventory.map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.path)}`).sort();
}

/** Operations served but not documented, and documented but not served. */
function diff(served: string[], documented: string[]) {
  return {
    undocumented: served.filter((op) => !documented.includes(op)),
    unserved: documented.filter((op) => !served.includes(op)),
  };
}

describe('contract harness', () => {
  it('the routes the app serves equal the operations in openapi.yaml', () => {
    expect(diff(servedOperations(), openApiOperations().sort())).toEqual({ undocumented: [], unserved: [] });
  });

  it('fails when a served route is missing from openapi.yaml', () => {
    const doc = loadOpenApi();
    delete doc.paths['/v1/auth/me'];
    expect(diff(servedOperations(), openApiOperations(doc)).undocumented).toEqual(['GET /v1/auth/me']);
  });

  it('every route declares the action it authorises', () => {
    const missing = t.built.inventory.filter((r) => !r.action);
    expect(missing).toEqual([]);
  });

  it('every multi-value query parameter is declared in the comma form the app reads (style form, explode false)', () => {
    const doc = loadOpenApi() as unknown as { components: { parameters: Record<string, { in: string; name: string; style?: string; explode?: boolean; schema?: { type?: string } }> } };
    const arrays = Object.values(doc.components.parameters).filter((p) => p.in === 'query' && p.schema?.type === 'array');
    expect(arrays.map((p) => p.name).sort()).toEqual(['severity', 'status', 'types']);
    expect(arrays.filter((p) => p.style !== 'form' || p.explode !== false).map((p) => p.name)).toEqual([]);
  });

  it('the app reads a multi-value filter comma-separated and repeated alike', async () => {
    const { owner } = await ownerWithTenant(t);
    for (const severity of ['SEV1', 'SEV2', 'SEV3']) await owner.post('/v1/incidents', { title: severity, severity }).expect(201);
    const titles = async (query: string) => ((await owner.get(`/v1/incidents?${query}`).expect(200)).body as { data: { title: string }[] }).data.map((i) => i.title).sort();
    expect(await titles('severity=SEV1,SEV3')).toEqual(['SEV1', 'SEV3']);
    expect(await titles('severity=SEV1&severity=SEV3')).toEqual(['SEV1', 'SEV3']);
  });

  it('the response validator rejects a body that does not match the schema', () => {
    const v = new ResponseValidator();
    expect(v.check('GET', '/health', 200, { status: 'ok', checks: { database: 'ok', sessionStore: 'ok', migrations: 'ok' } })).toBeNull();
    expect(v.check('GET', '/health', 200, { status: 'ok' })).toMatch(/GET \/health 200/);
    expect(v.check('GET', '/v1/auth/me', 200, { user: null, activeTenant: null })).toMatch(/csrfToken/);
    expect(v.check('GET', '/health', 418, {})).toMatch(/not declared/);
  });
});
