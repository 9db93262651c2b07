import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import session, { Store, type SessionData } from 'express-session';
import type { Redis } from 'ioredis';
import { AppError } from '../http/errors.js';

declare module 'express-session' {
  interface SessionData {
    csrfToken: string;
    userId: string;
    /** users.session_epoch when this session signed in; a newer epoch ends the session. */
    epoch: number;
    activeTenantId: string | null;
    createdAtMs: number;
    authenticatedAtMs: number;
    lastSeenAtMs: number;
  }
}

export interface SessionTimeouts {
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  anonymousTimeoutMs: number;
}

/** Refresh lastSeenAt (and so the store TTL) at most this often: no write on every request. */
const TOUCH_INTERVAL_MS = 60_000;

function ttlMsOf(sess: Partial<SessionData>, t: SessionTimeouts): number {
  return sess.userId ? t.idleTimeoutMs : t.anonymousTimeoutMs;
}

function storeUnavailable(cause: unknown): AppError {
  return new AppError('SERVICE_UNAVAILABLE', { cause, headers: { 'Retry-After': '1' } });
}

/**
 * Sessions in Redis. The client is created with `enableOfflineQueue: false` and a command
 * timeout, so a dead or hung Redis fails fast (503) instead of queueing or hanging requests.
 */
export class RedisSessionStore extends Store {
  constructor(
    private readonly redis: Redis,
    private readonly timeouts: SessionTimeouts,
    private readonly prefix = 'sess:',
  ) {
    super();
  }

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    this.redis.get(this.prefix + sid).then(
      (raw) => {
        cb(null, raw ? (JSON.parse(raw) as SessionData) : null);
      },
      (err: unknown) => {
        cb(storeUnavailable(err));
      },
    );
  }

  override set(sid: string, sess: SessionData, cb?: (err?: unknown) => void): void {
    this.redis.set(this.prefix + sid, JSON.stringify(sess), 'PX', ttlMsOf(sess, this.timeouts)).then(
      () => cb?.(),
      (err: unknown) => cb?.(storeUnavailable(err)),
    );
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.redis.del(this.prefix + sid).then(
      () => cb?.(),
      (err: unknown) => cb?.(storeUnavailable(err)),
    );
  }

  /** TTL is refreshed by the throttled lastSeenAt save, so touching is deliberately free. */
  override touch(_sid: string, _sess: SessionData, cb?: () => void): void {
    cb?.();
  }
}

/** The embedded default: an in-process store with the same TTL rules, swept every minute. */
export class MemorySessionStore extends Store {
  private readonly data = new Map<string, { json: string; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly timeouts: SessionTimeouts) {
    super();
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [sid, v] of this.data) if (v.expiresAt <= now) this.data.delete(sid);
    }, 60_000);
    this.sweeper.unref();
  }

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    const v = this.data.get(sid);
    if (!v || v.expiresAt <= Date.now()) {
      cb(null, null);
      return;
    }
    cb(null, JSON.parse(v.json) as SessionData);
  }

  override set(sid: string, sess: SessionData, cb?: (err?: unknown) => void): void {
    this.data.set(sid, { json: JSON.stringify(sess), expiresAt: Date.now() + ttlMsOf(sess, this.timeouts) });
    cb?.();
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.data.delete(sid);
    cb?.();
  }

  override touch(_sid: string, _sess: SessionData, cb?: () => void): void {
    cb?.();
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

export interface SessionOptions {
  store: Store;
  secret: string;
  cookieName: string;
  secure: boolean;
}

export function sessionMiddleware(opts: SessionOptions): RequestHandler {
  return session({
    store: opts.store,
    secret: opts.secret,
    name: opts.cookieName,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    // Sessions end only through `destroySession`, which deletes from the store itself. 'destroy'
    // would also delete whenever `req.session` is missing at the end of a request, which happens
    // when loading it failed: a second store round trip (doubling the wait on a hung Redis past
    // the 2 s bound) that would sign the user out over a transient read error.
    unset: 'keep',
    cookie: { httpOnly: true, sameSite: 'lax', path: '/', secure: opts.secure },
  });
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of the presented CSRF token with the session's. */
export function csrfTokenMatches(expected: string | undefined, presented: string | undefined): boolean {
  if (!expected || !presented) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Enforces idle, absolute and anonymous lifetimes on the server with the injected clock, and
 * refreshes lastSeenAt at most once a minute. An expired session is destroyed and the request
 * continues as anonymous.
 */
export async function enforceSessionLifetime(req: Request, nowMs: number, t: SessionTimeouts): Promise<void> {
  const s = req.session as (typeof req.session & Partial<SessionData>) | undefined;
  if (!s?.createdAtMs) return;
  const lastSeen = s.lastSeenAtMs ?? s.createdAtMs;
  const expired = s.userId
    ? nowMs - lastSeen > t.idleTimeoutMs || nowMs - (s.authenticatedAtMs ?? s.createdAtMs) > t.absoluteTimeoutMs
    : nowMs - s.createdAtMs > t.anonymousTimeoutMs;
  if (expired) {
    await destroySession(req);
    return;
  }
  if (nowMs - lastSeen >= TOUCH_INTERVAL_MS) s.lastSeenAtMs = nowMs;
}

export function regenerateSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.regenerate((err: unknown) => {
      if (err) reject(err instanceof AppError ? err : storeUnavailable(err));
      else resolve();
    });
  });
}

export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.save((err: unknown) => {
      if (err) reject(err instanceof AppError ? err : storeUnavailable(err));
      else resolve();
    });
  });
}

export function destroySession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.destroy((err: unknown) => {
      if (err) reject(err instanceof AppError ? err : storeUnavailable(err));
      else resolve();
    });
  });
}
