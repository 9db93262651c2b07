import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Database } from './platform/db/database.js';
import { migrate } from './platform/db/migrator.js';
import { createPgliteDatabase } from './platform/db/pglite.js';
import { createPostgresDatabase } from './platform/db/postgres.js';
import { traceRedisCommands } from './platform/telemetry/redis.js';
import { LogMailer, SmtpMailer, type Mailer } from './platform/mail/mailer.js';

export interface Runtime {
  db: Database;
  redis: Redis | null;
  mailer: Mailer;
  close(): Promise<void>;
}

/**
 * A Redis client that fails fast: no offline queue (a command while disconnected errors at once)
 * and a command timeout (a hung server cannot hold a request), reconnecting in the background.
 * `keyPrefix` namespaces every key (tests give each app its own, since they share one Redis).
 * Its commands are traced within traced requests.
 */
export function createRedis(url: string, logger: Logger, opts: { keyPrefix?: string } = {}): Redis {
  const redis = new Redis(url, {
    ...opts,
    enableOfflineQueue: false,
    commandTimeout: 1000,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  });
  redis.on('error', (err: Error) => {
    logger.warn({ err: { message: err.message } }, 'redis error');
  });
  traceRedisCommands(redis);
  return redis;
}

/**
 * The mail transport of the mail worker: SMTP when SMTP_URL is set (checked once at start-up, in
 * the background: an unreachable server is a warning naming its host), else the log mailer.
 * Outside production, deliveries are logged.
 */
export function createMailer(config: Config, logger: Logger): Mailer {
  if (!config.mail.smtpUrl) return new LogMailer(logger);
  const smtp = new SmtpMailer(config.mail.smtpUrl, config.mail.from, logger, { logDeliveries: !config.isProduction });
  // Not awaited: a slow or absent SMTP server must not delay start-up; the check only logs.
  void smtp.checkConnection();
  return smtp;
}

/** Creates the database, Redis and mailer the config asks for. Embedded PGlite is migrated here. */
export async function createRuntime(config: Config, logger: Logger): Promise<Runtime> {
  let db: Database;
  if (config.database.kind === 'postgres') {
    db = createPostgresDatabase({ ...config.database, logger });
  } else {
    db = await createPgliteDatabase(config.database);
    const { applied } = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'embedded database migrated');
  }
  const redis = config.redisUrl ? createRedis(config.redisUrl, logger) : null;
  const mailer = createMailer(config, logger);
  return {
    db,
    redis,
    mailer,
    async close() {
      await mailer.close();
      if (redis) redis.disconnect();
      await db.close();
    },
  };
}
