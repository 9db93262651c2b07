import { readFileSync } from 'node:fs';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuiltApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/platform/log/logger.js';
import { LogMailer } from '../../src/platform/mail/mailer.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { OPENAPI_PATH } from '../support/contract.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  // Required in production, never connected to: the app below gets the test database, no Redis
  // and a log mailer.
  DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
  REDIS_URL: 'redis://127.0.0.1:1',
  SMTP_URL: 'smtp://127.0.0.1:1',
  SESSION_SECRET: 'production-like-secret-that-is-long-enough',
  APP_BASE_URL: 'https://app.test',
  DATA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

/** The real app with a production config, on the test app's database and in-memory sessions. */
function productionApp(extraEnv: Record<string, string> = {}): BuiltApp {
  const logger = createLogger('silent');
  return buildApp({ config: loadConfig({ ...PRODUCTION_ENV, ...extraEnv }), db: t.db, redis: null, logger, mailer: new LogMailer(logger) });
}

/** Every src and href in the page. */
function referencedUrls(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '');
}

describe('API docs', () => {
  it('GET /docs serves the interactive reference, and everything it references is served locally', async () => {
    const res = await t.request().get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const html = res.text;
    expect(html).not.toMatch(/https?:\/\//);

    const urls = referencedUrls(html);
    expect(urls).toEqual(expect.arrayContaining(['/docs/assets/swagger-ui.css', '/docs/assets/swagger-ui-bundle.js', '/docs/init.js']));
    for (const url of urls) {
      expect(url, 'a same-origin absolute path').toMatch(/^\/(?!\/)/);
      const asset = await t.request().get(url);
      expect(asset.status, url).toBe(200);
    }
    const bundle = await t.request().get('/docs/assets/swagger-ui-bundle.js');
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.text).toContain('SwaggerUIBundle');

    const init = await t.request().get('/docs/init.js');
    expect(init.headers['content-type']).toMatch(/javascript/);
    expect(init.text).toContain("url: '/openapi.yaml'");
    expect(init.text).toContain('validatorUrl: null');
    expect(init.text).not.toMatch(/https?:\/\//);
  });

  it('the docs page may style inline and load data: images; other responses may not style inline', async () => {
    const docs = await t.request().get('/docs');
    const csp = docs.headers['content-security-policy'] ?? '';
    expect(csp).toMatch(/style-src 'self' 'unsafe-inline'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'/);

    const api = await t.request().get('/v1/auth/me');
    expect(api.headers['content-security-policy']).toMatch(/style-src 'self'(;|$)/);
    expect(api.headers['content-security-policy']).not.toContain('unsafe-inline');
  });

  it('serves only the swagger-ui files the page uses', async () => {
    for (const file of ['package.json', 'index.html', 'swagger-initializer.js', '..%2Fpackage.json']) {
      const res = await t.request().get(`/docs/assets/${file}`);
      expect(res.status, file).toBe(404);
      expect((res.body as { code: string }).code).toBe('NOT_FOUND');
    }
  });

  it('GET /openapi.yaml returns the contract as written', async () => {
    const res = await t.request().get('/openapi.yaml');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    expect(res.text).toBe(readFileSync(OPENAPI_PATH, 'utf8'));
  });

  it('when running in production without API_DOCS, then /docs and /openapi.yaml are 404', async () => {
    const app = productionApp();
    for (const path of ['/docs', '/openapi.yaml', '/docs/init.js', '/docs/assets/swagger-ui-bundle.js']) {
      const res = await supertest(app.app).get(path);
      expect(res.status, path).toBe(404);
      expect((res.body as { code: string }).code).toBe('NOT_FOUND');
    }
    app.close();
  });

  it('when running in production with API_DOCS=true, then both are served', async () => {
    const app = productionApp({ API_DOCS: 'true' });
    expect((await supertest(app.app).get('/docs')).status).toBe(200);
    expect((await supertest(app.app).get('/openapi.yaml')).status).toBe(200);
    app.close();
  });
});
