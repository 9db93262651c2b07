import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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
  /** Lifetime of an anonymous visitor's CSRF token (see AnonymousCsrf). */
  anonymousTimeoutMs: number;
}

/** Refresh lastSeenAt (and so the store TTL) at most this often: no write on every request. */
const TOUCH_INTERVAL_MS = 60_000;

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
    this.redis.set(this.prefix + sid, JSON.stringify(sess), 'PX', this.timeouts.idleTimeoutMs).then(
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
    this.data.set(sid, { json: JSON.stringify(sess), expiresAt: Date.now() + this.timeouts.idleTimeoutMs });
    cb?.();
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.data.delete(sid);
    cb?.();
  }

  override touch(_sid: string, _sess: SessionData, cb?: () => void): void {
    cb?.();
  }

  /** Sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.data.size;
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

/** The session cookie's attributes, for stored sessions and anonymous tokens alike (docs/security.md 12). */
const COOKIE_ATTRIBUTES = { httpOnly: true, sameSite: 'lax', path: '/' } as const;

/**
 * Only signed-in sessions are stored: a visitor's anonymous CSRF token lives in the cookie (see
 * AnonymousCsrf), so cookieless requests cost the store nothing.
 */
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
    cookie: { ...COOKIE_ATTRIBUTES, secure: opts.secure },
  });
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * CSRF tokens for visitors who are not signed in, without storing anything: the session cookie
 * holds `a.<issuedAtMs>.<nonce>` and the token is HMAC-SHA256(secret, that value), so only the
 * server can make a token that matches a cookie, and a token dies with its cookie or after
 * `lifetimeMs`. express-session ignores such a cookie (it is not `s:`-signed), and signing up or
 * in replaces it with a stored session's cookie and token.
 */
export class AnonymousCsrf {
  private static readonly COOKIE_RE = /^a\.(\d{1,16})\.[A-Za-z0-9_-]{22}$/;

  constructor(
    private readonly opts: { secret: string; cookieName: string; secure: boolean; lifetimeMs: number },
  ) {}

  /** The token bound to the request's anonymous cookie, or null (no such cookie, or it expired). */
  tokenOf(req: Request, nowMs: number): string | null {
    const value = cookieValue(req.get('cookie'), this.opts.cookieName);
    const issuedAtMs = value === null ? undefined : AnonymousCsrf.COOKIE_RE.exec(value)?.[1];
    if (value === null || issuedAtMs === undefined || nowMs - Number(issuedAtMs) > this.opts.lifetimeMs) return null;
    return this.tokenFor(value);
  }

  /** A new anonymous cookie (a Set-Cookie value) and its token. */
  issue(nowMs: number): { token: string; setCookie: string } {
    const value = `a.${String(nowMs)}.${randomBytes(16).toString('base64url')}`;
    return { token: this.tokenFor(value), setCookie: sessionSetCookie(this.opts, value) };
  }

  private tokenFor(cookie: string): string {
    // The prefix keeps these MACs apart from express-session's cookie signatures (same secret).
    return createHmac('sha256', this.opts.secret).update(`anonymous-csrf:${cookie}`).digest('base64url');
  }
}

/**
 * A Set-Cookie value for the session cookie with the attributes of COOKIE_ATTRIBUTES; the empty
 * value with an expiry in the past clears it.
 */
export function sessionSetCookie(opts: { cookieName: string; secure: boolean }, value: string): string {
  const expires = value === '' ? '; Expires=Thu, 01 Jan 1970 00:00:00 GMT' : '';
  return `${opts.cookieName}=${value}; Path=/; HttpOnly; SameSite=Lax${expires}${opts.secure ? '; Secure' : ''}`;
}

/** One cookie's raw value from a Cookie header (the first of that name, as express-session reads it). */
export function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Constant-time comparison of the presented CSRF token with the session's. */
export function csrfTokenMatches(expected: string | undefined, presented: string | undefined): boolean {
  if (!expected || !presented) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Enforces the idle and absolute lifetimes on the server with the injected clock, and refreshes
 * lastSeenAt at most once a minute. An expired session is destroyed and the request continues as
 * anonymous; so is a stored session without a user, which this version never stores (an earlier
 * one stored anonymous sessions).
 */
export async function enforceSessionLifetime(req: Request, nowMs: number, t: SessionTimeouts): Promise<void> {
  const s = req.session as (typeof req.session & Partial<SessionData>) | undefined;
  if (!s?.createdAtMs) return;
  const lastSeen = s.lastSeenAtMs ?? s.createdAtMs;
  const expired =
    !s.userId || nowMs - lastSeen > t.idleTimeoutMs || nowMs - (s.authenticatedAtMs ?? s.createdAtMs) > t.absoluteTimeoutMs;
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

/**
 * Deletes the stored session. Afterwards `req.session` is undefined and the request goes on as
 * anonymous; a request whose session was already ended has nothing left to delete.
 */
export function destroySession(req: Request): Promise<void> {
  // express-session's types say the session always exists; after a destroy it does not.
  const session = req.session as Request['session'] | undefined;
  if (!session) return Promise.resolve();
  return new Promise((resolve, reject) => {
    session.destroy((err: unknown) => {
      if (err) reject(err instanceof AppError ? err : storeUnavailable(err));
      else resolve();
    });
  });
}
