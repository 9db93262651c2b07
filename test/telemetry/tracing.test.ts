// Must stay the first import: it starts the SDK before the app's modules load (see support.ts).
import { descendsFrom, histogramTotals, isKind, serverSpanOf, spanExporter, spansOfTrace } from './support.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DB_SCOPE, traced, traceTransaction, type DbTarget } from '../../src/platform/telemetry/database.js';
import { EXPRESS_SCOPE } from '../../src/platform/telemetry/http.js';
import { REDIS_SCOPE } from '../../src/platform/telemetry/redis.js';
import { ATTR_PRINCIPAL_TYPE, ATTR_TENANT_ID } from '../../src/platform/telemetry/tracing.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { onPostgres } from '../support/backend.js';
import { insertApiKey, ownerWithTenant } from '../support/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

function dbSpans(trace: ReadableSpan[]): ReadableSpan[] {
  return trace.filter((s) => s.instrumentationScope.name === DB_SCOPE && isKind(s, SpanKind.CLIENT) && s.attributes['db.system.name'] === 'postgresql');
}

/** Every attribute value of every span, for "this never reaches a span" checks. */
function allAttributeText(spans: ReadableSpan[]): string {
  return JSON.stringify(spans.map((s) => s.attributes));
}

function requestIdOf(res: { headers: Record<string, string | undefined> }): string {
  const id = res.headers['x-request-id'];
  if (!id) throw new Error('no x-request-id');
  return id;
}

describe('tracing', () => {
  it('when a member lists incidents, then one trace holds the server span with Express and database spans beneath it, and its id is the x-request-id', async () => {
    const { owner, tenantId } = await ownerWithTenant(t);
    expect((await owner.post('/v1/incidents', { title: 'Checkout 502s', severity: 'SEV2' })).status).toBe(201);
    spanExporter.reset();

    const res = await owner.get('/v1/incidents');
    expect(res.status).toBe(200);
    const traceId = requestIdOf(res);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const server = await serverSpanOf(traceId);
    const serverId = server.spanContext().spanId;
    expect(server.attributes['http.route']).toBe('/v1/incidents');
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(server.attributes[ATTR_TENANT_ID]).toBe(tenantId);
    expect(server.attributes[ATTR_PRINCIPAL_TYPE]).toBe('user');

    const trace = spansOfTrace(traceId);
    const handler = trace.filter((s) => s.instrumentationScope.name === EXPRESS_SCOPE && s.attributes['express.type'] === 'request_handler');
    expect(handler.map((s) => s.attributes['http.route'])).toEqual(['/v1/incidents']);
    expect(handler.every((s) => descendsFrom(s, serverId, trace))).toBe(true);

    const db = dbSpans(trace);
    expect(db.map((s) => String(s.attributes['db.query.text']))).toEqual(expect.arrayContaining([expect.stringContaining('FROM incidents')]));
    expect(db.every((s) => descendsFrom(s, serverId, trace))).toBe(true);
    // Everything the request did was traced in this one trace.
    expect(new Set(spanExporter.getFinishedSpans().map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));

    // No parameter values: neither pg's values attribute nor the ids the preamble inlines.
    for (const span of db) {
      expect(Object.keys(span.attributes).filter((k) => k.includes('values') || k.includes('parameter'))).toEqual([]);
      expect(String(span.attributes['db.query.text'])).not.toContain(tenantId);
      expect(String(span.attributes['db.query.text'])).not.toContain(owner.user?.id ?? '<no user>');
    }
    if (onPostgres) {
      // The session lives in Redis under its id: spans name the command only.
      const redis = trace.filter((s) => s.instrumentationScope.name === REDIS_SCOPE);
      expect(redis.length).toBeGreaterThan(0);
      for (const span of redis) expect(span.attributes['db.query.text']).toMatch(/^[a-z]+$/);
    }
  });

  it('when a session writes, then no header (cookie, x-csrf-token) and no request value reaches a span', async () => {
    const { owner } = await ownerWithTenant(t);
    spanExporter.reset();
    const title = `Secret-looking title ${randomUUID()}`;
    const res = await owner.post('/v1/incidents', { title, severity: 'SEV3' });
    expect(res.status).toBe(201);
    const traceId = requestIdOf(res);
    await serverSpanOf(traceId);

    const trace = spansOfTrace(traceId);
    expect(dbSpans(trace).map((s) => String(s.attributes['db.query.text']))).toEqual(expect.arrayContaining([expect.stringContaining('INSERT INTO incidents')]));
    const text = allAttributeText(trace);
    expect(text).not.toContain(owner.csrfToken);
    expect(text).not.toContain(title);
    expect(trace.flatMap((s) => Object.keys(s.attributes)).filter((k) => k.startsWith('http.request.header.'))).toEqual([]);
  });

  it("when an API key lists incidents, then the spans carry the key's tenant and principal type, never the key", async () => {
    const { tenantId } = await ownerWithTenant(t);
    const key = await insertApiKey(t, tenantId, ['read']);
    spanExporter.reset();

    const res = await t.request().get('/v1/incidents').set('x-api-key', key);
    expect(res.status).toBe(200);
    const traceId = requestIdOf(res);
    const server = await serverSpanOf(traceId);
    expect(server.attributes[ATTR_TENANT_ID]).toBe(tenantId);
    expect(server.attributes[ATTR_PRINCIPAL_TYPE]).toBe('service_account');
    expect(dbSpans(spansOfTrace(traceId)).length).toBeGreaterThan(0);
    expect(allAttributeText(spanExporter.getFinishedSpans())).not.toContain(key);
  });

  it("when a request fails, then the error body's traceId is its trace's id and the x-request-id", async () => {
    const { owner } = await ownerWithTenant(t);
    const res = await owner.get(`/v1/incidents/${randomUUID()}`);
    expect(res.status).toBe(404);
    const traceId = requestIdOf(res);
    expect((res.body as { traceId: string }).traceId).toBe(traceId);
    const server = await serverSpanOf(traceId);
    expect(server.attributes['http.response.status_code']).toBe(404);

    // Refused before any tenant or database work, in the key check.
    const refused = await t.request().get('/v1/incidents').set('x-api-key', 'itk_not-a-key');
    expect(refused.status).toBe(401);
    expect((refused.body as { traceId: string }).traceId).toBe(requestIdOf(refused));
    expect((await serverSpanOf(requestIdOf(refused))).attributes['http.response.status_code']).toBe(401);
  });

  it('when a request carries traceparent, then its server span joins that trace as a child of the remote parent', async () => {
    const { owner } = await ownerWithTenant(t);
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');

    const res = await owner.get('/v1/incidents').set('traceparent', `00-${traceId}-${parentId}-01`);
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe(traceId);
    const server = await serverSpanOf(traceId);
    expect(server.parentSpanContext?.spanId).toBe(parentId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(dbSpans(spansOfTrace(traceId)).every((s) => descendsFrom(s, server.spanContext().spanId, spansOfTrace(traceId)))).toBe(true);
  });

  it('when a query string carries a secret-looking value, then the server span keeps the query with that value redacted; /health is not traced', async () => {
    const { owner } = await ownerWithTenant(t);
    spanExporter.reset();
    const res = await owner.get('/v1/incidents?status=open&token=s3cr3t-value');
    const server = await serverSpanOf(requestIdOf(res));
    expect(server.attributes['url.path']).toBe('/v1/incidents');
    expect(server.attributes['url.query']).toBe('status=open&token=REDACTED');
    expect(allAttributeText(spanExporter.getFinishedSpans())).not.toContain('s3cr3t-value');

    spanExporter.reset();
    expect((await t.request().get('/health')).status).toBe(200);
    // A traced request after it: once its span is exported, a /health span would have been too.
    const marker = await owner.get('/v1/incidents');
    await serverSpanOf(requestIdOf(marker));
    expect(spanExporter.getFinishedSpans().filter((s) => isKind(s, SpanKind.SERVER)).map((s) => s.attributes['url.path'])).toEqual(['/v1/incidents']);
  });

  it('when the client goes away before the response is complete, then the server span ends as an error with error.type aborted', async () => {
    const server = createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      spanExporter.reset();
      const { port } = server.address() as AddressInfo;
      // A body announced at 100 bytes of which 10 arrive: the request is still being read when
      // the connection closes.
      const received = new Promise((resolve) => server.once('request', resolve));
      const socket = connect(port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('POST /v1/incidents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title":');
      // Closed once the server has the request (its headers parsed), while it still reads the body.
      await received;
      socket.destroy();
      const span = await vi.waitFor(
        () => {
          const found = spanExporter.getFinishedSpans().find((s) => isKind(s, SpanKind.SERVER) && s.attributes['url.path'] === '/v1/incidents');
          if (!found) throw new Error('no server span yet');
          return found;
        },
        { timeout: 5000, interval: 20 },
      );
      expect(span.attributes['error.type']).toBe('aborted');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('when a statement fails, then its span ends as an error with the SQLSTATE alone, and its duration is counted under that error.type', async () => {
    const target: DbTarget = { prefix: 'pg', namespace: 'incidents_it', serverAddress: 'db.internal', serverPort: 5432 };
    const failed = { 'db.operation.name': 'INSERT', 'error.type': '23505' };
    const before = await histogramTotals('db.client.operation.duration', failed);
    const duplicate = Object.assign(new Error('duplicate key value violates unique constraint "t_pkey": Key (email)=(secret@example.com)'), { code: '23505' });
    const traceId = await trace.getTracer('test').startActiveSpan('parent', async (parent) => {
      const statements = traceTransaction(target);
      // The same text twice: the second span is built from the first one's cached shape.
      await expect(traced(statements, "INSERT INTO t (email) VALUES ('secret@example.com')", () => Promise.reject(duplicate))).rejects.toBe(duplicate);
      await traced(statements, "INSERT INTO t (email) VALUES ('secret@example.com')", () => Promise.resolve());
      parent.end();
      return parent.spanContext().traceId;
    });

    const spans = spansOfTrace(traceId).filter((s) => s.instrumentationScope.name === DB_SCOPE);
    expect(spans.map((s) => s.name)).toEqual(['pg.query:INSERT incidents_it', 'pg.query:INSERT incidents_it']);
    const [bad, good] = spans;
    expect(bad?.status.code).toBe(SpanStatusCode.ERROR);
    expect(bad?.attributes).toMatchObject({ 'error.type': '23505', 'db.response.status_code': '23505', 'db.query.text': 'INSERT INTO t (email) VALUES (?)' });
    expect(good?.status.code).toBe(SpanStatusCode.UNSET);
    expect(good?.attributes['error.type']).toBeUndefined();
    expect(good?.attributes).toMatchObject({ 'db.namespace': 'incidents_it', 'server.address': 'db.internal', 'server.port': 5432 });
    expect(allAttributeText(spans)).not.toContain('secret');
    expect((await histogramTotals('db.client.operation.duration', failed)).count - before.count).toBe(1);
  });
});
