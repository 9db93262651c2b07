import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { mapDatabaseError } from '../db/pg-errors.js';
import { AppError, isAppError } from './errors.js';

export type TraceIdSource = () => string | null;

/**
 * x-request-id on every response: the active trace id when tracing is on, else a fresh one (32 hex
 * digits, 122 of its bits random). randomUUID draws from a buffered pool of entropy, where
 * randomBytes(16) asked OpenSSL for fresh bytes on every request (1.6% of the app's CPU on a list).
 */
export function requestId(traceId: TraceIdSource): RequestHandler {
  return (req, res, next) => {
    req.requestId = traceId() ?? randomUUID().replaceAll('-', '');
    res.setHeader('x-request-id', req.requestId);
    next();
  };
}

export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A body must be JSON: anything else with content gets 415 before parsing. */
export const requireJsonContentType: RequestHandler = (req, _res, next) => {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (BODY_METHODS.has(req.method) && hasBody && !req.is('application/json')) {
    next(new AppError('UNSUPPORTED_MEDIA_TYPE'));
    return;
  }
  next();
};

export interface KnownRoute {
  method: string;
  path: string;
}

function toRegex(path: string): RegExp {
  return new RegExp(`^${path.replace(/:[A-Za-z]+/g, '[^/]+')}/?$`);
}

/** Unknown path: 404. Known path with another method: 405 with `Allow`. */
export function notFoundOrMethodNotAllowed(routes: () => KnownRoute[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const allowed = routes()
      .filter((r) => toRegex(r.path).test(req.path))
      .map((r) => r.method.toUpperCase());
    if (allowed.length > 0) {
      const allow = [...new Set(allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed)].join(', ');
      res.setHeader('Allow', allow);
      next(new AppError('METHOD_NOT_ALLOWED', { details: { allow: allow.split(', ') } }));
      return;
    }
    next(new AppError('NOT_FOUND'));
  };
}

/** The shape body-parser and raw-body give their errors (http-errors). */
interface BodyParserError {
  type?: unknown;
  status?: unknown;
  expose?: unknown;
}

const BODY_UNREADABLE = 'The request body could not be read.';

/**
 * Every failure type body-parser and raw-body raise, by `type`. Each is the client's doing (a body
 * that is not JSON, too large, compressed, cut short), so each is a 4xx.
 */
const BODY_PARSER_ERRORS: Record<string, () => AppError> = {
  'entity.parse.failed': () => new AppError('MALFORMED_JSON'),
  'entity.verify.failed': () => new AppError('VALIDATION_FAILED', { message: BODY_UNREADABLE }),
  'entity.too.large': () => new AppError('PAYLOAD_TOO_LARGE'),
  'parameters.too.many': () => new AppError('PAYLOAD_TOO_LARGE'),
  'querystring.parse.rangeError': () => new AppError('VALIDATION_FAILED', { message: BODY_UNREADABLE }),
  // The JSON parser runs with `inflate: false`: every Content-Encoding but identity lands here.
  'encoding.unsupported': () =>
    new AppError('UNSUPPORTED_MEDIA_TYPE', { message: 'Compressed request bodies are not supported; send the body without Content-Encoding.' }),
  'charset.unsupported': () => new AppError('UNSUPPORTED_MEDIA_TYPE', { message: 'Send the request body as UTF-8 application/json.' }),
  'request.aborted': () => new AppError('VALIDATION_FAILED', { message: 'The request body ended before its Content-Length.' }),
  'request.size.invalid': () => new AppError('VALIDATION_FAILED', { message: 'The request body does not match its Content-Length.' }),
  'stream.encoding.set': () => new AppError('VALIDATION_FAILED', { message: BODY_UNREADABLE }),
  'stream.not.readable': () => new AppError('VALIDATION_FAILED', { message: BODY_UNREADABLE }),
};

/**
 * A body-parser failure by its `type`, or any other client error in http-errors' shape (a type a
 * newer body-parser adds, a stream error it wrapped, a file `res.sendFile` did not find) by its
 * status. Null for everything else.
 */
function clientHttpError(err: unknown): AppError | null {
  if (typeof err !== 'object' || err === null) return null;
  const { type, status, expose } = err as BodyParserError;
  const known = typeof type === 'string' ? BODY_PARSER_ERRORS[type] : undefined;
  if (known) return known();
  if (expose !== true || typeof status !== 'number' || status < 400 || status > 499) return null;
  if (status === 404) return new AppError('NOT_FOUND');
  if (status === 413) return new AppError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE');
  return new AppError('VALIDATION_FAILED');
}

function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const client = clientHttpError(err);
  if (client) return client;
  // The router could not percent-decode a path parameter (`/v1/incidents/%E0%A4%A`): no such id.
  if (err instanceof URIError) return new AppError('NOT_FOUND');
  const mapped = mapDatabaseError(err);
  if (mapped) return mapped;
  return new AppError('INTERNAL', { cause: err });
}

/** The one error handler: every failure becomes the envelope; internals go to the log only. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appErr = toAppError(err);
    if (appErr.status >= 500) {
      const cause = appErr.code === 'INTERNAL' ? err : (appErr.cause ?? err);
      logger.error({ err: cause, requestId: req.requestId, method: req.method, path: req.path }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(appErr.headers)) res.setHeader(k, v);
    res.status(appErr.status).json({
      code: appErr.code,
      message: appErr.message,
      traceId: req.requestId,
      details: appErr.details,
    });
  };
}
