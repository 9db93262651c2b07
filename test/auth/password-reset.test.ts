import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, type TestApp } from '../support/app.js';
import { countRows, PASSWORD, uniqueEmail } from '../support/factories.js';
import { resetTokenFrom, SmtpSink } from '../support/smtp-sink.js';
import { StatementGate } from '../support/statement-gate.js';
import { logCapture } from '../support/state.js';
import { anonymousClient, auditCount, bodyWithoutTrace, createAuthTestApp, logInClient, meOf, newUser, tryLogin } from './support.js';

const clock = new FakeClock();
const sink = new SmtpSink();
// The account lookup by email, held back by the test that proves the answer does not wait for it.
const emailLookup = new StatementGate((sql) => /FROM users WHERE email = \$1/.test(sql));
let t: TestApp;
beforeAll(async () => {
  await sink.start();
  t = await createAuthTestApp({ clock, smtpUrl: sink.url, wrapDb: (db) => emailLookup.wrap(db) });
});
afterAll(async () => {
  await t.close();
  await sink.stop();
});

const MINUTE = 60_000;
const NEW_PASSWORD = 'a brand new long passphrase';

async function forgot(email: string, headers: Record<string, string> = {}) {
  const client = await anonymousClient(t);
  let req = client.agent.post('/v1/auth/password/forgot').set('x-csrf-token', client.csrfToken);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  return req.send({ email });
}

/** Requests a reset and returns the token from the n-th mail to that address. */
async function mailedToken(email: string, nth = 1): Promise<string> {
  expect((await forgot(email)).status).toBe(202);
  const messages = await sink.waitForMessages(email, nth);
  return resetTokenFrom(messages[nth - 1] ?? { to: [], subject: '', text: '', raw: '' });
}

async function reset(token: string, password = NEW_PASSWORD) {
  const client = await anonymousClient(t);
  return client.post('/v1/auth/password/reset', { token, password });
}

function codeOf(res: { body: unknown }): string {
  return (res.body as { code: string }).code;
}

describe('forgot password', () => {
  it('when the email is known or unknown, then both get the same 202 {}; only the known one gets a mail, with a link on APP_BASE_URL', async () => {
    const { email, id } = await newUser(t);
    const unknownEmail = uniqueEmail('nobody');
    const forged = { Host: 'evil.test', 'X-Forwarded-Host': 'evil.test', 'X-Forwarded-Proto': 'https' };
    const known = await forgot(email, forged);
    const unknown = await forgot(unknownEmail, forged);
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(known.body).toEqual({});
    expect(bodyWithoutTrace(unknown)).toEqual(bodyWithoutTrace(known));
    expect(Object.keys(unknown.headers).sort()).toEqual(Object.keys(known.headers).sort());

    const [mail] = await sink.waitForMessages(email, 1);
    await t.drain();
    expect(sink.messagesTo(email)).toHaveLength(1);
    expect(sink.messagesTo(unknownEmail)).toHaveLength(0);
    expect(mail?.subject).toBe('Reset your password');
    expect(mail?.text).toMatch(/^http:\/\/app\.test\/reset-password\?token=[A-Za-z0-9_-]{43}$/m);
    expect(mail?.text).not.toContain('evil.test');

    expect(await auditCount(t, 'auth.password_reset.requested', id)).toBe(1);
    expect(await countRows(t, 'audit_log_events', 'trace_id = $1', [unknown.headers['x-request-id']])).toBe(0);
  });

  it('when a token is issued, then the database holds only its SHA-256 digest, expiring 30 minutes later', async () => {
    const { email, id } = await newUser(t);
    const token = await mailedToken(email);
    expect(Buffer.from(token, 'base64url').length).toBe(32);
    const { rows } = await t.db.withSystemTx((tx) =>
      tx.query<{ row: string; token_hash: string; ttl_ms: number }>(
        `SELECT row_to_json(p)::text AS row, token_hash,
                (extract(epoch FROM expires_at - created_at) * 1000)::int AS ttl_ms
           FROM password_reset_tokens p WHERE user_id = $1`,
        [id],
      ),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(rows[0]?.row).not.toContain(token);
    expect(rows[0]?.ttl_ms).toBe(30 * MINUTE);
  });

  it('when one email asks 7 times within an hour, then every answer is 202 and at most 5 mails go out', async () => {
    const { email } = await newUser(t);
    for (let i = 0; i < 7; i += 1) expect((await forgot(email)).status).toBe(202);
    await sink.waitForMessages(email, 5);
    await t.drain();
    expect(sink.messagesTo(email)).toHaveLength(5);
  });

  it('when SMTP is down for a minute, then forgot still answers 202 and the mail is delivered once it is back, exactly once', async () => {
    const { email } = await newUser(t);
    await sink.stop();
    const logsBefore = logCapture.length;
    try {
      expect((await forgot(email)).status).toBe(202);
      // A minute by the app's clock: every due retry is tried (and fails) along the way.
      for (let seconds = 0; seconds <= 60; seconds += 10) {
        await t.drain();
        clock.advance(10_000);
      }
      const failures = logCapture.slice(logsBefore).filter((line) => line.includes('mail delivery failed; will retry'));
      expect(failures.length).toBeGreaterThanOrEqual(3);
      expect(sink.messagesTo(email)).toHaveLength(0);
    } finally {
      await sink.start();
    }
    // The next retry comes due within a minute of doubling back-off; then nothing is due again.
    clock.advance(MINUTE);
    await t.drain();
    expect(sink.messagesTo(email)).toHaveLength(1);
    clock.advance(10 * MINUTE);
    await t.drain();
    const [mail, ...again] = sink.messagesTo(email);
    expect(again).toEqual([]);
    expect(resetTokenFrom(mail ?? { to: [], subject: '', text: '', raw: '' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('when a known or an unknown email asks, then the 202 leaves before the email is looked up, so its timing cannot tell them apart', async () => {
    const { email: known } = await newUser(t);
    const unknown = uniqueEmail('nobody');
    for (const email of [known, unknown]) {
      emailLookup.close();
      try {
        // Answered while the lookup is held back: the handler did not wait for it.
        const res = await forgot(email);
        expect(res.status).toBe(202);
        expect(res.body).toEqual({});
        expect(emailLookup.hasRun((p) => p[0] === email)).toBe(false);
      } finally {
        emailLookup.open();
      }
      // And the lookup does run, after the answer.
      await emailLookup.waitForRun((p) => p[0] === email);
    }
    const [mail] = await sink.waitForMessages(known, 1);
    expect(resetTokenFrom(mail ?? { to: [], subject: '', text: '', raw: '' })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('when an account gets 12 reset requests, then they never lock its login', async () => {
    const { email } = await newUser(t);
    for (let i = 0; i < 12; i += 1) expect((await forgot(email)).status).toBe(202);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(200);
  });
});

describe('reset password', () => {
  it('when the mailed token is used, then 204, every session of the user ends, the caller is not signed in, and a notification is mailed', async () => {
    const { client: first, email, id } = await newUser(t);
    const second = await logInClient(t, email);
    const token = await mailedToken(email);

    const caller = await anonymousClient(t);
    const res = await caller.post('/v1/auth/password/reset', { token, password: NEW_PASSWORD });
    expect(res.status).toBe(204);
    expect((await meOf(caller)).user).toBeNull();
    expect((await meOf(first)).user).toBeNull();
    expect((await meOf(second)).user).toBeNull();
    expect((await second.get('/v1/tenants')).status).toBe(401);

    expect((await tryLogin(t, email, PASSWORD)).status).toBe(401);
    expect((await tryLogin(t, email, NEW_PASSWORD)).status).toBe(200);
    const messages = await sink.waitForMessages(email, 2);
    expect(messages[1]?.subject).toBe('Your password was changed');
    expect(await auditCount(t, 'auth.password_reset.completed', id)).toBe(1);
  });

  it('when a used token is presented again, then 400 RESET_TOKEN_INVALID', async () => {
    const { email } = await newUser(t);
    const token = await mailedToken(email);
    expect((await reset(token)).status).toBe(204);
    const again = await reset(token, 'yet another long passphrase');
    expect(again.status).toBe(400);
    expect(codeOf(again)).toBe('RESET_TOKEN_INVALID');
    expect((await tryLogin(t, email, NEW_PASSWORD)).status).toBe(200);
  });

  it('when one token is used by 10 requests at once, then exactly one succeeds and its password is the one set', async () => {
    const { email } = await newUser(t);
    const token = await mailedToken(email);
    const passwords = Array.from({ length: 10 }, (_, i) => `concurrent passphrase number ${String(i)}`);
    const results = await Promise.all(passwords.map((p) => reset(token, p)));
    const winners = results.flatMap((r, i) => (r.status === 204 ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && codeOf(r) === 'RESET_TOKEN_INVALID')).toHaveLength(9);
    expect((await tryLogin(t, email, passwords[winners[0] ?? 0] ?? '')).status).toBe(200);
  });

  it('when the token is older than 30 minutes, then 400; within 30 minutes it works', async () => {
    const late = await newUser(t);
    const lateToken = await mailedToken(late.email);
    clock.advance(31 * MINUTE);
    const expired = await reset(lateToken);
    expect(expired.status).toBe(400);
    expect(codeOf(expired)).toBe('RESET_TOKEN_INVALID');

    const onTime = await newUser(t);
    const onTimeToken = await mailedToken(onTime.email);
    clock.advance(29 * MINUTE);
    expect((await reset(onTimeToken)).status).toBe(204);
  });

  it('when a newer token is issued, then the older one is void', async () => {
    const { email } = await newUser(t);
    const older = await mailedToken(email, 1);
    const newer = await mailedToken(email, 2);
    expect(older).not.toBe(newer);
    expect(codeOf(await reset(older))).toBe('RESET_TOKEN_INVALID');
    expect((await reset(newer)).status).toBe(204);
  });

  it('when the password is changed, then outstanding reset tokens are void', async () => {
    const { client, email } = await newUser(t);
    const token = await mailedToken(email);
    expect((await client.post('/v1/auth/password/change', { currentPassword: PASSWORD, newPassword: 'changed in the meantime' })).status).toBe(200);
    const res = await reset(token);
    expect(res.status).toBe(400);
    expect(codeOf(res)).toBe('RESET_TOKEN_INVALID');
    expect((await tryLogin(t, email, 'changed in the meantime')).status).toBe(200);
  });

  it('when the new password is weak, then 400 PASSWORD_TOO_WEAK and the token stays usable', async () => {
    const { email } = await newUser(t);
    const token = await mailedToken(email);
    const weak = await reset(token, 'qwerty123456');
    expect(weak.status).toBe(400);
    expect(codeOf(weak)).toBe('PASSWORD_TOO_WEAK');
    expect((await reset(token)).status).toBe(204);
  });

  it('when the token is unknown or malformed, then 400 RESET_TOKEN_INVALID', async () => {
    for (const token of ['A'.repeat(43), 'not-a-token', `${'A'.repeat(43)}=`]) {
      const res = await reset(token);
      expect(res.status).toBe(400);
      expect(codeOf(res)).toBe('RESET_TOKEN_INVALID');
    }
  });

  it('when the account is locked, then a reset still works and lifts the lock', async () => {
    const { email } = await newUser(t);
    for (let i = 0; i < 10; i += 1) expect((await tryLogin(t, email, 'a wrong password, again')).status).toBe(401);
    expect((await tryLogin(t, email, PASSWORD)).status).toBe(429);
    const token = await mailedToken(email);
    expect((await reset(token)).status).toBe(204);
    expect((await tryLogin(t, email, NEW_PASSWORD)).status).toBe(200);
  });
});
