import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.js';
import type { JobQueue } from '../jobs/runner.js';
import { withSystemTx } from '../db/tx.js';
import type { Mailer, MailMessage } from './mailer.js';
import { claimDueMail, insertOutboxMail, markMailFailed, markMailSent, pruneFinishedMail, type ClaimedMail } from './outbox.queries.js';

export const MAIL_QUEUE = 'mail';

export interface OutgoingMail extends MailMessage {
  /** What the mail is for (`password_reset`, `invite`): logs name this, never the recipient or text. */
  purpose: string;
  /** Not delivered after this (a link that will have expired by then); null: no limit. */
  deliverBefore?: Date | null;
}

/**
 * Where features put mail: a row in the caller's transaction, so a rolled-back change sends
 * nothing and a committed one survives a restart. The commit wakes the mail queue.
 */
export class MailOutbox {
  constructor(
    private readonly scope: string,
    private readonly queued: () => void,
  ) {}

  async enqueue(tx: Queryable, mail: OutgoingMail, now: Date): Promise<void> {
    await insertOutboxMail(tx, {
      id: randomUUID(),
      scope: this.scope,
      purpose: mail.purpose,
      recipient: mail.to,
      subject: mail.subject,
      body: mail.text,
      now,
      deliverBefore: mail.deliverBefore ?? null,
    });
    tx.afterCommit(this.queued);
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** About 3 hours of an unreachable SMTP server before a mail is given up on. */
export const MAIL_RETRY: RetryPolicy = { maxAttempts: 25, baseDelayMs: 2000, maxDelayMs: 10 * 60_000 };

/** The wait after the `attempts`-th failure: doubling to `maxDelayMs`, plus up to 20% jitter; null when given up. */
export function retryDelayMs(policy: RetryPolicy, attempts: number, random: () => number = Math.random): number | null {
  if (attempts >= policy.maxAttempts) return null;
  const delay = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay * (1 + 0.2 * random()));
}

export interface MailQueueOptions {
  db: Database;
  mailer: Mailer;
  logger: Logger;
  /** Claims only this scope's rows (see MailOutbox and migrations/0009). */
  scope: string;
  /** How long a claim holds its rows: longer than a batch of sends can take (they run at once). */
  leaseMs?: number;
  retry?: RetryPolicy;
  /** How long sent and given-up rows are kept (for support questions) before they are deleted; default 30 days. */
  retentionMs?: number;
  /** Rows one prune deletes at most; a full batch makes the next run prune again. */
  pruneBatch?: number;
  /** How often finished rows are looked for once none were left to delete; default 10 minutes. */
  pruneIntervalMs?: number;
}

export const MAIL_RETENTION_MS = 30 * 24 * 3_600_000;

/**
 * Delivers outbox rows: claims due ones (as the owning role: the table is for no request to read),
 * sends them outside any transaction, records each outcome under the claim's lease. The one
 * duplicate left is a crash after the SMTP server accepted a message and before its row was marked.
 */
export class MailQueue implements JobQueue {
  readonly name = MAIL_QUEUE;
  private readonly leaseMs: number;
  private readonly retry: RetryPolicy;
  private nextPruneAt = 0;

  constructor(private readonly opts: MailQueueOptions) {
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.retry = opts.retry ?? MAIL_RETRY;
  }

  async runOnce(now: Date, limit: number): Promise<number> {
    const leaseId = randomUUID();
    const leaseEnd = new Date(now.getTime() + this.leaseMs);
    const claimed = await withSystemTx(this.opts.db, (tx) => claimDueMail(tx, this.opts.scope, now, leaseId, leaseEnd, limit));
    // Every delivery finishes before the run does (stop() waits for runs); a row whose outcome
    // could not be recorded is claimed again when its lease ends.
    const outcomes = await Promise.allSettled(claimed.map((mail) => this.deliver(mail, leaseId, now)));
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    // Pruned rows count as work done, so the runner keeps running while a backlog is deleted.
    return claimed.length + (await this.prune(now));
  }

  /** Deletes one batch of rows finished longer than the retention ago, at most once per interval. */
  private async prune(now: Date): Promise<number> {
    if (now.getTime() < this.nextPruneAt) return 0;
    const batch = this.opts.pruneBatch ?? 100;
    const before = new Date(now.getTime() - (this.opts.retentionMs ?? MAIL_RETENTION_MS));
    const deleted = await withSystemTx(this.opts.db, (tx) => pruneFinishedMail(tx, this.opts.scope, before, batch));
    if (deleted > 0) this.opts.logger.info({ deleted }, 'finished mail pruned');
    this.nextPruneAt = deleted < batch ? now.getTime() + (this.opts.pruneIntervalMs ?? 10 * 60_000) : 0;
    return deleted;
  }

  private async deliver(mail: ClaimedMail, leaseId: string, now: Date): Promise<void> {
    const { logger, db } = this.opts;
    const about = { mailId: mail.id, purpose: mail.purpose, attempts: mail.attempts };
    if (mail.deliver_before !== null && mail.deliver_before <= now) {
      await withSystemTx(db, (tx) => markMailFailed(tx, mail.id, leaseId, now, null, 'expired before it could be delivered'));
      logger.error(about, 'mail given up: what it links to expired before it could be delivered');
      return;
    }
    let error: string | null = null;
    try {
      await this.opts.mailer.send({ to: mail.recipient, subject: mail.subject, text: mail.body });
    } catch (err) {
      error = (err instanceof Error ? err.message : String(err)).slice(0, 500);
    }
    if (error === null) {
      const recorded = await withSystemTx(db, (tx) => markMailSent(tx, mail.id, leaseId, now));
      if (recorded) logger.info(about, 'mail delivered');
      else logger.warn(about, 'mail delivered after its lease ended: another worker may deliver it again');
      return;
    }
    const delay = retryDelayMs(this.retry, mail.attempts);
    const retryAt = delay === null ? null : new Date(now.getTime() + delay);
    await withSystemTx(db, (tx) => markMailFailed(tx, mail.id, leaseId, now, retryAt, error));
    if (retryAt === null) logger.error({ ...about, err: { message: error } }, 'mail given up after its last attempt');
    else logger.warn({ ...about, err: { message: error }, retryAt: retryAt.toISOString() }, 'mail delivery failed; will retry');
  }
}
