import { AppError } from '../http/errors.js';

/** Error codes of node-postgres / PGlite / the socket layer that mean "database unavailable". */
const UNAVAILABLE_SQLSTATES = new Set(['57014', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', '25P03']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Client has encountered a connection error',
  'connection timeout',
  'Query read timeout',
];

function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * Maps a database error to an AppError by SQLSTATE, never by message text shown to a client.
 * Returns null when the error is not a recognised database condition (the handler makes it a
 * 500). Constraint names and driver messages never reach the response.
 */
export function mapDatabaseError(err: unknown): AppError | null {
  const code = codeOf(err);
  if (code === '23505' || code === '23P01') return new AppError('CONFLICT', { cause: err });
  // A foreign key or check failure on input that passed validation: treat as not found/invalid
  // without naming the constraint.
  if (code === '23503') return new AppError('VALIDATION_FAILED', { cause: err });
  if (code === '23514') return new AppError('VALIDATION_FAILED', { cause: err });
  // Class 22, data exception: a value the column cannot hold (too long, NUL in text, a bad
  // escape in JSON, out of range). Validation should have refused it; this is the backstop.
  if (code && /^22[0-9A-Z]{3}$/.test(code)) return new AppError('VALIDATION_FAILED', { cause: err });
  // RLS refused a write: from the caller's side the row is not there.
  if (code === '42501') return new AppError('NOT_FOUND', { cause: err });
  if (code === '40001' || code === '40P01') return new AppError('CONFLICT', { cause: err });
  if (code && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) {
    return new AppError('SERVICE_UNAVAILABLE', { cause: err, headers: { 'Retry-After': '1' } });
  }
  if (err instanceof Error && UNAVAILABLE_MESSAGES.some((m) => err.message.includes(m))) {
    return new AppError('SERVICE_UNAVAILABLE', { cause: err, headers: { 'Retry-After': '1' } });
  }
  return null;
}
