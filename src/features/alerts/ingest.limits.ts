import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../../platform/http/errors.js';

/** Wrong routing keys allowed per address per second before it is refused (docs/security.md 53). */
export const WRONG_KEYS_PER_SECOND = 20;

export interface IngestLimits {
  /** Spends `points` of the source's ALERT_EVENTS_PER_MINUTE; 429 RATE_LIMITED with Retry-After when used up. */
  consumeSourceBudget(sourceId: string, points: number): Promise<void>;
  /** 429 while the address has sent too many wrong keys this second. */
  assertKeyGuessAllowed(ip: string | null): Promise<void>;
  recordWrongKey(ip: string | null): Promise<void>;
}

function rateLimited(msBeforeNext: number): AppError {
  return new AppError('RATE_LIMITED', { headers: { 'Retry-After': String(Math.max(1, Math.ceil(msBeforeNext / 1000))) } });
}

/**
 * Ingestion's two throttles, on rate-limiter-flexible like the auth limits: Redis in the full
 * stack (every node shares the budget), memory in the embedded default. A Redis that does not
 * answer fails the request with 503 rather than letting it through unthrottled.
 */
export function createIngestLimits(alertEventsPerMinute: number, redis: Redis | null): IngestLimits {
  const make = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ storeClient: redis, useRedisPackage: false, keyPrefix, points, duration, rejectIfRedisNotReady: true })
      : new RateLimiterMemory({ keyPrefix, points, duration });
  const perSource = make('rl:alert-source', alertEventsPerMinute, 60);
  const wrongKeys = make('rl:alert-wrong-key', WRONG_KEYS_PER_SECOND, 1);
  return {
    async consumeSourceBudget(sourceId, points) {
      try {
        await perSource.consume(sourceId, points);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw rateLimited(err.msBeforeNext);
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
    async assertKeyGuessAllowed(ip) {
      let res: RateLimiterRes | null;
      try {
        res = await wrongKeys.get(ip ?? 'unknown');
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
      if (res && res.consumedPoints >= WRONG_KEYS_PER_SECOND) throw rateLimited(res.msBeforeNext);
    },
    async recordWrongKey(ip) {
      try {
        await wrongKeys.penalty(ip ?? 'unknown', 1);
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
  };
}
