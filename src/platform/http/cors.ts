import type { RequestHandler } from 'express';

/** Response headers a browser script on an allowed origin may read. */
const EXPOSED_HEADERS = ['ETag', 'Location', 'X-Quota-Limit', 'X-Quota-Remaining', 'X-Quota-Reset', 'Retry-After', 'x-request-id', 'Idempotent-Replayed'].join(', ');
const ALLOWED_METHODS = 'GET, POST, PATCH, DELETE';
const ALLOWED_HEADERS = ['content-type', 'x-csrf-token', 'x-api-key', 'authorization', 'idempotency-key', 'if-match', 'traceparent', 'tracestate'].join(', ');
/** How long a browser may reuse a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = '600';

/**
 * CORS for an allow-list of exact origins (CORS_ORIGINS), with credentials. A listed origin gets
 * the CORS headers and its preflight a 204; any other origin gets none, so the browser refuses to
 * hand it the response, and its preflight falls through to the router like any OPTIONS request
 * (405). `Vary: Origin` on every response, since the headers depend on it. The session cookie and
 * the CSRF check are untouched: a cross-origin page reads its token from GET /v1/auth/me and sends
 * it in x-csrf-token like any other client.
 *
 * Written here rather than with the `cors` package, which sends the credential, method and header
 * lists to unlisted origins too and answers their preflights with 204.
 */
export function corsAllowList(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !allowed.has(origin)) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_S);
      res.status(204).end();
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
