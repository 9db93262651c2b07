/**
 * SMTP down, docs/security.md 47: forgot-password (and an invite) answer promptly while the mail
 * server is unreachable; the mail is queued and retried, and delivered exactly once when the
 * server comes back on the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetTokenFrom } from '../support/smtp-sink.js';
import { adminQuery } from './support/database.js';
import { report, waitFor } from './support/env.js';
import { assertNoLeaks } from './support/secrets.js';
import { SessionClient } from './support/http.js';
import { Cleanup } from './support/processes.js';
import { ownerWithTenant, signUp, startStack, uniqueEmail, type Stack } from './support/stack.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup, 'smtp');
});
afterAll(() => cleanup.run());

describe('SMTP down (docs/security.md 47)', () => {
  it('when the SMTP server is down, forgot-password answers 202 promptly and the mail is delivered once it is back', async () => {
    const { server, sink } = stack;
    const email = uniqueEmail('forgot');
    await signUp(server.baseUrl, email);
    const { owner, tenantId } = await ownerWithTenant(server.baseUrl);
    const invitee = uniqueEmail('invitee');

    await sink.stop();
    const visitor = new SessionClient(server.baseUrl);
    await visitor.refreshCsrf();
    const forgot = await visitor.post('/v1/auth/password/forgot', { email });
    expect(forgot.status).toBe(202);
    expect(forgot.body).toEqual({});
    const invite = await owner.post(`/v1/tenants/${tenantId}/invites`, { email: invitee, role: 'member' });
    expect(invite.status).toBe(201);

    // The answers did not wait for SMTP: both mails are rows still to send, and their delivery
    // fails (and is scheduled again) only after the answers were given.
    const failed = () => server.logs().filter((l) => l.msg === 'mail delivery failed; will retry').length;
    const failures = await waitFor('a failed delivery while SMTP is down', () => Promise.resolve(failed() >= 2 ? failed() : undefined), 15_000);
    expect(sink.messages).toHaveLength(0);

    const backAt = performance.now();
    await sink.start();
    const [reset] = await sink.waitForMessages(email, 1, 15_000);
    const deliveredAfter = performance.now() - backAt;
    await sink.waitForMessages(invitee, 1, 15_000);
    expect(reset?.subject).toMatch(/reset/i);
    // The link works: the mail carried a live token.
    const done = await visitor.post('/v1/auth/password/reset', { token: resetTokenFrom(reset as NonNullable<typeof reset>), password: 'a brand new long passphrase' });
    expect(done.status).toBe(204);
    // Retried, not duplicated: once every row is marked sent, nothing is left to send again.
    await waitFor(
      'every outbox row marked sent',
      async () => {
        const [row] = await adminQuery<{ open: number }>('SELECT count(*)::int AS open FROM mail_outbox WHERE sent_at IS NULL AND given_up_at IS NULL', [], stack.db.name);
        return row?.open === 0 ? true : undefined;
      },
      15_000,
    );
    expect(sink.messagesTo(email).filter((m) => m.subject === reset?.subject)).toHaveLength(1);
    expect(sink.messagesTo(invitee)).toHaveLength(1);
    report('smtp down', { forgot202: forgot.ms, invite201: invite.ms, deliveredAfterSmtpBack: deliveredAfter, failedAttempts: String(failures) });
  });

  it('leaks none of the passwords, tokens, session ids or CSRF tokens it issued into logs, URLs or audit rows', async () => {
    const searched = await assertNoLeaks({ databases: [stack.db.name], sinks: [stack.sink] });
    report('smtp down secrets', { secrets: String(searched.secrets), urls: String(searched.urls), logSources: String(searched.logSources) });
  });
});
