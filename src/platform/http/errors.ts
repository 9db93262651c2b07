/**
 * The one error type of the service. Every 4xx/5xx response is built from an AppError by the
 * error handler; codes come from this catalog (extend it, never rename).
 */
export const ERROR_CATALOG = {
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  RESET_TOKEN_INVALID: { status: 400, message: 'The reset link is invalid or has expired.' },
  PASSWORD_TOO_WEAK: { status: 400, message: 'Choose a longer or less common password.' },
  AUTH_REQUIRED: { status: 401, message: 'Sign in to continue.' },
  AUTH_INVALID_CREDENTIALS: { status: 401, message: 'Invalid email or password.' },
  API_KEY_INVALID: { status: 401, message: 'The API key is invalid, expired or revoked.' },
  ROUTING_KEY_INVALID: { status: 401, message: 'Send a valid alert source routing key as Authorization: Bearer <routingKey>.' },
  CSRF_TOKEN_INVALID: { status: 403, message: 'The CSRF token is missing or invalid.' },
  FORBIDDEN: { status: 403, message: 'You do not have permission to do this.' },
  INSUFFICIENT_SCOPE: { status: 403, message: 'The API key does not have the scope this needs.' },
  SESSION_REQUIRED: { status: 403, message: 'This route needs a signed-in session; API keys are not accepted.' },
  INVITE_EMAIL_MISMATCH: { status: 403, message: 'This invite was sent to a different email address.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  EMAIL_ALREADY_REGISTERED: { status: 409, message: 'An account with this email already exists.' },
  TENANT_CONTEXT_REQUIRED: {
    status: 409,
    message: 'No tenant is active. Choose one with POST /v1/tenants/{tenantId}/switch (GET /v1/tenants lists yours), or create one with POST /v1/tenants.',
  },
  INVALID_STATUS_TRANSITION: { status: 409, message: 'This status change is not allowed.' },
  LAST_OWNER: { status: 409, message: 'A tenant must keep at least one owner.' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still in progress.' },
  ALREADY_MEMBER: { status: 409, message: 'You are already a member of this tenant.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },
  INVITE_EXPIRED: { status: 410, message: 'This invite has been used, revoked or has expired.' },
  PRECONDITION_FAILED: { status: 412, message: 'The resource has changed; reload it and try again.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the request body as application/json.' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was used with a different request.' },
  AUTH_LOCKED: { status: 429, message: 'Too many failed sign-in attempts; try again later.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later.' },
  QUOTA_EXCEEDED: { status: 429, message: 'The daily write quota for this tenant is used up.' },
  INTERNAL: { status: 500, message: 'Something went wrong.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface AppErrorOptions {
  message?: string;
  details?: Record<string, unknown>;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly status: number;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    opts: AppErrorOptions = {},
  ) {
    super(opts.message ?? ERROR_CATALOG[code].message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.status = ERROR_CATALOG[code].status;
    this.details = opts.details ?? {};
    this.headers = opts.headers ?? {};
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
