import type { Queryable } from '../../platform/db/database.js';
import { dailyAlertEvents, dailyWrites } from './usage.queries.js';
import { nextUtcMidnight, tenantQuotaLimit, utcDay } from './usage.quota.js';

export const HISTORY_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Today's quota figures and the last 30 UTC days of incident writes (today included), oldest
 * first, with days without writes as 0.
 */
export async function usageReport(tx: Queryable, tenantId: string, now: Date, defaultLimit: number) {
  const limit = await tenantQuotaLimit(tx, tenantId, defaultLimit);
  const todayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const days = Array.from({ length: HISTORY_DAYS }, (_, i) => utcDay(new Date(todayStart - (HISTORY_DAYS - 1 - i) * DAY_MS)));
  const today = utcDay(now);
  const counts = await dailyWrites(tx, tenantId, days[0] ?? today, today);
  const alertEvents = await dailyAlertEvents(tx, tenantId, days[0] ?? today, today);
  const used = counts.get(today) ?? 0;
  return {
    quotas: {
      incidentWrites: { limit, used, remaining: Math.max(0, limit - used), resetAt: nextUtcMidnight(now).toISOString() },
    },
    // Alert events that only added to an alert: metered, never limited (alerts are never dropped).
    alertEvents: { today: alertEvents.get(today) ?? 0 },
    history: days.map((date) => ({ date, incidentWrites: counts.get(date) ?? 0, alertEvents: alertEvents.get(date) ?? 0 })),
  };
}
