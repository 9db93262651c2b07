import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express, RequestHandler } from 'express';
import helmet from 'helmet';
import { AppError } from '../../platform/http/errors.js';
import type { KnownRoute } from '../../platform/http/middleware.js';
import { DOCS_HTML, DOCS_INIT_JS } from './docs.page.js';

/** The only swagger-ui-dist files the page uses; nothing else in the package is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/**
 * The page's policy, replacing the app-wide one on /docs only: Swagger UI styles its elements
 * inline and draws icons from data: URLs. Scripts stay 'self' (no inline script), and every
 * fetch (the spec, "Try it out") stays on this origin.
 */
const docsCsp: RequestHandler = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
  },
});

/** swagger-ui-dist's directory, found without importing its index (which evaluates the bundle). */
function swaggerUiDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/** openapi.yaml at the project root, from src/ (tsx) or dist/src/ (built) alike. */
function specPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'openapi.yaml');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('openapi.yaml not found above the docs feature');
    dir = parent;
  }
}

/**
 * GET /docs (the interactive reference) and GET /openapi.yaml (the contract as written). Not API
 * operations, so they are outside /v1 and the route inventory; app.ts mounts them only when
 * `config.apiDocs` (on outside production, `API_DOCS=true` in production). Returns the routes for
 * the 405 handler.
 */
export function registerDocsRoutes(app: Express): KnownRoute[] {
  const spec = readFileSync(specPath(), 'utf8');
  const uiDir = swaggerUiDir();

  app.get('/openapi.yaml', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/yaml; charset=utf-8').send(spec);
  });
  app.get('/docs', docsCsp, (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/html; charset=utf-8').send(DOCS_HTML);
  });
  app.get('/docs/init.js', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript; charset=utf-8').send(DOCS_INIT_JS);
  });
  app.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (type === undefined) {
      next(new AppError('NOT_FOUND'));
      return;
    }
    res.type(type);
    res.sendFile(file, { root: uiDir, maxAge: '1d' }, (err?: Error) => {
      if (err) next(err);
    });
  });

  return [
    { method: 'get', path: '/docs' },
    { method: 'get', path: '/docs/init.js' },
    { method: 'get', path: '/docs/assets/:file' },
    { method: 'get', path: '/openapi.yaml' },
  ];
}
