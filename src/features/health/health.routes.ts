import type { Express } from 'express';
import type { Store } from 'express-session';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Database } from '../../platform/db/database.js';
import { pendingMigrations, readMigrations, type MigrationFile } from '../../platform/db/migrator.js';
import { AppError } from '../../platform/http/errors.js';

const CHECK_TIMEOUT_MS = 1000;

type CheckResult = 'ok' | 'fail';

function withTimeout<T>(p: Promise<T>): Promise<{ result: CheckResult; value?: T }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ result: 'fail' }>((resolve) => {
    timer = setTimeout(() => {
      resolve({ result: 'fail' });
    }, CHECK_TIMEOUT_MS);
  });
  return Promise.race([p.then((value) => ({ result: 'ok' as const, value }), () => ({ result: 'fail' as const })), timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/**
 * The migrations check: 'pending' while the database lacks a migration this build ships (a deploy
 * whose migrations have not run would otherwise pass the check and answer every request with a
 * 500). Files are read once; once every one is seen applied the database is not asked again,
 * since migrations only go forward.
 */
function migrationsCheck(db: Database, logger: Logger): () => Promise<'ok' | 'pending' | 'fail'> {
  let files: Promise<MigrationFile[]> | null = null;
  let confirmed = false;
  let lastPending = '';
  return async () => {
    if (confirmed) return 'ok';
    files ??= readMigrations();
    const { result, value: pending } = await withTimeout(files.then((f) => pendingMigrations(db, f)));
    if (result === 'fail' || !pending) return 'fail';
    if (pending.length === 0) {
      confirmed = true;
      return 'ok';
    }
    // Once per change, not per probe: the operator needs the names, the load balancer polls.
    if (pending.join() !== lastPending) {
      lastPending = pending.join();
      logger.warn({ pending }, 'migrations pending: /health answers 503 until they are applied (pnpm db:migrate:prod)');
    }
    return 'pending';
  };
}

/**
 * GET /health: database, session store and migrations, each with a short timeout. No secrets or
 * versions in the body.
 */
export function registerHealthRoute(app: Express, deps: { db: Database; redis: Redis | null; store: Store; logger: Logger }): void {
  const checkMigrations = migrationsCheck(deps.db, deps.logger);
  app.get('/health', async (_req, res) => {
    const [database, sessionStore, migrations] = await Promise.all([
      withTimeout(deps.db.ping()).then((c) => c.result),
      deps.redis ? withTimeout(deps.redis.ping()).then((c) => c.result) : Promise.resolve('ok' as const),
      checkMigrations(),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    const checks = { database, sessionStore, migrations };
    if (database === 'ok' && sessionStore === 'ok' && migrations === 'ok') {
      res.json({ status: 'ok', checks });
      return;
    }
    const failing = Object.entries(checks)
      .filter(([, state]) => state !== 'ok')
      .map(([name, state]) => (state === 'fail' ? name : `${name} ${state}`));
    throw new AppError('SERVICE_UNAVAILABLE', {
      message: `Unavailable: ${failing.join(', ')}.`,
      details: { checks },
    });
  });
}
