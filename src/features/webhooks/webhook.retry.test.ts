import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, retryAfterMs, verdictOf } from './webhook.retry.js';

const now = new Date('2026-01-01T00:00:00Z');
const at = (attempt: number, status: number | null, random = 0.5, retryAfter?: string) =>
  verdictOf({ attempt, maxAttempts: MAX_ATTEMPTS, status, now, retryAfter }, () => random);
const delayOf = (v: ReturnType<typeof verdictOf>) => (v.kind === 'retry' ? v.nextAttemptAt.getTime() - now.getTime() : null);

describe('retry schedule', () => {
  it('when attempts keep failing, then retries come after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h and the 8th failure is final', () => {
    expect(RETRY_DELAYS_MS.map((_, i) => delayOf(at(i + 1, 500)))).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(MAX_ATTEMPTS).toBe(8);
    expect(at(8, 500)).toEqual({ kind: 'failed' });
  });

  it('when jitter is at its extremes, then each delay stays within ±10% of the schedule', () => {
    for (const [i, base] of RETRY_DELAYS_MS.entries()) {
      expect(delayOf(at(i + 1, null, 0))).toBe(Math.ceil(base * 0.9));
      expect(delayOf(at(i + 1, null, 0.999999))).toBeLessThanOrEqual(Math.ceil(base * 1.1));
      expect(delayOf(at(i + 1, null, 0.999999))).toBeGreaterThan(base * 1.09);
    }
  });

  it('when the answer is 2xx, then it succeeded; 410 disables; 3xx and no answer are failures', () => {
    expect(at(1, 200)).toEqual({ kind: 'succeeded' });
    expect(at(3, 204)).toEqual({ kind: 'succeeded' });
    expect(at(1, 410)).toEqual({ kind: 'gone' });
    expect(at(1, 301).kind).toBe('retry');
    expect(at(1, null).kind).toBe('retry');
  });

  it('when a 429 or 503 says Retry-After, then the retry is no sooner, capped at one hour; other statuses ignore it', () => {
    expect(delayOf(at(1, 429, 0.5, '2'))).toBe(5_000);
    expect(delayOf(at(1, 429, 0, '600'))).toBe(600_000);
    expect(delayOf(at(1, 503, 0, '600'))).toBe(600_000);
    expect(delayOf(at(1, 429, 0, '86400'))).toBe(3_600_000);
    expect(delayOf(at(1, 500, 0, '600'))).toBe(4_500);
    expect(delayOf(at(1, 429, 0, new Date(now.getTime() + 120_000).toUTCString()))).toBe(120_000);
  });

  it('when Retry-After is unreadable, then the schedule applies', () => {
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(delayOf(at(1, 429, 0, 'soon'))).toBe(4_500);
  });
});
