"""audit chain on PostgreSQL: rows are linked in batches, not under a lock per write

Until now the BEFORE INSERT trigger of `audit_event` (0009) numbered and hashed
each row by updating `audit_chain_head`, whose row lock every audited write then
held until it committed: under load all audited writes of the service queued on one
row (measured: 730 audit inserts/s from one client, 350/s from sixteen, the ceiling
of every booking, entry and refusal). Now:

- the trigger gives each new row a pending number instead, `-nextval(
  'audit_event_pending_seq')`, and empty `prev_hash` / `hash` (whatever the
  inserting statement says: nobody writes their own link), and takes no lock;
- `audit_link(n)` (SECURITY DEFINER, executable by `huimin_app`) links up to `n`
  pending rows in the order they were numbered: each gets the next `seq`, the
  previous row's hash and its own (the canonical text of `core.auditchain`), and
  the head moves once per batch. One linker at a time (the head row FOR UPDATE SKIP
  LOCKED: a second one returns 0 at once). Each server process calls it every
  half second, and before the audit trail is listed or verified
  (`services.audit.link`);
- the append-only trigger lets exactly that update through: a pending row's
  `seq`, `prev_hash` and `hash`, every other column unchanged, from inside
  `audit_link` (the service role has no UPDATE privilege on the table at all).

A row is tamper-evident once linked; `huimin audit verify` links first and names
the rows still pending. SQLite is unchanged: its single writer links each row as
it is written.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 02:05:00+00:00
"""
import importlib
from collections.abc import Sequence

from alembic import op

from core import auditchain

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "huimin_app"
_OTHER_COLUMNS = ("id", "at", "actor_kind", "actor_id", "actor_role", "org_id", "action",
                  "object_type", "object_id", "outcome", "request_id")
_LINK_CANONICAL = auditchain.PG_CANONICAL.replace("NEW.", "r.")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE audit_event_pending_seq")
    op.execute("""
CREATE OR REPLACE FUNCTION audit_event_chain() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.seq := -nextval('audit_event_pending_seq');
  NEW.prev_hash := '';
  NEW.hash := '';
  RETURN NEW;
END $$""")
    same = " AND ".join(f"OLD.{c} IS NOT DISTINCT FROM NEW.{c}" for c in _OTHER_COLUMNS)
    op.execute(f"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'
     AND OLD.seq < 0 AND NEW.seq > 0 AND {same} THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only';
END $$""")  # noqa: S608 - constant text
    op.execute(f"""
CREATE FUNCTION audit_link(p_limit integer) RETURNS integer LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  h_seq bigint;
  h_hash varchar;
  r audit_event%ROWTYPE;
  n integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN
    -- No head (a table emptied by its owner): the last linked row's, as in 0009.
    INSERT INTO audit_chain_head (id, seq, hash)
      SELECT 1, coalesce(max(seq), 0), coalesce(
        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),
        '{auditchain.GENESIS}')
      FROM audit_event WHERE seq > 0
      ON CONFLICT (id) DO NOTHING;
  END IF;
  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1
    FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN 0;  -- another linker holds it
  END IF;
  PERFORM set_config('huimin.audit_link', 'on', true);
  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP
    r.seq := h_seq + 1;
    r.prev_hash := h_hash;
    r.hash := encode(sha256(convert_to({_LINK_CANONICAL}, 'UTF8')), 'hex');
    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash
      WHERE id = r.id;
    h_seq := r.seq;
    h_hash := r.hash;
    n := n + 1;
  END LOOP;
  PERFORM set_config('huimin.audit_link', 'off', true);
  IF n > 0 THEN
    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;
  END IF;
  RETURN n;
END $$""")  # noqa: S608 - constant text
    op.execute("REVOKE ALL ON FUNCTION audit_link(integer) FROM PUBLIC")
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT EXECUTE ON FUNCTION audit_link(integer) TO {APP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Every pending row linked first: 0009's trigger numbers from the head on.
    op.execute("DO $$ BEGIN WHILE audit_link(10000) > 0 LOOP END LOOP; END $$")
    op.execute("DROP TRIGGER IF EXISTS audit_event_chain ON audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_chain()")
    importlib.import_module("migrations.versions.20261201_0009_audit_chain")._pg_chain_trigger()  # noqa: SLF001
    op.execute("CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger "
               "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_event is append-only'; "
               "END $$")
    op.execute("DROP FUNCTION IF EXISTS audit_link(integer)")
    op.execute("DROP SEQUENCE IF EXISTS audit_event_pending_seq")
