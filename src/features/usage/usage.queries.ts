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
