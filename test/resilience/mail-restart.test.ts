/**
 * Durable mail across process deaths: mail is a row committed with the request, so a server
 * killed (SIGKILL) between the answer and the send, or a worker killed while SMTP is down, loses
 * nothing; the next process to run the workers delivers each mail exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetTokenFrom } from '../support/smtp-sink.js';
import { report, waitFor } from './support/env.js';
import { assertNoLeaks } from './support/secrets.js';
import { SessionClient } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { ServerProcess, startWorker } from './support/server.js';
import { ownerWithTenant, scenarioQuery, signUp, startStack, uniqueEmail, type Stack } from './support/stack.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  // An API-only node: it queues mail and never sends it.
  stack = await startStack(cleanup, 'mail', { env: { WORKERS: 'off' } });
});
afterAll(() => cleanup.run());

interface OutboxState {
  recipient: string;
  sent: boolean;
  attempts: number;
}

async function outbox(recipients: string[]): Promise<OutboxState[]> {
  return scenarioQuery<OutboxState & Record<string, unknown>>(
    stack.db,
    'SELECT recipient, sent_at IS NOT NULL AS sent, attempts FROM mail_outbox WHERE recipient = ANY($1::text[]) ORDER BY recipient',
    [recipients],
  );
}

/** Waits until every mail to `recipients` is recorded as sent: no attempt can follow. */
function allSent(recipients: string[], count: number): Promise<OutboxState[]> {
  return waitFor(
    'every queued mail to be recorded as sent',
    async () => {
      const rows = await outbox(recipients);
      return rows.length === count && rows.every((r) => r.sent) ? rows : undefined;
    },
    30_000,
  );
}

/** A forgot-password and an invite through `baseUrl`; returns their recipients once both rows are committed. */
async function queueResetAndInvite(baseUrl: string): Promise<{ email: string; invitee: string }> {
  const email = uniqueEmail('forgot');
  await signUp(baseUrl, email);
  const { owner, tenantId } = await ownerWithTenant(baseUrl);
  const invitee = uniqueEmail('invitee');
  const visitor = new SessionClient(baseUrl);
  await visitor.refreshCsrf();
  expect((await visitor.post('/v1/auth/password/forgot', { email })).status).toBe(202);
  expect((await owner.post(`/v1/tenants/${tenantId}/invites`, { email: invitee, role: 'member' })).status).toBe(201);
  // The reset row is written just after the 202 (its lookup must not show in the answer's timing).
  await waitFor('both mails to be queued', async () => ((await outbox([email, invitee])).length === 2 ? true : undefined), 10_000);
  return { email, invitee };
}

describe('mail across restarts', () => {
  it('when the server is killed between the request and the send, then the next one delivers each mail once', async () => {
    const { server, sink } = stack;
    const { email, invitee } = await queueResetAndInvite(server.baseUrl);
    await server.child.kill();
    expect(sink.messages).toHaveLength(0);

    // The same deployment started again, this time running its workers in-process (the default).
    const restarted = await ServerProcess.start(cleanup, { databaseUrl: stack.db.url, redisUrl: stack.redis.url, smtpUrl: sink.url });
    const started = performance.now();
    const rows = await allSent([email, invitee], 2);
    const deliveredAfter = performance.now() - started;
    expect(rows.map((r) => r.attempts)).toEqual([1, 1]);
    expect(sink.messagesTo(email)).toHaveLength(1);
    expect(sink.messagesTo(invitee)).toHaveLength(1);
    // The link still works: the token was committed with its mail.
    const [reset] = sink.messagesTo(email);
    const visitor = new SessionClient(restarted.baseUrl);
    await visitor.refreshCsrf();
    const done = await visitor.post('/v1/auth/password/reset', { token: resetTokenFrom(reset as NonNullable<typeof reset>), password: 'a brand new long passphrase' });
    expect(done.status).toBe(204);
    await restarted.child.stop();
    report('mail after a kill', { deliveredAfterRestart: deliveredAfter });
  });

  it('when a worker-only process is killed while SMTP is down, then another worker delivers each mail once SMTP is back', async () => {
    const { sink } = stack;
    const api = await ServerProcess.start(cleanup, { databaseUrl: stack.db.url, redisUrl: stack.redis.url, smtpUrl: sink.url, env: { WORKERS: 'off' } });
    await sink.stop();
    const opts = { databaseUrl: stack.db.url, redisUrl: stack.redis.url, smtpUrl: sink.url };
    const first = await startWorker(cleanup, opts);
    const { email, invitee } = await queueResetAndInvite(api.baseUrl);
    // The first worker tried both and failed (SMTP is down), then dies without a word.
    await waitFor('two failed attempts', () => Promise.resolve(first.lines.filter((l) => l.includes('mail delivery failed; will retry')).length >= 2 ? true : undefined), 15_000);
    await first.kill();
    await sink.start();

    const second = await startWorker(cleanup, opts);
    const rows = await allSent([email, invitee], 2);
    expect(rows.every((r) => r.attempts >= 2)).toBe(true);
    expect(sink.messagesTo(email)).toHaveLength(1);
    expect(sink.messagesTo(invitee)).toHaveLength(1);
    expect(second.lines.filter((l) => l.includes('"msg":"mail delivered"'))).toHaveLength(2);
    await second.stop();
    await api.child.stop();
  });

  it('keeps no mailed token in the outbox once sent, nor in any log, URL or audit row', async () => {
    // Two resets and two invites carried a link; the reset also sent a password-changed notice.
    const tokens = stack.sink.messages.flatMap((m) => /token=([A-Za-z0-9_%-]+)/.exec(m.text)?.[1] ?? []);
    expect(tokens).toHaveLength(4);
    const rows = await scenarioQuery<{ row: string }>(stack.db, 'SELECT row_to_json(o)::text AS row FROM mail_outbox o');
    expect(rows).toHaveLength(5);
    const dump = rows.map((r) => r.row).join('\n');
    expect(tokens.filter((token) => dump.includes(decodeURIComponent(token)))).toEqual([]);
    await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
  });
});
