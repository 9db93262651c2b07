import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/logger.js';
import { LogMailer } from './mailer.js';

function capturingMailer(): { mailer: LogMailer; lines: () => { msg: string; purpose?: string; err?: { message?: string } }[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const mailer = new LogMailer(createLogger('info', sink));
  return { mailer, lines: () => chunks.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string }) };
}

describe('Mailer.sendLater', () => {
  it('when the caller moves on, then the message is made afterwards and flush waits for it to be sent', async () => {
    const { mailer, lines } = capturingMailer();
    let prepared = false;
    mailer.sendLater('test mail', () => {
      prepared = true;
      return Promise.resolve({ to: 'a@example.test', subject: 'Hello', text: 'body' });
    });
    expect(prepared).toBe(false);
    await mailer.flush();
    expect(prepared).toBe(true);
    expect(lines().map((l) => l.msg)).toEqual([expect.stringContaining('mail (no SMTP_URL set)')]);
  });

  it('when the mailer is closed while a message is being prepared, then close waits and the message is sent', async () => {
    const { mailer, lines } = capturingMailer();
    mailer.sendLater('test mail', () => Promise.resolve({ to: 'a@example.test', subject: 'Hello', text: 'body' }));
    // Shutdown closes the mailer and then the database the preparation reads.
    await mailer.close();
    expect(lines().map((l) => l.msg)).toEqual([expect.stringContaining('mail (no SMTP_URL set)')]);
  });

  it('when the preparation finds nothing to send, then nothing is sent or logged', async () => {
    const { mailer, lines } = capturingMailer();
    mailer.sendLater('test mail', () => Promise.resolve(null));
    await mailer.flush();
    expect(lines()).toEqual([]);
  });

  it('when the preparation fails, then the failure is logged with its purpose, not thrown', async () => {
    const { mailer, lines } = capturingMailer();
    mailer.sendLater('password reset link', () => Promise.reject(new Error('database is down')));
    await mailer.flush();
    const [line, ...rest] = lines();
    expect(rest).toEqual([]);
    expect(line?.msg).toBe('mail not sent: preparing it failed');
    expect(line?.purpose).toBe('password reset link');
    expect(line?.err?.message).toBe('database is down');
  });
});
