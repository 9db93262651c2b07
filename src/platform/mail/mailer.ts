import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** One interface for mail. `send` and `sendLater` never throw and never wait on the network. */
export interface Mailer {
  send(message: MailMessage): void;
  /**
   * Sends a mail whose message `prepare` makes once the caller has moved on (it may look up and
   * store what the mail refers to, such as a reset token), so the caller's answer neither waits
   * for that work nor depends on its outcome. Resolving to null sends nothing; a failure is logged
   * with `purpose`, never thrown.
   */
  sendLater(purpose: string, prepare: () => Promise<MailMessage | null>): void;
  /**
   * Resolves when every prepared and queued message has been delivered or given up on (tests,
   * shutdown).
   */
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Mails still being prepared (see Mailer.sendLater), so that flush can wait for them. */
class Preparations {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly logger: Logger) {}

  start(purpose: string, prepare: () => Promise<MailMessage | null>, send: (message: MailMessage) => void): void {
    const run = (): Promise<void> =>
      prepare().then(
        (message) => {
          if (message) send(message);
        },
        (err: unknown) => {
          this.logger.error({ err, purpose }, 'mail not sent: preparing it failed');
        },
      );
    // Two turns of the event loop: the caller's response is written, and I/O already pending
    // (a client in this process, as in the tests, reading it) is served, before the preparation's
    // first statement, which on embedded PGlite runs on this thread.
    const done = new Promise<void>((resolve) => {
      setImmediate(() => {
        setImmediate(() => {
          void run().finally(resolve);
        });
      });
    });
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  /** Waits for the preparations running now and any they start. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}

/**
 * The embedded default: links are written to the log so a developer can follow them. This is the
 * one place a link with a token is logged, and only when no SMTP server is configured.
 */
export class LogMailer implements Mailer {
  private readonly preparations: Preparations;

  constructor(private readonly logger: Logger) {
    this.preparations = new Preparations(logger);
  }

  send(message: MailMessage): void {
    this.logger.info({ mail: { to: message.to, subject: message.subject } }, `mail (no SMTP_URL set):\n${message.text}`);
  }

  sendLater(purpose: string, prepare: () => Promise<MailMessage | null>): void {
    this.preparations.start(purpose, prepare, (message) => {
      this.send(message);
    });
  }

  flush(): Promise<void> {
    return this.preparations.settled();
  }

  /** Waits for mails still being prepared: shutdown closes the database they read next. */
  close(): Promise<void> {
    return this.flush();
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
  private readonly preparations: Preparations;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    private readonly logger: Logger,
    opts: Partial<SmtpMailerOptions> = {},
  ) {
    this.opts = { ...SMTP_DEFAULTS, ...opts };
    this.host = new URL(smtpUrl).host;
    this.preparations = new Preparations(logger);
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

  sendLater(purpose: string, prepare: () => Promise<MailMessage | null>): void {
    this.preparations.start(purpose, prepare, (message) => {
      this.send(message);
    });
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
    await this.preparations.settled();
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
