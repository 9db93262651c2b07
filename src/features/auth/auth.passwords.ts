import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { AppError } from '../../platform/http/errors.js';

/**
 * OWASP minimum for Argon2id: m = 19 MiB, t = 2, p = 1 (docs/security.md 1). @node-rs/argon2 hashes
 * with Argon2id by default (its enum is an ambient const enum, which this build cannot import).
 */
export const ARGON2_POLICY = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

/**
 * The common-password list (about 50,000 entries) is loaded on the first policy check, not at
 * start-up: only signup, reset and change need it, and held from boot it costs every process
 * tens of megabytes whether or not anyone ever signs up.
 */
let common: Promise<Set<string>> | null = null;
function commonPasswords(): Promise<Set<string>> {
  common ??= import('@zxcvbn-ts/language-common').then(
    ({ dictionary }) => new Set(dictionary['passwords-common'].map((p) => p.toLowerCase())),
  );
  return common;
}

/** Length in Unicode code points, so a password of emoji is not counted twice. */
export function codePointLength(s: string): number {
  return Array.from(s).length;
}

/** Length 12..256 and not a common password; no composition rules, no truncation. */
export async function assertPasswordPolicy(password: string): Promise<void> {
  const length = codePointLength(password);
  if (length < PASSWORD_MIN || length > PASSWORD_MAX || (await commonPasswords()).has(password.toLowerCase())) {
    throw new AppError('PASSWORD_TOO_WEAK', {
      details: { minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX },
    });
  }
}

/**
 * Argon2id behind a semaphore: hashing runs on libuv's thread pool, and at most `maxConcurrent`
 * hashes run at once so a login flood queues here instead of starving every other request of
 * threads (pg, DNS and fs share that pool).
 */
export class PasswordHasher {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** A real hash of a random password: the unknown-email path verifies against it. */
  private dummyHash: Promise<string> | null = null;

  constructor(private readonly maxConcurrent: number) {}

  private async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    // A released slot is handed straight to the next waiter (active stays counted), so a caller
    // arriving between the release and the waiter's wake-up cannot take it and exceed the limit.
    if (this.active >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }

  hash(password: string): Promise<string> {
    return this.withSlot(() => hash(password, { ...ARGON2_POLICY }));
  }

  verify(storedHash: string, password: string): Promise<boolean> {
    return this.withSlot(() => verify(storedHash, password).catch(() => false));
  }

  /** Spends the same work as a real verify, for emails with no account. */
  async verifyDummy(password: string): Promise<false> {
    // A failed first hash is not cached, or every later unknown-email login would fail too.
    this.dummyHash ??= this.hash(randomBytes(24).toString('base64url')).catch((err: unknown) => {
      this.dummyHash = null;
      throw err;
    });
    await this.verify(await this.dummyHash, password);
    return false;
  }

  /** True when the stored hash is weaker than policy (docs/security.md 2). */
  static needsRehash(storedHash: string): boolean {
    const m = /^\$argon2(id|i|d)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(storedHash);
    if (!m) return true;
    return (
      m[1] !== 'id' ||
      Number(m[2]) < ARGON2_POLICY.memoryCost ||
      Number(m[3]) < ARGON2_POLICY.timeCost ||
      Number(m[4]) !== ARGON2_POLICY.parallelism
    );
  }
}
