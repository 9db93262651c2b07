import type { Queryable } from '../db/database.js';

export interface OutboxInsert {
  id: string;
  scope: string;
  purpose: string;
  recipient: string;
  subject: string;
  body: string;
  now: Date;
  deliverBefore: Date | null;
}

/** Runs as the app role, which holds INSERT on mail_outbox and nothing else (migrations/0009). */
export async function insertOutboxMail(tx: Queryable, m: OutboxInsert): Promise<void> {
  await tx.query(
    `INSERT INTO mail_outbox (id, scope, purpose, recipient, subject, body, created_at, run_at, deliver_before)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
    [m.id, m.scope, m.purpose, m.recipient, m.subject, m.body, m.now, m.deliverBefore],
  );
}

export interface ClaimedMail {
  id: string;
  purpose: string;
  recipient: string;
  subject: string;
  body: string;
  attempts: number;
  deliver_before: Date | null;
}

/**
 * Claims due rows of a scope for one lease: `run_at` moves to the lease's end, so a row whose
 * worker dies is due again then. Every claim counts as an attempt.
 */
export async function claimDueMail(tx: Queryable, scope: string, now: Date, leaseId: string, leaseEnd: Date, limit: number): Promise<ClaimedMail[]> {
  const { rows } = await tx.query<ClaimedMail>(
    `UPDATE mail_outbox o SET lease_id = $3, run_at = $4, attempts = o.attempts + 1
      WHERE o.id IN (SELECT id FROM mail_outbox
                      WHERE scope = $1 AND sent_at IS NULL AND given_up_at IS NULL AND run_at <= $2
                      ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
     RETURNING o.id, o.purpose, o.recipient, o.subject, o.body, o.attempts, o.deliver_before`,
    [scope, now, leaseId, leaseEnd, limit],
  );
  return rows;
}

/** Records a delivery and drops the body (its link); false when the row is no longer this lease's. */
export async function markMailSent(tx: Queryable, id: string, leaseId: string, now: Date): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE mail_outbox SET sent_at = $3, body = NULL, lease_id = NULL, last_error = NULL
      WHERE id = $1 AND lease_id = $2 AND sent_at IS NULL`,
    [id, leaseId, now],
  );
  return rowCount === 1;
}

/** A failed attempt: due again at `retryAt`, or (retryAt null) given up on, its body dropped. */
export async function markMailFailed(tx: Queryable, id: string, leaseId: string, now: Date, retryAt: Date | null, error: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE mail_outbox
        SET lease_id = NULL, last_error = $5::text,
            run_at = COALESCE($4::timestamptz, run_at),
            given_up_at = CASE WHEN $4::timestamptz IS NULL THEN $3::timestamptz END,
            body = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE body END
      WHERE id = $1 AND lease_id = $2 AND sent_at IS NULL`,
    [id, leaseId, now, retryAt, error],
  );
  return rowCount === 1;
}

/**
 * Deletes up to `limit` rows of a scope that were sent or given up on before `before` (their
 * bodies are already NULL); returns how many. A sequential scan outside the due index, which is
 * why the queue runs it at most once per interval, in small batches.
 */
export async function pruneFinishedMail(tx: Queryable, scope: string, before: Date, limit: number): Promise<number> {
  const { rowCount } = await tx.query(
    `DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox
      WHERE scope = $1 AND (sent_at < $2 OR given_up_at < $2) LIMIT $3 FOR UPDATE SKIP LOCKED)`,
    [scope, before, limit],
  );
  return rowCount;
}
