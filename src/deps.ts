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
import type { AfterResponse } from './platform/jobs/after-response.js';
import type { Mailer } from './platform/mail/mailer.js';
import type { MailOutbox } from './platform/mail/outbox.js';
import type { AnonymousCsrf, SessionTimeouts } from './platform/session/session.js';

// A leaf module: features import these types without importing app.ts, which imports the features.

export interface AppDeps {
  config: Config;
  db: Database;
  /** Null in the embedded default: sessions and counters stay in process memory. */
  redis: Redis | null;
  logger: Logger;
  /** The transport the mail queue's worker delivers with (features queue mail in MailOutbox). */
  mailer: Mailer;
  /**
   * Which outbox rows this app's mail queue claims (migrations/0009): '' in a deployment; the
   * integration suite gives each app its own, since its apps share a database but not a mail server.
   */
  mailScope?: string;
  /**
   * Whether this process's job runner delivers webhooks (default true). The integration suite's
   * apps share one database and turn it off: each webhook test drives its own worker and clock.
   */
  webhookDelivery?: boolean;
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
  /** Queues mail in the caller's transaction; a worker delivers it after the commit. */
  mail: MailOutbox;
  /** Work a request starts after its answer (forgot-password's lookup), tracked for shutdown and tests. */
  afterResponse: AfterResponse;
  /** Runs a job queue of this process soon (after a commit that queued work for it); a no-op without workers. */
  wakeJobs(queue: string): void;
  /** Whether the job runner includes webhook delivery (AppDeps.webhookDelivery). */
  webhookDelivery: boolean;
  clock: Clock;
  limits: AuthRateLimits;
  hasher: PasswordHasher;
  sessionTimeouts: SessionTimeouts;
  anonymousCsrf: AnonymousCsrf;
  /** This process's fan-out of committed events to its open streams. */
  eventHub: EventHub;
  eventStreams: EventStreamTimings;
}
