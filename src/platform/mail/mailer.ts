import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** One interface for mail. `send` never throws and never waits on the network. */
export interface Mailer {
  send(message: MailMessage): void;
  /** Resolves when every queued message has been delivered or given up on (tests, shutdown). */
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded default: links are written to the log so a developer can follow them. This is the
 * one place a link with a token is logged, and only when no SMTP server is configured.
 */
export class LogMailer implements Mailer {
  constructor(private readonly logger: Logger) {}

  send(message: MailMessage): void {
    this.logger.info({ mail: { to: message.to, subject: message.subject } }, `mail (no SMTP_URL set):\n${message.text}`);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface SmtpMailerOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Log each delivery (recipient, subject, SMTP host) so a developer knows which inbox a link went
   * to. Off in production, where a recipient address has no business in the log.
   */
  logDeliveries: boolean;
}

const SMTP_DEFAULTS: SmtpMailerOptions = { maxAttempts: 20, baseDelayMs: 500, maxDelayMs: 30_000, logDeliveries: false };

interface Pending {
  message: MailMessage;
  attempts: number;
}

/**
 * SMTP via nodemailer with an in-process retry queue: a failing SMTP server never fails or slows
 * the HTTP response; delivery is retried with backoff (up to `maxAttempts`).
 */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  private readonly queue: Pending[] = [];
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly opts: SmtpMailerOptions;
  /** host[:port] of SMTP_URL: safe to log, unlike the URL, which may carry credentials. */
  private readonly host: string;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly logger: Logger,
    opts: Partial<SmtpMailerOptions> = {},
  ) {
    this.opts = { ...SMTP_DEFAULTS, ...opts };
    this.host = new URL(smtpUrl).host;
    this.transport = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: 3000,
      greetingTimeout: 3000,
      socketTimeout: 5000,
    } as object);
  }

  /**
   * The start-up check: connects once and logs whether the server answered, naming the host and
   * never the credentials. An unreachable server is a warning, not a failure: mail queues and is
   * retried until it answers. Never throws.
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

  send(message: MailMessage): void {
    this.queue.push({ message, attempts: 0 });
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.drain();
    }, delayMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    this.running = true;
    let retryDelay = 0;
    while (this.queue.length > 0 && !this.closed) {
      const item = this.queue[0] as Pending;
      try {
        await this.transport.sendMail({ from: this.from, to: item.message.to, subject: item.message.subject, text: item.message.text });
        this.queue.shift();
        if (this.opts.logDeliveries) {
          this.logger.info({ mail: { to: item.message.to, subject: item.message.subject }, smtpHost: this.host }, `mail sent via SMTP server ${this.host}`);
        }
      } catch (err) {
        item.attempts += 1;
        this.logger.warn({ err: { message: (err as Error).message }, attempts: item.attempts }, 'mail delivery failed; will retry');
        if (item.attempts >= this.opts.maxAttempts) {
          this.queue.shift();
          this.logger.error({ subject: item.message.subject }, 'mail dropped after retries');
          continue;
        }
        retryDelay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (item.attempts - 1));
        break;
      }
    }
    this.running = false;
    if (this.queue.length > 0) this.schedule(retryDelay);
  }

  async flush(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.running) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.flush(2000);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.transport.close();
  }
}
