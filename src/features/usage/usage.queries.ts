import type { Queryable } from '../../platform/db/database.js';

/** Writes per UTC day from `fromDay` to `toDay` inclusive; days without a counter row are absent. */
export async function dailyWrites(tx: Queryable, tenantId: string, fromDay: string, toDay: string): Promise<Map<string, number>> {
  // Dates go out as text: a `date` parsed into a JS Date would shift with the process time zone.
  const { rows } = await tx.query<{ day: string; incident_writes: number }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, incident_writes FROM usage_counters
      WHERE tenant_id = $1 AND day BETWEEN $2::date AND $3::date`,
    [tenantId, fromDay, toDay],
  );
  return new Map(rows.map((r) => [r.day, r.incident_writes]));
}

/** Alert events that changed no incident (docs/api-guide.md "Alerts"), per UTC day, like dailyWrites. */
export async function dailyAlertEvents(tx: Queryable, tenantId: string, fromDay: string, toDay: string): Promise<Map<string, number>> {
  const { rows } = await tx.query<{ day: string; alert_events: number }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day, alert_events FROM alert_event_counters
      WHERE tenant_id = $1 AND day BETWEEN $2::date AND $3::date`,
    [tenantId, fromDay, toDay],
  );
  return new Map(rows.map((r) => [r.day, r.alert_events]));
}
