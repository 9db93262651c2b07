import type { AppDeps, FeatureDeps } from './deps.js';
import { featureJobQueues } from './features/index.js';
import { createAuthRateLimits } from './features/auth/auth.limits.js';
import { PasswordHasher } from './features/auth/auth.passwords.js';
import type { Clock } from './platform/clock.js';
import { EventHub } from './features/events/events.hub.js';
import { AfterResponse } from './platform/jobs/after-response.js';
import { JobRunner } from './platform/jobs/runner.js';
import { MAIL_QUEUE, MailOutbox, MailQueue } from './platform/mail/outbox.js';
import { AnonymousCsrf, type SessionTimeouts } from './platform/session/session.js';
import { observeDatabase } from './platform/telemetry/database.js';

const systemClock: Clock = { now: () => new Date() };

export interface AppServices {
  deps: FeatureDeps;
  /**
   * This process's background work: the mail queue and every feature's. Not started here: an
   * API node with workers (WORKERS=on) and a worker node start it; an API-only node never does.
   */
  jobs: JobRunner;
}

/**
 * Everything the features use, shared by the HTTP app (app.ts) and the worker-only process
 * (worker.ts), and the job runner over the queues they declare.
 */
export function createAppServices(input: AppDeps): AppServices {
  const { config, redis, logger } = input;
  // Transactions with afterCommit (metrics count only committed changes, mail wakes its queue)
  // and, on PGlite, SQL spans.
  const db = observeDatabase(input.db);
  const clock = input.clock ?? systemClock;
  const sessionTimeouts: SessionTimeouts = {
    idleTimeoutMs: config.session.idleTimeoutMs,
    absoluteTimeoutMs: config.session.absoluteTimeoutMs,
    anonymousTimeoutMs: 15 * 60_000,
  };
  const scope = input.mailScope ?? '';
  const eventStreams = { keepAliveMs: 15_000, recheckIntervalMs: 30_000, pollIntervalMs: 15_000, ...input.eventStreams };
  // The runner is made last (the feature queues take the deps); a commit that queues mail before
  // it exists cannot happen, since no request is served until this returns.
  let jobs: JobRunner | null = null;
  const deps: FeatureDeps = {
    config,
    db,
    redis,
    logger,
    mail: new MailOutbox(scope, () => jobs?.wake(MAIL_QUEUE)),
    afterResponse: new AfterResponse(logger),
    wakeJobs: (queue) => jobs?.wake(queue),
    webhookDelivery: input.webhookDelivery ?? true,
    clock,
    limits: createAuthRateLimits(config, redis, clock),
    hasher: new PasswordHasher(config.argon2MaxConcurrency),
    sessionTimeouts,
    anonymousCsrf: new AnonymousCsrf({
      secret: config.session.secret,
      cookieName: config.session.cookieName,
      secure: config.session.secure,
      lifetimeMs: sessionTimeouts.anonymousTimeoutMs,
    }),
    // Open event streams of this process (none in a worker-only process).
    eventHub: new EventHub(db, logger, eventStreams),
    eventStreams,
  };
  const mailQueue = new MailQueue({ db, mailer: input.mailer, logger, scope });
  jobs = new JobRunner({ queues: [mailQueue, ...featureJobQueues(deps)], clock, logger });
  return { deps, jobs };
}
