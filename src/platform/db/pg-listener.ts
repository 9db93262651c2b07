import pg from 'pg';
import type { Logger } from 'pino';
import { assertChannelName } from './database.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/**
 * LISTEN on a dedicated connection (never a pooled one: a pooled client is handed to other
 * transactions, and a transaction-mode pooler cannot hold a LISTEN at all). A lost connection is
 * reopened with backoff, and `onReconnect` tells the caller to catch up on what it missed.
 * Resolves once the first attempt has either listened or failed (a failure keeps retrying in the
 * background: until then the caller learns of commits only from its own catch-up polls).
 */
export async function listenOnDedicatedClient(
  url: string,
  channel: string,
  onNotify: (payload: string) => void,
  onReconnect: () => void,
  logger: Logger,
): Promise<() => Promise<void>> {
  assertChannelName(channel);
  let client: pg.Client | null = null;
  let stopped = false;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | null = null;

  const retry = (failed: pg.Client): void => {
    if (client !== failed && client !== null) return;
    client = null;
    failed.removeAllListeners('notification');
    failed.end().catch(() => undefined);
    if (stopped || timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      connect().catch(() => undefined);
    }, retryMs);
    timer.unref();
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({ connectionString: url, application_name: 'incident-tracker-api listener' });
    c.on('error', (err) => {
      logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'event listener connection error');
      retry(c);
    });
    c.on('end', () => {
      retry(c);
    });
    c.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onNotify(msg.payload);
    });
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'event listener could not listen; retrying');
      retry(c);
      return;
    }
    if (stopped) {
      await c.end().catch(() => undefined);
      return;
    }
    retryMs = RETRY_MIN_MS;
    onReconnect();
  }

  await connect();
  return async () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    const c = client;
    client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  };
}
