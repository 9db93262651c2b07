-- The event record's numbering moves onto the audit chain head row: `event_seq` is the tenant's
-- last event seq. A writer already holds that row's lock (FOR UPDATE, to commit) when it numbers
-- an event, so it takes event_seq + 1 and writes it back with the head, in the statement that
-- inserts the event: the same serialisation point as before (numbers in commit order, no gaps,
-- nothing ever below a seq a reader has seen), without the max(seq) probe of the events table.
-- A head created later (a tenant's first audited or evented change) starts from the tenant's
-- events (audit.ts, lockHead), so a tenant whose events were written by SQL continues after them.
ALTER TABLE audit_chain_heads ADD COLUMN event_seq bigint NOT NULL DEFAULT 0 CHECK (event_seq >= 0);

UPDATE audit_chain_heads h
   SET event_seq = e.seq
  FROM (SELECT tenant_id, max(seq) AS seq FROM events GROUP BY tenant_id) e
 WHERE h.tenant_id = e.tenant_id;
