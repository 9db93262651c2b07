import type { Express } from 'express';
import type { Store } from 'express-session';
import type { Redis } from 'ioredis';
import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../platform/http/errors.js';

const CHECK_TIMEOUT_MS = 1000;

function withTimeout(p: Promise<unknown>): Promise<'ok' | 'fail'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'fail'>((resolve) => {
    timer = setTimeout(() => {
      resolve('fail');
    }, CHECK_TIMEOUT_MS);
  });
  return Promise.race([p.then(() => 'ok' as const, () => 'fail' as const), timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** GET /health: database and session store, each with a short timeout. No secrets or versions. */
export function registerHealthRoute(app: Express, deps: { db: Database; redis: Redis | null; store: Store }): void {
  app.get('/health', async (_req, res) => {
    const [database, sessionStore] = await Promise.all([
      withTimeout(deps.db.ping()),
      deps.redis ? withTimeout(deps.redis.ping()) : Promise.resolve('ok' as const),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    if (database === 'ok' && sessionStore === 'ok') {
      res.json({ status: 'ok', checks: { database, sessionStore } });
      return;
    }
    const failing = [database === 'fail' ? 'database' : null, sessionStore === 'fail' ? 'sessionStore' : null].filter(Boolean);
    throw new AppError('SERVICE_UNAVAILABLE', {
      message: `Unavailable: ${failing.join(', ')}.`,
      details: { checks: { database, sessionStore } },
    });
  });
}
