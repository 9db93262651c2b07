import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  to: string[];
  subject: string;
  /** The decoded plain-text body. */
  text: string;
  raw: string;
}

/** Unfolds headers and splits them from the body (RFC 5322: the first empty line). */
function splitMessage(raw: string): { headers: Map<string, string>; body: string } {
  const normalized = raw.replace(/\r\n/g, '\n');
  const cut = normalized.indexOf('\n\n');
  const head = cut === -1 ? normalized : normalized.slice(0, cut);
  const body = cut === -1 ? '' : normalized.slice(cut + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeQuotedPrintable(s: string): string {
  const bytes: number[] = [];
  const unwrapped = s.replace(/=\n/g, '');
  for (let i = 0; i < unwrapped.length; i += 1) {
    const hex = unwrapped.slice(i + 1, i + 3);
    if (unwrapped[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(unwrapped[i] ?? '', 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Decodes the single-part text bodies the app sends (7bit, quoted-printable or base64). */
export function parseMessage(raw: string, to: string[]): SinkMessage {
  const { headers, body } = splitMessage(raw);
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  let text = body;
  if (encoding === 'quoted-printable') text = decodeQuotedPrintable(body);
  else if (encoding === 'base64') text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { to, subject: headers.get('subject') ?? '', text: text.replace(/\n+$/, ''), raw };
}

/**
 * A real SMTP server for tests on 127.0.0.1: no auth, no TLS, every message kept in `messages`.
 * `stop()` then `start()` reuses the same port, so a test can take SMTP down and bring it back.
 */
export class SmtpSink {
  readonly messages: SinkMessage[] = [];
  private server: SMTPServer | null = null;
  private port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${String(this.port)}`;
  }

  async start(): Promise<void> {
    const server = new SMTPServer({
      secure: false,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
          this.messages.push(parseMessage(Buffer.concat(chunks).toString('utf8'), to));
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        resolve();
      });
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }

  messagesTo(email: string): SinkMessage[] {
    return this.messages.filter((m) => m.to.includes(email.toLowerCase()));
  }

  /** Waits until `count` messages to `email` have arrived (mail is sent after the response). */
  async waitForMessages(email: string, count = 1, timeoutMs = 10_000): Promise<SinkMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.messagesTo(email);
      if (found.length >= count) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`expected ${String(count)} message(s) to ${email}, got ${String(this.messagesTo(email).length)}`);
  }
}

/** The reset token from a reset mail's link. */
export function resetTokenFrom(message: SinkMessage): string {
  const m = /\/reset-password\?token=([A-Za-z0-9_%-]+)/.exec(message.text);
  if (!m?.[1]) throw new Error(`no reset link in: ${message.text}`);
  return decodeURIComponent(m[1]);
}
