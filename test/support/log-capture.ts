import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/platform/log/logger.js';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A real logger (redaction included) whose lines a test can read back, raw and parsed. */
export function capturingLogger(): { logger: Logger; raw: string[]; lines: LogLine[] } {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        raw.push(chunk.toString('utf8'));
        lines.push(JSON.parse(chunk.toString('utf8')) as LogLine);
        cb();
      },
    }),
  );
  return { logger, raw, lines };
}
