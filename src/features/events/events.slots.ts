import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Streams one tenant may hold open at once, across every node (API.md: 429 RATE_LIMITED past it). */
export const MAX_STREAMS_PER_TENANT = 100;

/**
 * Open-stream slots per tenant. In Redis (full stack), a sorted set per tenant of stream ids
 * scored by lease expiry, so the limit holds across nodes and a node that dies without releasing
 * its slots frees them when their leases run out; in memory otherwise (one process is all there is).
 */
export interface StreamSlots {
  acquire(tenantId: string, streamId: string, nowMs: number): Promise<boolean>;
  /** Extends a held slot's lease (each credential re-check). */
  renew(tenantId: string, streamId: string, nowMs: number): Promise<void>;
  release(tenantId: string, streamId: string): Promise<void>;
}

export class MemoryStreamSlots implements StreamSlots {
  private readonly held = new Map<string, Set<string>>();

  acquire(tenantId: string, streamId: string): Promise<boolean> {
    const ids = this.held.get(tenantId) ?? new Set<string>();
    if (ids.size >= MAX_STREAMS_PER_TENANT) return Promise.resolve(false);
    ids.add(streamId);
    this.held.set(tenantId, ids);
    return Promise.resolve(true);
  }

  renew(): Promise<void> {
    return Promise.resolve();
  }

  release(tenantId: string, streamId: string): Promise<void> {
    const ids = this.held.get(tenantId);
    ids?.delete(streamId);
    if (ids?.size === 0) this.held.delete(tenantId);
    return Promise.resolve();
  }
}

// KEYS[1] the tenant's set; ARGV: now, lease expiry, limit, stream id, key ttl ms.
const ACQUIRE = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

export class RedisStreamSlots implements StreamSlots {
  constructor(
    private readonly redis: Redis,
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  private key(tenantId: string): string {
    return `event-streams:${tenantId}`;
  }

  async acquire(tenantId: string, streamId: string, nowMs: number): Promise<boolean> {
    try {
      const ok = await this.redis.eval(ACQUIRE, 1, this.key(tenantId), nowMs, nowMs + this.leaseMs, MAX_STREAMS_PER_TENANT, streamId, this.leaseMs * 2);
      return ok === 1;
    } catch (err) {
      // Availability over the cap: a Redis outage must not take every stream down with it.
      this.logger.warn({ err: { message: (err as Error).message } }, 'stream slot check failed; allowing the stream');
      return true;
    }
  }

  async renew(tenantId: string, streamId: string, nowMs: number): Promise<void> {
    await this.redis.zadd(this.key(tenantId), 'XX', nowMs + this.leaseMs, streamId).catch(() => undefined);
  }

  async release(tenantId: string, streamId: string): Promise<void> {
    await this.redis.zrem(this.key(tenantId), streamId).catch(() => undefined);
  }
}
