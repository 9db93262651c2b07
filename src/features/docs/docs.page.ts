/**
 * The interactive reference: Swagger UI from the swagger-ui-dist package, served by this server
 * (no CDN). Paths are absolute on the server, the initializer is a separate script (so the page
 * needs no inline script), and the page makes no request to any other origin: the spec's
 * `servers` entry is rewritten to the page's own origin, and the online validator badge is off.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Incident Tracker API reference</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

/**
 * Swagger UI set-up. "Try it out" runs in the page with the session cookie, so unsafe requests
 * need the session's CSRF token: the page reads it from GET /v1/auth/me before the first one and
 * takes the new one from any answer that carries `csrfToken` (signup, login, password change),
 * so a signed-in reader never pastes a token. A request made with an API key (x-api-key or
 * Authorization) needs none and gets none; a token typed into the form wins.
 */
export const DOCS_INIT_JS = `'use strict';
(function () {
  var UNSAFE = { POST: true, PUT: true, PATCH: true, DELETE: true };
  var csrfToken = null;

  function fetchCsrfToken() {
    return fetch('/v1/auth/me', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (res) { return res.json(); })
      .then(function (body) {
        csrfToken = body && typeof body.csrfToken === 'string' ? body.csrfToken : null;
        return csrfToken;
      });
  }

  function hasHeader(headers, name) {
    return Object.keys(headers).some(function (k) { return k.toLowerCase() === name; });
  }

  window.addEventListener('load', function () {
    window.ui = window.SwaggerUIBundle({
      url: '/openapi.yaml',
      dom_id: '#swagger-ui',
      deepLinking: true,
      layout: 'BaseLayout',
      validatorUrl: null,
      requestInterceptor: function (request) {
        var target = new URL(request.url, window.location.href);
        request.url = window.location.origin + target.pathname + target.search;
        var headers = request.headers || (request.headers = {});
        var method = String(request.method || 'GET').toUpperCase();
        if (!UNSAFE[method] || hasHeader(headers, 'x-csrf-token') || hasHeader(headers, 'x-api-key') || hasHeader(headers, 'authorization')) {
          return request;
        }
        return (csrfToken ? Promise.resolve(csrfToken) : fetchCsrfToken()).then(function (token) {
          if (token) headers['x-csrf-token'] = token;
          return request;
        });
      },
      responseInterceptor: function (response) {
        var body = response && response.body;
        if (body && typeof body.csrfToken === 'string') csrfToken = body.csrfToken;
        // Signed out, or a token the server no longer knows: read a fresh one next time.
        else if (response && (response.status === 403 || /\\/v1\\/auth\\/logout$/.test(String(response.url)))) csrfToken = null;
        return response;
      },
    });
  });
})();
`;
