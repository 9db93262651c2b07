import http from 'node:http';
import type { TestApp } from '../support/app.js';
import { PASSWORD, SessionClient } from '../support/factories.js';
import { sessionCookieOf } from '../auth/support.js';

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: { id: string; seq: number; type: string; occurredAt: string; actor: { type: string; id: string | null }; data: Record<string, unknown> };
}

/** A minimal EventSource for tests: raw frames, parsed events, comments and the end of the stream. */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | null = null;
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** The error body when the answer was not a stream. */
  errorBody: unknown = null;
  readonly ended: Promise<void>;
  private waiters: (() => void)[] = [];
  private req: http.ClientRequest | null = null;

  private constructor(url: string, headers: Record<string, string>, opened: (c: SseClient) => void) {
    this.ended = new Promise<void>((resolveEnded) => {
      this.req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        let buffer = '';
        let raw = '';
        res.on('data', (chunk: string) => {
          if (this.status !== 200) {
            raw += chunk;
            return;
          }
          buffer += chunk;
          let at: number;
          while ((at = buffer.indexOf('\n\n')) >= 0) {
            this.frame(buffer.slice(0, at));
            buffer = buffer.slice(at + 2);
          }
          this.wake();
        });
        res.on('end', () => {
          if (raw) this.errorBody = JSON.parse(raw) as unknown;
          this.wake();
          resolveEnded();
        });
        res.on('error', () => {
          resolveEnded();
        });
        opened(this);
      });
      this.req.on('error', () => {
        resolveEnded();
      });
    });
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve) => {
      const c: SseClient = new SseClient(url, headers, () => {
        resolve(c);
      });
      void c.ended.then(() => {
        resolve(c);
      });
    });
  }

  private frame(text: string): void {
    const fields: Record<string, string> = {};
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim());
        continue;
      }
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      fields[name] = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    }
    if (fields.retry !== undefined) this.retry = Number(fields.retry);
    if (fields.data !== undefined) this.events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) as SseEvent['data'] });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Resolves once `predicate` holds (checked on every frame) or the stream ends. */
  async until(predicate: () => boolean): Promise<void> {
    const state = { done: false };
    void this.ended.then(() => {
      state.done = true;
    });
    while (!predicate() && !state.done) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.wake();
  }

  async waitForEvents(n: number): Promise<SseEvent[]> {
    await this.until(() => this.events.length >= n);
    return this.events;
  }

  close(): void {
    this.req?.destroy();
  }
}

/** Signs `email` in on a fresh browser: the client (to log out with) and its session cookie (to open a stream with). */
export async function signedInBrowser(t: TestApp, email: string): Promise<{ client: SessionClient; cookie: string }> {
  const client = new SessionClient(t.request());
  await client.refreshCsrf();
  const res = await client.post('/v1/auth/login', { email, password: PASSWORD });
  if (res.status !== 200) throw new Error(`login failed: ${String(res.status)}`);
  client.csrfToken = (res.body as { csrfToken: string }).csrfToken;
  const sid = sessionCookieOf(res);
  if (!sid) throw new Error('login set no session cookie');
  return { client, cookie: `sid=${sid.value}` };
}
