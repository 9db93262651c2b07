import { AppError } from '../http/errors.js';

/**
 * SQLSTATEs that mean "this server cannot take the request now", whatever the request:
 * 25006 read-only (a standby, or a node mid-promotion), 57P01-57P03 shutdown and start-up,
 * 53300 too many connections, 57014 statement timeout, 25P03 idle-in-transaction timeout. The
 * whole connection-exception class 08 (08P01 included: a pooler that lost its server) is matched
 * by `CONNECTION_CLASS`.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57014', '57P01', '57P02', '57P03', '53300', '25006', '25P03']);
const CONNECTION_CLASS = /^08[0-9A-Z]{3}$/;
/** The server this connection talks to is gone or is no longer the writable primary. */
const FAILOVER_SQLSTATES = new Set(['25006', '57P01', '57P02', '57P03']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'connection timeout',
  'timeout expired',
  'Query read timeout',
];
/** The pool had no free client within the connection timeout (no server is at fault). */
const POOL_WAIT_MESSAGE = 'timeout exceeded when trying to connect';
/**
 * A standby cancelled a query because replay needed what it was reading ("canceling statement due
 * to conflict with recovery"). It carries 40001 or 40P01 like a serialization failure or deadlock
 * on the primary, which are real conflicts; only the message tells them apart.
 */
const RECOVERY_CONFLICT_MESSAGE = 'conflict with recovery';

function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : '';
}

/** A standby's query cancellation (see RECOVERY_CONFLICT_MESSAGE): retry elsewhere or 503. */
export function isRecoveryConflict(err: unknown): boolean {
  const code = codeOf(err);
  return (code === '40001' || code === '40P01') && messageOf(err).includes(RECOVERY_CONFLICT_MESSAGE);
}

/**
 * The connection, or the server behind it, can no longer serve this pool: the socket failed, the
 * server is shutting down or starting, or it is read-only (a standby, or a primary that was
 * demoted). A pool over several hosts forgets its primary on these and looks for it again.
 */
export function isConnectionFailure(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined && (FAILOVER_SQLSTATES.has(code) || CONNECTION_CLASS.test(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
  const message = messageOf(err);
  return CONNECTION_MESSAGES.some((m) => message.includes(m));
}

function unavailable(err: unknown): AppError {
  return new AppError('SERVICE_UNAVAILABLE', { cause: err, headers: { 'Retry-After': '1' } });
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
  // A standby cancelling a read is no conflict with the caller's request: try again shortly.
  if (isRecoveryConflict(err)) return unavailable(err);
  if (code === '40001' || code === '40P01') return new AppError('CONFLICT', { cause: err });
  if (code && UNAVAILABLE_SQLSTATES.has(code)) return unavailable(err);
  if (isConnectionFailure(err) || messageOf(err).includes(POOL_WAIT_MESSAGE)) return unavailable(err);
  return null;
}
