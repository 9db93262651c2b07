import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/**
 * A mail transport: delivers one message now. Features never call it: they queue mail in their
 * transaction (MailOutbox) and the mail queue's worker calls `send`, retrying when it throws.
 */
export interface Mailer {
  /** Resolves once the message is handed over (accepted by the SMTP server); rejects otherwise. */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded default: links are written to the log so a developer can follow them. This is the
 * one place a link with a token is logged, and only when no SMTP server is configured.
 */
export class LogMailer implements Mailer {
  constructor(private readonly logger: Logger) {}

  send(message: MailMessage): Promise<void> {
    this.logger.info({ mail: { to: message.to, subject: message.subject } }, `mail (no SMTP_URL set):\n${message.text}`);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface SmtpMailerOptions {
  /**
   * Log each delivery (recipient, subject, SMTP host) so a developer knows which inbox a link went
   * to. Off in production, where a recipient address has no business in the log.
   */
  logDeliveries: boolean;
}

/** SMTP via nodemailer. One attempt per `send`: retries are the mail queue's (src/platform/mail/outbox.ts). */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  /** host[:port] of SMTP_URL: safe to log, unlike the URL, which may carry credentials. */
  readonly host: string;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly logger: Logger,
    private readonly opts: SmtpMailerOptions = { logDeliveries: false },
  ) {
    this.host = new URL(smtpUrl).host;
    this.transport = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: 3000,
      greetingTimeout: 3000,
      socketTimeout: 5000,
    } as object);
  }

  /**
   * The start-up check: connects once and logs whether the server answered, naming the host and
   * never the credentials. An unreachable server is a warning, not a failure: mail stays queued
   * and is retried until it answers. Never throws.
   */
  async checkConnection(): Promise<boolean> {
    try {
      await this.transport.verify();
      this.logger.info({ smtpHost: this.host }, `SMTP server ${this.host} is reachable`);
      return true;
    } catch (err) {
      const { code, message } = err as { code?: string; message?: string };
      this.logger.warn(
        { smtpHost: this.host, err: { code, message } },
        `SMTP server ${this.host} (SMTP_URL) is unreachable: mail is queued and retried until it answers`,
      );
      return false;
    }
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text });
    if (this.opts.logDeliveries) {
      this.logger.info({ mail: { to: message.to, subject: message.subject }, smtpHost: this.host }, `mail sent via SMTP server ${this.host}`);
    }
  }

  close(): Promise<void> {
    this.transport.close();
    return Promise.resolve();
  }
}
