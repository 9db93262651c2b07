import type { Request } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { AuthRateLimits } from './features/auth/auth.limits.js';
import type { PasswordHasher } from './features/auth/auth.passwords.js';
import type { EventHub } from './features/events/events.hub.js';
import type { Clock } from './platform/clock.js';
import type { Database } from './platform/db/database.js';
import type { TraceIdSource } from './platform/http/middleware.js';
import type { Mailer } from './platform/mail/mailer.js';
import type { AnonymousCsrf, SessionTimeouts } from './platform/session/session.js';

// A leaf module: features import these types without importing app.ts, which imports the features.

export interface AppDeps {
  config: Config;
  db: Database;
  /** Null in the embedded default: sessions and counters stay in process memory. */
  redis: Redis | null;
  logger: Logger;
  mailer: Mailer;
  clock?: Clock;
  /** Defaults to the active OpenTelemetry trace id (a random id when tracing is off). */
  traceId?: TraceIdSource;
  /** Sees every response body as it is sent; the contract tests validate them against openapi.yaml. */
  responseObserver?: ResponseObserver;
  /** Event stream timings (tests shorten them); defaults in app.ts. */
  eventStreams?: Partial<EventStreamTimings>;
}

export interface EventStreamTimings {
  /** `: keep-alive` comment interval (API.md: 15 s). */
  keepAliveMs: number;
  /** Credential re-check interval (SECURITY.md 55: at most 60 s). */
  recheckIntervalMs: number;
  /** How often the table is read without a notification (what a lost notification can cost). */
  pollIntervalMs: number;
}

export type ResponseObserver = (req: Request, status: number, body: unknown) => void;

/** Everything a feature's routes may use. */
export interface FeatureDeps {
  config: Config;
  db: Database;
  redis: Redis | null;
  logger: Logger;
  mailer: Mailer;
  clock: Clock;
  limits: AuthRateLimits;
  hasher: PasswordHasher;
  sessionTimeouts: SessionTimeouts;
  anonymousCsrf: AnonymousCsrf;
  /** This process's fan-out of committed events to its open streams. */
  eventHub: EventHub;
  eventStreams: EventStreamTimings;
}
