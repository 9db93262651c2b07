-- Durable mail: reset, invite and password-changed mail is a row written in the transaction of the
-- change it reports, and a worker delivers it after the commit (src/platform/mail/outbox.ts).
-- Not tenant-scoped (account mail has no tenant), so no tenant_id and no tenant policy: the
-- RLS-bound app role may only INSERT (no SELECT, UPDATE or DELETE grant), so a request can queue a
-- mail but never read anyone's; the worker claims and updates rows as the connecting role, which
-- owns the table (no policy to pass, since the table has no row-level security to force).
CREATE TABLE mail_outbox (
  id uuid PRIMARY KEY,
  -- Which deliverers claim the row: '' in a deployment. Apps that share one database but not one
  -- SMTP server (the integration suite's) each use their own.
  scope text NOT NULL DEFAULT '',
  -- What the mail is for (password_reset, invite, password_changed): logs and metrics name this,
  -- never the recipient or the body.
  purpose text NOT NULL CHECK (purpose ~ '^[a-z_]{1,40}$'),
  recipient text NOT NULL,
  subject text NOT NULL,
  -- The text, with its link and token: set to NULL once the mail is sent or given up on.
  body text,
  created_at timestamptz NOT NULL,
  -- When a worker may next claim the row: the retry time after a failure, and while a worker
  -- holds it, the end of its lease (so a crashed worker's row is claimed again then).
  run_at timestamptz NOT NULL,
  -- The claim that holds the row now; only its holder may record the outcome.
  lease_id uuid,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- A link that expires (a reset token) is not worth delivering later than this.
  deliver_before timestamptz,
  sent_at timestamptz,
  given_up_at timestamptz,
  -- The last failure's message (the SMTP server's answer), never the body.
  last_error text,
  CONSTRAINT mail_outbox_done_with_body CHECK (body IS NOT NULL OR sent_at IS NOT NULL OR given_up_at IS NOT NULL)
);
-- The claim's scan: only undelivered rows, in due order.
CREATE INDEX mail_outbox_due_idx ON mail_outbox (scope, run_at) WHERE sent_at IS NULL AND given_up_at IS NULL;

GRANT INSERT ON mail_outbox TO incident_app;
