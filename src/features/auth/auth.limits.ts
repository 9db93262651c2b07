import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../../config.js';
import { AppError } from '../../platform/http/errors.js';
import type { Clock } from '../../platform/clock.js';

export const LOCKOUT_THRESHOLD = 10;
export const LOCKOUT_WINDOW_MS = 15 * 60_000;
export const LOCKOUT_DURATION_MS = 15 * 60_000;

/**
 * Per-email lockout. Counts consecutive failures inside a window and locks the email once the
 * threshold is reached. Time comes from the injected clock (so tests can move it); increments
 * are atomic (a Lua script in Redis, a synchronous Map update in memory).
 */
export interface LockoutStore {
  /** Milliseconds until the lock opens, or 0 when not locked. */
  lockedForMs(email: string): Promise<number>;
  /** Records a failure; returns the lock duration in ms when this failure locked the email. */
  recordFailure(email: string): Promise<number>;
  reset(email: string): Promise<void>;
}

const LUA_RECORD_FAILURE = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local lockMs = tonumber(ARGV[4])
local first = tonumber(redis.call('HGET', KEYS[1], 'first') or '0')
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if first == 0 or now - first > window then
  first = now
  count = 0
end
count = count + 1
local lockedUntil = 0
if count >= threshold then
  lockedUntil = now + lockMs
  count = 0
  first = 0
end
redis.call('HSET', KEYS[1], 'first', first, 'count', count)
if lockedUntil > 0 then redis.call('HSET', KEYS[1], 'lockedUntil', lockedUntil) end
redis.call('PEXPIRE', KEYS[1], window + lockMs)
return lockedUntil
`;

class RedisLockoutStore implements LockoutStore {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  private key(email: string): string {
    return `lockout:${email}`;
  }

  async lockedForMs(email: string): Promise<number> {
    const until = Number((await this.redis.hget(this.key(email), 'lockedUntil')) ?? 0);
    return Math.max(0, until - this.clock.now().getTime());
  }

  async recordFailure(email: string): Promise<number> {
    const now = this.clock.now().getTime();
    const until = Number(await this.redis.eval(LUA_RECORD_FAILURE, 1, this.key(email), now, LOCKOUT_WINDOW_MS, LOCKOUT_THRESHOLD, LOCKOUT_DURATION_MS));
    return until > 0 ? until - now : 0;
  }

  async reset(email: string): Promise<void> {
    await this.redis.del(this.key(email));
  }
}

class MemoryLockoutStore implements LockoutStore {
  private readonly entries = new Map<string, { first: number; count: number; lockedUntil: number }>();

  constructor(private readonly clock: Clock) {}

  lockedForMs(email: string): Promise<number> {
    const e = this.entries.get(email);
    return Promise.resolve(Math.max(0, (e?.lockedUntil ?? 0) - this.clock.now().getTime()));
  }

  recordFailure(email: string): Promise<number> {
    const now = this.clock.now().getTime();
    const e = this.entries.get(email) ?? { first: 0, count: 0, lockedUntil: 0 };
    if (e.first === 0 || now - e.first > LOCKOUT_WINDOW_MS) {
      e.first = now;
      e.count = 0;
    }
    e.count += 1;
    let lockedFor = 0;
    if (e.count >= LOCKOUT_THRESHOLD) {
      e.lockedUntil = now + LOCKOUT_DURATION_MS;
      e.first = 0;
      e.count = 0;
      lockedFor = LOCKOUT_DURATION_MS;
    }
    this.entries.set(email, e);
    if (this.entries.size > 100_000) {
      for (const [k, v] of this.entries) if (v.lockedUntil < now && now - v.first > LOCKOUT_WINDOW_MS) this.entries.delete(k);
    }
    return Promise.resolve(lockedFor);
  }

  reset(email: string): Promise<void> {
    this.entries.delete(email);
    return Promise.resolve();
  }
}

export interface AuthRateLimits {
  lockout: LockoutStore;
  /** Throws 429 RATE_LIMITED with Retry-After when the address is over its budget. */
  consumeIp(kind: 'signup' | 'forgot', ip: string | null): Promise<void>;
  /**
   * Login is budgeted in failed attempts (docs/security.md 7), not in attempts: this throws 429 when
   * the address has used its budget, and `recordLoginFailure` spends it.
   */
  assertLoginAllowed(ip: string | null): Promise<void>;
  recordLoginFailure(ip: string | null): Promise<void>;
  /** Forgot-password mails per email per hour (5): true while under the limit. */
  consumeResetMail(email: string): Promise<boolean>;
}

/**
 * Per-IP throttles use rate-limiter-flexible (Redis in the full stack, memory in the embedded
 * default); the Redis client never queues while disconnected, so a dead Redis fails the request
 * with 503 rather than letting it through unthrottled.
 */
export function createAuthRateLimits(config: Config, redis: Redis | null, clock: Clock): AuthRateLimits {
  const make = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ storeClient: redis, useRedisPackage: false, keyPrefix, points, duration, rejectIfRedisNotReady: true })
      : new RateLimiterMemory({ keyPrefix, points, duration });
  const limiters = {
    login: make('rl:login', config.limits.loginPerIpPer15Min, 15 * 60),
    signup: make('rl:signup', config.limits.signupPerIpPerHour, 60 * 60),
    forgot: make('rl:forgot', config.limits.forgotPerIpPerHour, 60 * 60),
  };
  const resetMail = make('rl:reset-mail', 5, 60 * 60);
  const rateLimited = (msBeforeNext: number): AppError =>
    new AppError('RATE_LIMITED', { headers: { 'Retry-After': String(Math.max(1, Math.ceil(msBeforeNext / 1000))) } });
  return {
    lockout: redis ? new RedisLockoutStore(redis, clock) : new MemoryLockoutStore(clock),
    async consumeIp(kind, ip) {
      try {
        await limiters[kind].consume(ip ?? 'unknown');
      } catch (err) {
        if (err instanceof RateLimiterRes) throw rateLimited(err.msBeforeNext);
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
    async assertLoginAllowed(ip) {
      let res: RateLimiterRes | null;
      try {
        res = await limiters.login.get(ip ?? 'unknown');
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
      if (res && res.consumedPoints >= limiters.login.points) throw rateLimited(res.msBeforeNext);
    },
    async recordLoginFailure(ip) {
      try {
        await limiters.login.penalty(ip ?? 'unknown', 1);
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
    async consumeResetMail(email) {
      try {
        await resetMail.consume(email);
        return true;
      } catch (err) {
        if (err instanceof RateLimiterRes) return false;
        throw new AppError('SERVICE_UNAVAILABLE', { cause: err });
      }
    },
  };
}
