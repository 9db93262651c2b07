import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { Request, RequestHandler, Response } from 'express';
import { histogramOf } from './instruments.js';

/**
 * The app's own HTTP and Express instrumentation: one server span per request and one span for
 * the route's handler, with the stable HTTP semantic conventions, and the
 * `http.server.request.duration` histogram. The contrib instrumentations wrapped every socket
 * event, router layer and middleware call (see README, Performance, for what that cost); these
 * record what a reader of a trace uses and nothing else. No header is read but
 * `traceparent`/`tracestate` and `user-agent`.
 */
export const HTTP_SCOPE = 'incident-tracker-api/http';
export const EXPRESS_SCOPE = 'incident-tracker-api/express';

/** Query-string keys whose values never reach a span (keys are refused there, but still sent). */
const REDACTED_QUERY_PARAMS = new Set(['api_key', 'apikey', 'x-api-key', 'key', 'token', 'password', 'awsaccesskeyid', 'signature', 'sig', 'x-goog-signature']);

// On the request object itself: a WeakMap entry per request measured as extra GC work.
const SERVER_SPAN = Symbol('serverSpan');
const ROUTE = Symbol('route');
interface Traced {
  [SERVER_SPAN]?: Span;
  [ROUTE]?: string;
}

function tracedRequest(req: Request): Request & Traced {
  return req;
}

const durationHistogram = histogramOf(HTTP_SCOPE, 'http.server.request.duration', {
  description: 'Duration of HTTP server requests.',
  unit: 's',
  advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] },
});

/** `a=1&token=secret` -> `a=1&token=REDACTED`; values of secret-looking keys only. */
export function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let key: string;
      try {
        key = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' ')).toLowerCase();
      } catch {
        key = pair.slice(0, eq).toLowerCase();
      }
      return REDACTED_QUERY_PARAMS.has(key) ? `${pair.slice(0, eq)}=REDACTED` : pair;
    })
    .join('&');
}

/**
 * The first middleware: starts the request's server span (continuing an incoming W3C
 * `traceparent`), runs the rest of the request in its context, and ends it when the response is
 * done, with the status and the matched route. `/health` probes are not traced.
 */
export function traceRequests(): RequestHandler {
  const tracer = trace.getTracer(HTTP_SCOPE);
  return (req, res, next) => {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/health') {
      next();
      return;
    }
    const parent = req.headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method;
    const scheme = req.protocol;
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
    if (span.isRecording()) {
      const attributes: Attributes = {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_URL_PATH]: path,
        [ATTR_URL_SCHEME]: scheme,
        [ATTR_NETWORK_PEER_ADDRESS]: req.socket.remoteAddress,
        [ATTR_CLIENT_ADDRESS]: req.ip,
        [ATTR_USER_AGENT_ORIGINAL]: req.headers['user-agent']?.slice(0, 500),
      };
      if (q >= 0) attributes[ATTR_URL_QUERY] = redactQuery(url.slice(q + 1));
      span.setAttributes(attributes);
    }
    tracedRequest(req)[SERVER_SPAN] = span;
    const started = performance.now();
    res.once('close', () => {
      finish(req, res, span, method, scheme, started);
    });
    context.with(trace.setSpan(parent, span), next);
  };
}

function finish(req: Request, res: Response, span: Span, method: string, scheme: string, started: number): void {
  const status = res.statusCode;
  const route = tracedRequest(req)[ROUTE];
  // A response cut off before it was complete (the client went away) is an error whatever its status.
  const errorType = !res.writableFinished ? 'aborted' : status >= 500 ? String(status) : undefined;
  const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_SCHEME]: scheme, [ATTR_HTTP_RESPONSE_STATUS_CODE]: status };
  if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
  if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
  durationHistogram().record((performance.now() - started) / 1000, attributes);
  if (span.isRecording()) {
    span.setAttributes(attributes);
    if (route !== undefined) span.updateName(`${method} ${route}`);
    if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** The request's server span, if it is traced. */
export function serverSpanOf(req: Request): Span | undefined {
  return tracedRequest(req)[SERVER_SPAN];
}

/**
 * Runs a route's handler in a span of its own (`request handler - <route>`), beneath the server
 * span, and names the route on the server span and the duration metric. Untraced requests run
 * the handler as is.
 */
export function traceHandler(route: string, handler: (req: Request, res: Response) => Promise<void>): (req: Request, res: Response) => Promise<void> {
  const tracer = trace.getTracer(EXPRESS_SCOPE);
  const name = `request handler - ${route}`;
  const attributes: Attributes = { [ATTR_HTTP_ROUTE]: route, 'express.name': route, 'express.type': 'request_handler' };
  return (req, res) => {
    const r = tracedRequest(req);
    if (r[SERVER_SPAN] === undefined) return handler(req, res);
    r[ROUTE] = route;
    return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes }, (span) =>
      handler(req, res).then(
        () => {
          span.end();
        },
        (err: unknown) => {
          const code = (err as { code?: unknown; status?: unknown } | null)?.code;
          const status = (err as { status?: unknown } | null)?.status;
          span.setAttribute(ATTR_ERROR_TYPE, typeof code === 'string' ? code : err instanceof Error ? err.name : 'Error');
          // A refusal (4xx) is the handler working; only a failure is an error.
          if (typeof status !== 'number' || status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
          throw err;
        },
      ),
    );
  };
}
