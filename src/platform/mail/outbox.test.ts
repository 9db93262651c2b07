import { describe, expect, it } from 'vitest';
import { MAIL_RETRY, retryDelayMs } from './outbox.js';

describe('retryDelayMs', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 5000 };

  it('doubles from the base delay up to the cap, without jitter at random() = 0', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(policy, n, () => 0))).toEqual([1000, 2000, 4000, 5000]);
  });

  it('adds at most 20% jitter', () => {
    expect(retryDelayMs(policy, 2, () => 0.999)).toBe(2400);
  });

  it('gives up once the attempts are used up', () => {
    expect(retryDelayMs(policy, 5)).toBeNull();
  });

  it('keeps trying for hours by default before giving up', () => {
    let total = 0;
    for (let n = 1; n < MAIL_RETRY.maxAttempts; n += 1) total += retryDelayMs(MAIL_RETRY, n, () => 0) ?? 0;
    expect(total).toBeGreaterThan(2 * 3_600_000);
    expect(retryDelayMs(MAIL_RETRY, MAIL_RETRY.maxAttempts)).toBeNull();
  });
});
