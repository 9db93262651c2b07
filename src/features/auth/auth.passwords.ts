import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../../platform/http/errors.js';

/** OWASP minimum for Argon2id: m = 19 MiB, t = 2, p = 1 (SECURITY.md 1). */
export const ARGON2_POLICY = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Algorithm.Argon2id; the package exports it as an ambient const enum, so the value is spelled out. */
const ARGON2ID = 2 as Algorithm;

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

const COMMON = new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));

/** Length 12..256 and not a common password; no composition rules, no truncation. */
export function assertPasswordPolicy(password: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX || COMMON.has(password.toLowerCase())) {
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
    if (this.active >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await fn();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }

  hash(password: string): Promise<string> {
    return this.withSlot(() => hash(password, { algorithm: ARGON2ID, ...ARGON2_POLICY }));
  }

  verify(storedHash: string, password: string): Promise<boolean> {
    return this.withSlot(() => verify(storedHash, password).catch(() => false));
  }

  /** Spends the same work as a real verify, for emails with no account. */
  async verifyDummy(password: string): Promise<false> {
    this.dummyHash ??= this.hash(`dummy-${Math.random().toString(36)}-${Date.now()}`);
    await this.verify(await this.dummyHash, password);
    return false;
  }

  /** True when the stored hash is weaker than policy (SECURITY.md 2). */
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
