import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import express from 'express';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler, requestId } from '../../src/platform/http/middleware.js';
import { createLogger } from '../../src/platform/log/logger.js';
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

async function anonymous(): Promise<SessionClient> {
  const c = new SessionClient(t.request());
  await c.refreshCsrf();
  return c;
}

const LOGIN = JSON.stringify({ email: 'a@b.test', password: 'whatever-password' });

describe('Content-Encoding: compressed request bodies are not supported', () => {
  it.each([
    ['gzip', 'a plain JSON body'],
    ['deflate', 'a plain JSON body'],
    ['br', 'a plain JSON body'],
    ['zstd', 'a plain JSON body'],
    ['x-custom', 'a plain JSON body'],
    ['gzip, identity', 'a plain JSON body'],
    ['GZIP', 'a plain JSON body'],
  ])('when POST /v1/auth/login says Content-Encoding: %s and sends %s, then 415 UNSUPPORTED_MEDIA_TYPE, before any session or CSRF check', async (encoding) => {
    // No session and no CSRF token: the body is refused before either is looked at.
    const res = await t.request().post('/v1/auth/login').set('content-type', 'application/json').set('content-encoding', encoding).send(LOGIN);
    expect(res.status).toBe(415);
    expectEnvelope(res.body, 'UNSUPPORTED_MEDIA_TYPE');
    expect((res.body as { message: string }).message).toMatch(/Content-Encoding/);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ])('when the body really is %s-compressed, then 415 all the same', async (encoding, compress) => {
    const c = await anonymous();
    const res = await c.agent
      .post('/v1/auth/login')
      .set('x-csrf-token', c.csrfToken)
      .set('content-type', 'application/json')
      .set('content-encoding', encoding)
      .send(compress(Buffer.from(LOGIN)));
    expect(res.status).toBe(415);
    expectEnvelope(res.body, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('when Content-Encoding is identity, then the body is read as usual', async () => {
    const c = await anonymous();
    const res = await c.agent.post('/v1/auth/login').set('x-csrf-token', c.csrfToken).set('content-type', 'application/json').set('content-encoding', 'identity').send(LOGIN);
    expect(res.status).toBe(401);
    expectEnvelope(res.body, 'AUTH_INVALID_CREDENTIALS');
  });

  it('when the charset is not UTF-8, then 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const c = await anonymous();
    const res = await c.agent.post('/v1/auth/login').set('x-csrf-token', c.csrfToken).set('content-type', 'application/json; charset=latin1').send(LOGIN);
    expect(res.status).toBe(415);
    expectEnvelope(res.body, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

/** Every `type` body-parser and raw-body (as installed) give their errors, read from their source. */
function bodyParserErrorTypes(): string[] {
  const fromExpress = createRequire(createRequire(import.meta.url).resolve('express'));
  const bodyParserDir = path.dirname(fromExpress.resolve('body-parser/package.json'));
  const rawBody = createRequire(path.join(bodyParserDir, 'lib', 'read.js')).resolve('raw-body');
  const files = [rawBody, ...readdirSync(path.join(bodyParserDir, 'lib'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => path.join(bodyParserDir, 'lib', f))];
  const types = new Set<string>();
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/type: (?:err\.type \|\| )?'([a-zA-Z]+(?:\.[a-zA-Z]+)+)'/g)) types.add(m[1] as string);
  }
  return [...types].sort();
}

/** An error as body-parser builds it: http-errors with a status, `expose` and a `type`. */
function parserError(status: number, type: string | undefined): Error {
  return Object.assign(new Error(`parser said ${type ?? 'nothing'}`), { status, statusCode: status, expose: status < 500, ...(type ? { type } : {}) });
}

describe('every body-parser failure maps to a 4xx in the envelope', () => {
  const logged: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _enc, cb) => { logged.push(chunk.toString('utf8')); cb(); } }));
  function answer(err: Error) {
    const app = express();
    app.use(requestId(() => null));
    app.post('/x', (_req, _res, next) => {
      next(err);
    });
    app.use(errorHandler(logger));
    return supertest(app).post('/x');
  }

  const EXPECTED: Record<string, [number, string]> = {
    'charset.unsupported': [415, 'UNSUPPORTED_MEDIA_TYPE'],
    'encoding.unsupported': [415, 'UNSUPPORTED_MEDIA_TYPE'],
    'entity.parse.failed': [400, 'MALFORMED_JSON'],
    'entity.too.large': [413, 'PAYLOAD_TOO_LARGE'],
    'entity.verify.failed': [400, 'VALIDATION_FAILED'],
    'parameters.too.many': [413, 'PAYLOAD_TOO_LARGE'],
    'querystring.parse.rangeError': [400, 'VALIDATION_FAILED'],
    'request.aborted': [400, 'VALIDATION_FAILED'],
    'request.size.invalid': [400, 'VALIDATION_FAILED'],
    'stream.encoding.set': [400, 'VALIDATION_FAILED'],
    'stream.not.readable': [400, 'VALIDATION_FAILED'],
  };

  it('finds the failure types in the installed body-parser and raw-body (so the walk below is complete)', () => {
    const found = bodyParserErrorTypes();
    expect(found).toEqual(expect.arrayContaining(['entity.parse.failed', 'entity.too.large', 'encoding.unsupported', 'request.aborted', 'stream.not.readable']));
    // A type a new version adds must be given its answer here (and in middleware.ts).
    expect(found.filter((type) => !(type in EXPECTED))).toEqual([]);
  });

  for (const type of bodyParserErrorTypes()) {
    it(`when the parser fails with ${type}, then ${String(EXPECTED[type]?.[0])} ${String(EXPECTED[type]?.[1])} in the envelope, nothing logged as a failure`, async () => {
      // raw-body raises its stream errors as 500s; body-parser wraps the others as 400, 403, 413 or 415.
      for (const status of [400, 403, 413, 415, 500]) {
        const before = logged.length;
        const res = await answer(parserError(status, type));
        expect([res.status, (res.body as { code: string }).code], `status ${String(status)}`).toEqual(EXPECTED[type]);
        expectEnvelope(res.body, EXPECTED[type]?.[1] ?? '');
        expect(res.text).not.toContain('parser said');
        expect(logged.slice(before).join('')).not.toContain('request failed');
      }
    });
  }

  it.each([
    [400, undefined, 400, 'VALIDATION_FAILED'],
    [400, 'some.future.type', 400, 'VALIDATION_FAILED'],
    [413, 'some.future.type', 413, 'PAYLOAD_TOO_LARGE'],
    [415, 'some.future.type', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    [404, undefined, 404, 'NOT_FOUND'],
  ])('when a client error with status %i and type %s arrives (a wrapped zlib error, a newer parser), then %i %s', async (status, type, expected, code) => {
    const res = await answer(parserError(status, type));
    expect(res.status).toBe(expected);
    expectEnvelope(res.body, code);
  });

  it('when an error is not a client error (no expose, or a 5xx), then it stays 500 INTERNAL and is logged', async () => {
    const before = logged.length;
    const res = await answer(Object.assign(new Error('boom'), { status: 400 }));
    expect(res.status).toBe(500);
    expectEnvelope(res.body, 'INTERNAL');
    expect((await answer(parserError(503, undefined))).status).toBe(500);
    expect(logged.slice(before).join('')).toContain('request failed');
  });
});
