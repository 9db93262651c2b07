/**
 * What one attempt's outcome means for the delivery (API.md, "Webhook endpoints"): a 2xx is
 * success; otherwise the next attempt follows the schedule (±10% jitter), no sooner than a 429 or
 * 503's `Retry-After` (capped at 1 h); a 410 disables the endpoint; after the 8th attempt the
 * delivery has failed. A 3xx is a failure like any other (redirects are never followed).
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
export const RETRY_AFTER_CAP_MS = 3_600_000;
export const JITTER = 0.1;

export type AttemptVerdict =
  | { kind: 'succeeded' }
  | { kind: 'retry'; nextAttemptAt: Date }
  | { kind: 'failed' }
  | { kind: 'gone' };

/**
 * `Retry-After` in milliseconds (delay-seconds or an HTTP date, RFC 9110 10.2.3), capped at 1 h;
 * null when absent or unreadable.
 */
export function retryAfterMs(value: string | undefined, now: Date): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - now.getTime();
  }
  return Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

/**
 * The verdict for attempt number `attempt` (1-based) of a delivery allowed `maxAttempts`.
 * `status` is null when no HTTP response came (timeout, refused address, connection error).
 * `random` returns [0, 1) and spreads the jitter.
 */
export function verdictOf(
  input: { attempt: number; maxAttempts: number; status: number | null; retryAfter?: string | undefined; now: Date },
  random: () => number = Math.random,
): AttemptVerdict {
  const { attempt, maxAttempts, status, now } = input;
  if (status !== null && status >= 200 && status < 300) return { kind: 'succeeded' };
  if (status === 410) return { kind: 'gone' };
  if (attempt >= maxAttempts) return { kind: 'failed' };
  const base = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length) - 1] ?? RETRY_DELAYS_MS[0];
  let delay = base * (1 - JITTER + 2 * JITTER * random());
  if (status === 429 || status === 503) {
    const floor = retryAfterMs(input.retryAfter, now);
    if (floor !== null) delay = Math.max(delay, floor);
  }
  return { kind: 'retry', nextAttemptAt: new Date(now.getTime() + Math.ceil(delay)) };
}
