import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LIST_INCIDENTS_SQL,
  listIncidentRows,
  updateIncident,
  UPDATE_INCIDENT_SQL,
  type IncidentFilter,
  type IncidentPatch,
} from '../../src/features/incidents/incidents.queries.js';
import type { Database } from '../../src/platform/db/database.js';
import type { StatementNames } from '../../src/platform/db/statement-names.js';
import { withTenantTx } from '../../src/platform/db/tx.js';
import { cursorOfRow, type PageRequest } from '../../src/platform/http/pagination.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { onPostgres } from '../support/backend.js';
import { createTenant, signUp } from '../support/factories.js';
import { logCapture } from '../support/state.js';
import { openIncident } from '../incidents/helpers.js';

/** Every subset of `items` (2^n of them). */
function subsets<T>(items: readonly T[]): T[][] {
  return Array.from({ length: 2 ** items.length }, (_, mask) => items.filter((_, i) => (mask >> i) & 1));
}

const FILTERS: Required<IncidentFilter> = {
  status: ['investigating', 'identified'],
  severity: ['SEV1', 'SEV2'],
  q: 'checkout',
  createdAfter: '2020-01-01T00:00:00.000Z',
  createdBefore: '2999-01-01T00:00:00.000Z',
};

const now = new Date();
const PATCH: Required<IncidentPatch> = {
  title: 'Renamed',
  description: null,
  severity: 'SEV3',
  status: 'identified',
  commander_id: null,
  identified_at: now,
  monitoring_at: null,
  resolved_at: null,
  acknowledged_at: now,
  acknowledged_by_type: 'user',
  acknowledged_by_id: '00000000-0000-4000-8000-000000000001',
};

// Prepared statements are a PostgreSQL connection's; PGlite runs every statement unnamed.
describe.skipIf(!onPostgres)('prepared statement names (PostgreSQL)', () => {
  let t: TestApp;
  let db: Database & { statementNames: StatementNames | null };
  beforeAll(async () => {
    // One connection, so every statement below is prepared on the connection the check reads.
    t = await createTestApp({ poolMax: 1 });
    db = t.db as typeof db;
  });
  afterAll(async () => {
    await t.close();
  });

  it('when every filter combination of the incident list and every field combination of its update run, then they share a few named statements and new texts are still named', async () => {
    const owner = await signUp(t);
    const tenantId = await createTenant(owner);
    const incident = await openIncident(owner, { title: 'Checkout errors', severity: 'SEV1' });
    const namedBefore = db.statementNames?.size ?? 0;
    const logsBefore = logCapture.length;

    const page1: PageRequest = { after: null, limit: 1, filters: {} };
    for (const keys of subsets(Object.keys(FILTERS) as (keyof IncidentFilter)[])) {
      const filter = Object.fromEntries(keys.map((k) => [k, FILTERS[k]])) as IncidentFilter;
      await withTenantTx(db, { tenantId, userId: null }, async (tx) => {
        const rows = await listIncidentRows(tx, tenantId, filter, page1);
        const last = rows[rows.length - 1];
        // And the same list after a cursor.
        if (last) await listIncidentRows(tx, tenantId, filter, { ...page1, after: cursorOfRow(last) });
      });
    }
    const changes = subsets(Object.keys(PATCH) as (keyof IncidentPatch)[]).filter((s) => s.length > 0);
    expect(changes).toHaveLength(2 ** Object.keys(PATCH).length - 1);
    for (const keys of changes) {
      const patch = Object.fromEntries(keys.map((k) => [k, PATCH[k]])) as IncidentPatch;
      const row = await withTenantTx(db, { tenantId, userId: null }, (tx) => updateIncident(tx, tenantId, incident.id, patch, now));
      for (const k of keys) expect(row[k]).toEqual(PATCH[k]);
    }

    // The connection holds the list and update texts as named statements, once each.
    const prepared = await withTenantTx(db, { tenantId, userId: null }, (tx) =>
      tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements'),
    );
    const texts = prepared.rows.map((r) => r.statement);
    expect(texts).toContain(LIST_INCIDENTS_SQL);
    expect(texts.filter((s) => s.startsWith('UPDATE incidents'))).toEqual([UPDATE_INCIDENT_SQL]);
    expect(texts.filter((s) => s.includes('FROM incidents') && s.includes('ORDER BY'))).toHaveLength(2);
    // 64 list runs and 2,047 updates added three texts to this pool's names, not hundreds.
    expect((db.statementNames?.size ?? 0) - namedBefore).toBeLessThanOrEqual(3);
    expect(logCapture.slice(logsBefore).join('')).not.toContain('prepared statement names exhausted');

    // A statement text never seen before is still named after all of that.
    const fresh = `SELECT $1::int + ${String(Date.now() % 1000)} AS n`;
    await withTenantTx(db, { tenantId, userId: null }, (tx) => tx.query(fresh, [1]));
    const again = await withTenantTx(db, { tenantId, userId: null }, (tx) => tx.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements'));
    expect(again.rows.map((r) => r.statement)).toContain(fresh);
  });
});
