import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths whose values never reach a log line (docs/security.md 42). */
export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.key',
  '*.csrfToken',
  '*.secret',
  'password',
  'token',
  'key',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'incident-tracker-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * The process's logger on stdout. JSON lines, except in development on a terminal, where
 * pino-pretty makes them readable. pino-pretty is a devDependency, imported only then, so a
 * production install (dependencies only) never needs it; without it the lines stay JSON.
 */
export async function createStdoutLogger(level: string, env: string): Promise<Logger> {
  if (env === 'development' && process.stdout.isTTY) {
    try {
      const { default: pretty } = await import('pino-pretty');
      return createLogger(level, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service', sync: true }));
    } catch (err) {
      // Installed without devDependencies: JSON it is. Anything else is a real failure.
      if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  return createLogger(level);
}
