/**
 * Mail you can see: start-up says whether SMTP_URL answers (naming the host, never the
 * credentials), and outside production each delivery is logged with its recipient.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { SmtpMailer } from '../../src/platform/mail/mailer.js';
import { createMailer } from '../../src/runtime.js';
import { capturingLogger, type LogLine } from '../support/log-capture.js';
import { SmtpSink } from '../support/smtp-sink.js';


async function waitForLine(lines: LogLine[], match: (l: LogLine) => boolean): Promise<LogLine> {
  for (let i = 0; i < 500; i += 1) {
    const found = lines.find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('log line never came');
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const sink = new SmtpSink();
beforeAll(() => sink.start());
afterAll(() => sink.stop());

describe('SMTP at start-up', () => {
  it('when SMTP_URL is set but unreachable, then start-up warns naming the host and never the credentials', async () => {
    const port = await closedPort();
    const { logger, lines, raw } = capturingLogger();
    const config = loadConfig({ NODE_ENV: 'test', SMTP_URL: `smtp://mailer-user:smtp-pa55word@127.0.0.1:${port}` });
    const mailer = createMailer(config, logger);
    try {
      const warning = await waitForLine(lines, (l) => l.msg.includes('unreachable'));
      expect(warning.level).toBe(40);
      expect(warning.smtpHost).toBe(`127.0.0.1:${port}`);
      expect(warning.msg).toContain(`SMTP server 127.0.0.1:${port} (SMTP_URL) is unreachable`);
      expect(raw.join('')).not.toMatch(/smtp-pa55word|mailer-user/);
    } finally {
      await mailer.close();
    }
  });

  it('when the SMTP server answers, then start-up logs it reachable and warns nothing', async () => {
    const { logger, lines } = capturingLogger();
    const mailer = createMailer(loadConfig({ NODE_ENV: 'test', SMTP_URL: sink.url }), logger);
    try {
      // The "reachable" line is the check's last word: after it, no warning can still come.
      await waitForLine(lines, (l) => l.msg.endsWith('is reachable'));
      expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    } finally {
      await mailer.close();
    }
  });
});

describe('SMTP deliveries in the log', () => {
  it.each([
    [true, 'outside production, the recipient and SMTP host are logged'],
    [false, 'in production, the delivery is not logged'],
  ])('when a mail is delivered with logDeliveries=%s, then %s', async (logDeliveries) => {
    const { logger, lines } = capturingLogger();
    const mailer = new SmtpMailer(sink.url, 'Incident Tracker <no-reply@app.test>', logger, { logDeliveries });
    const to = `reader-${String(logDeliveries)}@example.test`;
    await mailer.send({ to, subject: 'Reset your password', text: 'https://app.test/reset#token=secret-token-value' });
    expect(sink.messagesTo(to)).toHaveLength(1);
    await mailer.close();
    const sent = lines.filter((l) => l.msg.startsWith('mail sent via SMTP'));
    if (logDeliveries) {
      expect(sent).toEqual([expect.objectContaining({ mail: { to, subject: 'Reset your password' }, smtpHost: new URL(sink.url).host })]);
    } else {
      expect(sent).toEqual([]);
    }
    // The link (and its token) is never logged by the SMTP mailer.
    expect(JSON.stringify(lines)).not.toContain('secret-token-value');
  });
});
