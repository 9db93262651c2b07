/**
 * The durable mail queue (src/platform/mail/outbox.ts) on the suite's backend: rows written in
 * the caller's transaction, claimed under a lease, delivered once, their text dropped after.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../../src/platform/db/postgres.js';
import type { Queryable } from '../../src/platform/db/database.js';
import { JobRunner } from '../../src/platform/jobs/runner.js';
import type { Mailer, MailMessage } from '../../src/platform/mail/mailer.js';
import { MailOutbox, MailQueue, type MailQueueOptions } from '../../src/platform/mail/outbox.js';
import { claimDueMail, markMailSent } from '../../src/platform/mail/outbox.queries.js';
import { createTestApp, FakeClock, type TestApp } from '../support/app.js';
import { onPostgres, TEST_DATABASE_URL } from '../support/backend.js';
import { capturingLogger } from '../support/log-capture.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

/** A transport that records what it delivers, or fails while `down`. */
class RecordingMailer implements Mailer {
  readonly sent: MailMessage[] = [];
  down = false;
  send(message: MailMessage): Promise<void> {
    if (this.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:25'));
    this.sent.push(message);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A queue of its own scope over the suite's database, with a clock the test moves. */
function harness(options: Pick<MailQueueOptions, 'retry' | 'pruneBatch'> = {}) {
  const scope = `outbox-test-${randomUUID()}`;
  const clock = new FakeClock();
  const mailer = new RecordingMailer();
  const { logger, lines } = capturingLogger();
  const queue = new MailQueue({ db: t.db, mailer, logger, scope, ...options });
  const runner = new JobRunner({ queues: [queue], clock, logger });
  const outbox = new MailOutbox(scope, () => undefined);
  return { scope, clock, mailer, lines, queue, runner, outbox };
}

/** As a request does: in an app-role transaction. */
function inRequestTx<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return t.db.withAppTx({ tenantId: null, userId: null }, fn);
}

async function rowsOf(scope: string) {
  const { rows } = await t.db.withSystemTx((tx) =>
    tx.query<{ id: string; body: string | null; attempts: number; sent_at: Date | null; given_up_at: Date | null; dump: string }>(
      'SELECT id, body, attempts, sent_at, given_up_at, row_to_json(o)::text AS dump FROM mail_outbox o WHERE scope = $1 ORDER BY created_at',
      [scope],
    ),
  );
  return rows;
}

const mail = (n: number | string) => ({ purpose: 'invite', to: `to-${String(n)}@example.test`, subject: `Mail ${String(n)}`, text: `link https://app.test/accept-invite?token=secret-${String(n)}` });

describe('mail outbox', () => {
  it('when the transaction that queued a mail rolls back, then nothing is sent; when it commits, the mail is sent once and its text (with the link) is dropped', async () => {
    const h = harness();
    await expect(
      inRequestTx(async (tx) => {
        await h.outbox.enqueue(tx, mail('rolled-back'), h.clock.now());
        throw new Error('the change failed after queueing its mail');
      }),
    ).rejects.toThrow(/the change failed/);
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('committed'), h.clock.now()));
    await h.runner.drain();
    await h.runner.drain();
    expect(h.mailer.sent.map((m) => m.subject)).toEqual(['Mail committed']);
    const rows = await rowsOf(h.scope);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ body: null, attempts: 1 });
    expect(rows[0]?.sent_at).toBeInstanceOf(Date);
    expect(rows[0]?.dump).not.toContain('secret-committed');
  });

  it('when a request transaction reads or changes queued mail, then it is refused: the app role may only add rows', async () => {
    const h = harness();
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('private'), h.clock.now()));
    for (const sql of ['SELECT body FROM mail_outbox', "UPDATE mail_outbox SET recipient = 'attacker@example.test'", 'DELETE FROM mail_outbox']) {
      await expect(inRequestTx((tx) => tx.query(sql)), sql).rejects.toMatchObject({ code: '42501' });
    }
    await h.runner.drain();
    expect(h.mailer.sent.map((m) => m.to)).toEqual(['to-private@example.test']);
  });

  it('when a worker dies holding a claim, then the row waits for the lease to end, is claimed again and sent once', async () => {
    const h = harness();
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('orphaned'), h.clock.now()));
    // A worker claims the row and dies before sending it.
    const deadLease = randomUUID();
    const now = h.clock.now();
    const claimed = await t.db.withSystemTx((tx) => claimDueMail(tx, h.scope, now, deadLease, new Date(now.getTime() + 60_000), 10));
    expect(claimed).toHaveLength(1);
    await h.runner.drain();
    expect(h.mailer.sent).toEqual([]);
    h.clock.advance(61_000);
    await h.runner.drain();
    expect(h.mailer.sent.map((m) => m.subject)).toEqual(['Mail orphaned']);
    // The dead worker's lease no longer counts: it cannot record an outcome for the row.
    expect(await t.db.withSystemTx((tx) => markMailSent(tx, claimed[0]?.id ?? '', deadLease, h.clock.now()))).toBe(false);
    h.clock.advance(3_600_000);
    await h.runner.drain();
    expect(h.mailer.sent).toHaveLength(1);
    expect((await rowsOf(h.scope))[0]?.attempts).toBe(2);
  });

  it('when two workers drain the same rows at once, then every mail is sent exactly once', async () => {
    const h = harness();
    const other = new JobRunner({ queues: [new MailQueue({ db: t.db, mailer: h.mailer, logger: capturingLogger().logger, scope: h.scope })], clock: h.clock, logger: capturingLogger().logger, batchSize: 3 });
    const mine = new JobRunner({ queues: [h.queue], clock: h.clock, logger: capturingLogger().logger, batchSize: 3 });
    await inRequestTx(async (tx) => {
      for (let i = 0; i < 24; i += 1) await h.outbox.enqueue(tx, mail(i), h.clock.now());
    });
    await Promise.all([mine.drain(), other.drain()]);
    const subjects = h.mailer.sent.map((m) => m.subject).sort();
    expect(subjects).toEqual(Array.from({ length: 24 }, (_, i) => `Mail ${String(i)}`).sort());
  });

  it('when SMTP keeps failing, then the mail is retried with growing waits and given up after the last attempt, its text dropped', async () => {
    const h = harness({ retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 } });
    h.mailer.down = true;
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('undeliverable'), h.clock.now()));
    await h.runner.drain();
    expect((await rowsOf(h.scope))[0]).toMatchObject({ attempts: 1, given_up_at: null });
    // Not due again before its back-off (1 s, plus up to 20%) has passed.
    h.clock.advance(900);
    await h.runner.drain();
    expect((await rowsOf(h.scope))[0]?.attempts).toBe(1);
    h.clock.advance(60_000);
    await h.runner.drain();
    h.clock.advance(60_000);
    await h.runner.drain();
    const [row] = await rowsOf(h.scope);
    expect(row).toMatchObject({ attempts: 3, body: null, sent_at: null });
    expect(row?.given_up_at).toBeInstanceOf(Date);
    expect(h.lines.filter((l) => l.msg === 'mail delivery failed; will retry')).toHaveLength(2);
    expect(h.lines.filter((l) => l.msg === 'mail given up after its last attempt')).toHaveLength(1);
    expect(JSON.stringify(h.lines)).not.toContain('secret-undeliverable');
    h.mailer.down = false;
    h.clock.advance(3_600_000);
    await h.runner.drain();
    expect(h.mailer.sent).toEqual([]);
  });

  it('when a link would expire before SMTP is back, then its mail is given up on, not sent late', async () => {
    const h = harness();
    h.mailer.down = true;
    const deliverBefore = new Date(h.clock.now().getTime() + 30 * 60_000);
    await inRequestTx((tx) => h.outbox.enqueue(tx, { ...mail('expiring'), deliverBefore }, h.clock.now()));
    await h.runner.drain();
    h.mailer.down = false;
    h.clock.advance(31 * 60_000);
    await h.runner.drain();
    expect(h.mailer.sent).toEqual([]);
    expect((await rowsOf(h.scope))[0]).toMatchObject({ body: null, sent_at: null });
  });

  it('when sent and given-up rows are older than the retention (30 days), then the queue deletes them in batches and keeps newer and undelivered ones', async () => {
    const h = harness({ retry: { maxAttempts: 2, baseDelayMs: 1000, maxDelayMs: 1000 }, pruneBatch: 1 });
    const day = 24 * 3_600_000;
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('old-sent'), h.clock.now()));
    await h.runner.drain();
    h.mailer.down = true;
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('old-given-up'), h.clock.now()));
    await h.runner.drain();
    h.clock.advance(2_000);
    await h.runner.drain();
    // Undelivered for as long as the test runs: held by a lease that outlives it.
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('held'), h.clock.now()));
    const now = h.clock.now();
    expect(await t.db.withSystemTx((tx) => claimDueMail(tx, h.scope, now, randomUUID(), new Date(now.getTime() + 90 * day), 10))).toHaveLength(1);
    h.mailer.down = false;
    h.clock.advance(29 * day);
    await inRequestTx((tx) => h.outbox.enqueue(tx, mail('recent'), h.clock.now()));
    await h.runner.drain();
    const subjects = async () => (await rowsOf(h.scope)).map((r) => JSON.parse(r.dump) as { subject: string }).map((r) => r.subject).sort();
    expect(await subjects()).toEqual(['Mail held', 'Mail old-given-up', 'Mail old-sent', 'Mail recent']);

    h.clock.advance(2 * day);
    await h.runner.drain();
    expect(await subjects()).toEqual(['Mail held', 'Mail recent']);
    // One row a batch: the two old rows took two prunes, the second started by the full first one.
    expect(h.lines.filter((l) => l.msg === 'finished mail pruned')).toHaveLength(2);
    expect(h.mailer.sent.map((m) => m.subject)).toEqual(['Mail old-sent', 'Mail recent']);
  });
});

async function adminQuery(sql: string, url = TEST_DATABASE_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Production connects as the owner of the tables, which is no superuser (a managed PostgreSQL
 * gives none), so nothing bypasses row-level security for it: the worker must reach every
 * tenant's and account's mail as that owner, and requests must still be able to queue it.
 */
describe.runIf(onPostgres)('mail outbox as a table owner that is not a superuser (PostgreSQL)', () => {
  const suffix = randomBytes(4).toString('hex');
  const role = `mail_owner_${suffix}`;
  let ownerUrl = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();

  beforeAll(async () => {
    const base = new URL(TEST_DATABASE_URL ?? '');
    const name = `${base.pathname.slice(1)}_mail_${suffix}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    base.pathname = `/${name}`;
    const adminUrl = base.toString();
    cleanup = async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    };
    const { logger } = capturingLogger();
    const admin = createPostgresDatabase({ url: adminUrl, poolMax: 1, statementTimeoutMs: 60_000, connectionTimeoutMs: 5000, preparedStatements: true, logger });
    try {
      await migrate(admin);
    } finally {
      await admin.close();
    }
    await adminQuery(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS; GRANT incident_app TO ${role}; ALTER TABLE mail_outbox OWNER TO ${role}`, adminUrl);
    const url = new URL(adminUrl);
    url.username = role;
    url.password = '';
    ownerUrl = url.toString();
  });
  afterAll(() => cleanup());

  it('when a request queues mail and a worker runs, as that owner, then the mail is delivered once', async () => {
    const { logger } = capturingLogger();
    const db = createPostgresDatabase({ url: ownerUrl, poolMax: 2, statementTimeoutMs: 60_000, connectionTimeoutMs: 5000, preparedStatements: true, logger });
    try {
      const { rows } = await db.withSystemTx((tx) =>
        tx.query<{ superuser: boolean; bypass: boolean }>('SELECT rolsuper AS superuser, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user'),
      );
      expect(rows[0]).toMatchObject({ superuser: false, bypass: false });
      const mailer = new RecordingMailer();
      const clock = new FakeClock();
      const queue = new MailQueue({ db, mailer, logger, scope: '' });
      await db.withAppTx({ tenantId: null, userId: null }, (tx) => new MailOutbox('', () => undefined).enqueue(tx, mail('owner'), clock.now()));
      await new JobRunner({ queues: [queue], clock, logger }).drain();
      expect(mailer.sent.map((m) => m.subject)).toEqual(['Mail owner']);
    } finally {
      await db.close();
    }
  });
});
