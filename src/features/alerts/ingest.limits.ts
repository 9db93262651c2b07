import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Clock } from '../../platform/clock.js';
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
export function createIngestLimits(alertEventsPerMinute: number, redis: Redis | null, clock: Clock): IngestLimits {
  const make = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ storeClient: redis, useRedisPackage: false, keyPrefix, points, duration, rejectIfRedisNotReady: true })
      : new RateLimiterMemory({ keyPrefix, points, duration });
  const perSource = make('rl:alert-source', alertEventsPerMinute, 60);
  const wrongKeys = redis ? new RedisWindowCounter(redis, clock) : new MemoryWindowCounter(clock);
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
      let count: number;
      try {
        count = await wrongKeys.count(ip ?? 'unknown');
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
      if (count >= WRONG_KEYS_PER_SECOND) throw rateLimited(1000 - (clock.now().getTime() % 1000));
    },
    async recordWrongKey(ip) {
      try {
        await wrongKeys.add(ip ?? 'unknown');
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
  };
}

/**
 * Wrong keys per address in the current second of the injected clock (a fixed window, so a test
 * with a still clock sees one window): counted in Redis in the full stack, in memory otherwise.
 */
interface WindowCounter {
  count(address: string): Promise<number>;
  add(address: string): Promise<void>;
}

class MemoryWindowCounter implements WindowCounter {
  private window = 0;
  private counts = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  private current(): Map<string, number> {
    const window = Math.floor(this.clock.now().getTime() / 1000);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    return this.counts;
  }

  count(address: string): Promise<number> {
    return Promise.resolve(this.current().get(address) ?? 0);
  }

  add(address: string): Promise<void> {
    const counts = this.current();
    counts.set(address, (counts.get(address) ?? 0) + 1);
    return Promise.resolve();
  }
}

class RedisWindowCounter implements WindowCounter {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  private key(address: string): string {
    return `rl:alert-wrong-key:${address}:${String(Math.floor(this.clock.now().getTime() / 1000))}`;
  }

  async count(address: string): Promise<number> {
    return Number((await this.redis.get(this.key(address))) ?? 0);
  }

  async add(address: string): Promise<void> {
    const key = this.key(address);
    await this.redis.multi().incr(key).pexpire(key, 2000).exec();
  }
}
