"""The client's address on every audit row (behind a reverse proxy, the client's,
not the proxy's: `HUIMIN_TRUSTED_PROXIES`).

1. `audit_event.client_addr` (varchar 64, NULL: the system's own writes, and every
   row written before this revision);
2. `record_writes` (services/records.sql) writes it from the audit rows' JSON;
3. `audit_event_append_only` (services/audit.sql) keeps it unchanged when a row
   is linked;
4. `audit_link` hashes it into the chain when a row has one (`core.auditchain`
   `OPTIONAL`): rows without it hash exactly as before, so the rows already chained
   still verify, and an address cannot be changed, added or removed unseen.

Written by `alembic revision --autogenerate`, then reviewed: the column added
before the functions that name it, its type spelled as the baseline spells
strings. The downgrade refuses while any row records an address (their hashes
cover it: without the column they would fail `huimin audit verify`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:31:57.271631+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic_utils.pg_function import PGFunction
from sqlalchemy import text as sql_text

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('audit_event', sa.Column('client_addr', sa.String(length=64), nullable=True))
    public_audit_event_append_only = PGFunction(
        schema="public",
        signature="audit_event_append_only()",
        definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'\n     AND OLD.seq < 0 AND NEW.seq > 0\n     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at\n     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind\n     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id\n     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role\n     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id\n     AND OLD.action IS NOT DISTINCT FROM NEW.action\n     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type\n     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id\n     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome\n     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id\n     AND OLD.client_addr IS NOT DISTINCT FROM NEW.client_addr THEN\n    RETURN NEW;\n  END IF;\n  RAISE EXCEPTION 'audit_event is append-only';\nEND $$"
    )
    op.replace_entity(public_audit_event_append_only)

    public_audit_link = PGFunction(
        schema="public",
        signature="audit_link(p_limit integer)",
        definition='returns integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$\nDECLARE\n  h_seq bigint;\n  h_hash varchar;\n  r audit_event%ROWTYPE;\n  n integer := 0;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN\n    -- No head (a table emptied by its owner)\\: the last linked row\'s.\n    INSERT INTO audit_chain_head (id, seq, hash)\n      SELECT 1, coalesce(max(seq), 0), coalesce(\n        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),\n        \'0000000000000000000000000000000000000000000000000000000000000000\')\n      FROM audit_event WHERE seq > 0\n      ON CONFLICT (id) DO NOTHING;\n  END IF;\n  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1\n    FOR UPDATE SKIP LOCKED;\n  IF NOT FOUND THEN\n    RETURN 0;  -- another linker holds it\n  END IF;\n  PERFORM set_config(\'huimin.audit_link\', \'on\', true);\n  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP\n    r.seq := h_seq + 1;\n    r.prev_hash := h_hash;\n    r.hash := encode(sha256(convert_to(\'huimin-audit-v1\' || E\'\\n\' || CASE WHEN (r.seq::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.seq::text), \'UTF8\'))::text || \'\\:\' || (r.seq::text) END || E\'\\n\' || CASE WHEN (r.prev_hash::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.prev_hash::text), \'UTF8\'))::text || \'\\:\' || (r.prev_hash::text) END || E\'\\n\' || CASE WHEN (r.id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.id::text), \'UTF8\'))::text || \'\\:\' || (r.id::text) END || E\'\\n\' || CASE WHEN (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) IS NULL THEN \'~\' ELSE octet_length(convert_to((to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')), \'UTF8\'))::text || \'\\:\' || (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) END || E\'\\n\' || CASE WHEN (r.actor_kind::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_kind::text), \'UTF8\'))::text || \'\\:\' || (r.actor_kind::text) END || E\'\\n\' || CASE WHEN (r.actor_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_id::text), \'UTF8\'))::text || \'\\:\' || (r.actor_id::text) END || E\'\\n\' || CASE WHEN (r.actor_role::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_role::text), \'UTF8\'))::text || \'\\:\' || (r.actor_role::text) END || E\'\\n\' || CASE WHEN (r.org_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.org_id::text), \'UTF8\'))::text || \'\\:\' || (r.org_id::text) END || E\'\\n\' || CASE WHEN (r.action::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.action::text), \'UTF8\'))::text || \'\\:\' || (r.action::text) END || E\'\\n\' || CASE WHEN (r.object_type::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_type::text), \'UTF8\'))::text || \'\\:\' || (r.object_type::text) END || E\'\\n\' || CASE WHEN (r.object_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_id::text), \'UTF8\'))::text || \'\\:\' || (r.object_id::text) END || E\'\\n\' || CASE WHEN (r.outcome::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.outcome::text), \'UTF8\'))::text || \'\\:\' || (r.outcome::text) END || E\'\\n\' || CASE WHEN (r.request_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.request_id::text), \'UTF8\'))::text || \'\\:\' || (r.request_id::text) END || CASE WHEN r.client_addr IS NULL THEN \'\' ELSE E\'\\n\' || CASE WHEN (r.client_addr::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.client_addr::text), \'UTF8\'))::text || \'\\:\' || (r.client_addr::text) END END, \'UTF8\')), \'hex\');\n    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash\n      WHERE id = r.id;\n    h_seq := r.seq;\n    h_hash := r.hash;\n    n := n + 1;\n  END LOOP;\n  PERFORM set_config(\'huimin.audit_link\', \'off\', true);\n  IF n > 0 THEN\n    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;\n  END IF;\n  RETURN n;\nEND $$'
    )
    op.replace_entity(public_audit_link)

    public_record_writes = PGFunction(
        schema="public",
        signature="record_writes(p_audits json, p_events json)",
        definition='returns void LANGUAGE plpgsql AS $$\nBEGIN\n  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,\n                           object_type, object_id, outcome, request_id, client_addr)\n  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,\n         a.object_type, a.object_id, a.outcome, a.request_id, a.client_addr\n  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;\n  IF p_events IS NOT NULL THEN\n    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,\n                              subject, data, created_at)\n    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,\n           e.subject, e.data, e.created_at\n    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;\n  END IF;\nEND $$'
    )
    op.replace_entity(public_record_writes)


def downgrade() -> None:
    addressed = op.get_bind().execute(sql_text(
        "SELECT count(*) FROM audit_event WHERE client_addr IS NOT NULL")).scalar_one()
    if addressed:
        raise RuntimeError(
            f"{addressed} audit rows record a client address, which their hash covers: "
            "dropping the column would leave them failing `huimin audit verify`. "
            "Not downgraded.")
    public_record_writes = PGFunction(
        schema="public",
        signature="record_writes(p_audits json, p_events json)",
        definition='returns void\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,\n                           object_type, object_id, outcome, request_id)\n  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,\n         a.object_type, a.object_id, a.outcome, a.request_id\n  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;\n  IF p_events IS NOT NULL THEN\n    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,\n                              subject, data, created_at)\n    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,\n           e.subject, e.data, e.created_at\n    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;\n  END IF;\nEND $function$'
    )
    op.replace_entity(public_record_writes)
    public_audit_link = PGFunction(
        schema="public",
        signature="audit_link(p_limit integer)",
        definition='returns integer\n LANGUAGE plpgsql\n SECURITY DEFINER\n SET search_path TO \'pg_catalog\', \'public\'\nAS $function$\nDECLARE\n  h_seq bigint;\n  h_hash varchar;\n  r audit_event%ROWTYPE;\n  n integer := 0;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN\n    -- No head (a table emptied by its owner)\\: the last linked row\'s.\n    INSERT INTO audit_chain_head (id, seq, hash)\n      SELECT 1, coalesce(max(seq), 0), coalesce(\n        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),\n        \'0000000000000000000000000000000000000000000000000000000000000000\')\n      FROM audit_event WHERE seq > 0\n      ON CONFLICT (id) DO NOTHING;\n  END IF;\n  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1\n    FOR UPDATE SKIP LOCKED;\n  IF NOT FOUND THEN\n    RETURN 0;  -- another linker holds it\n  END IF;\n  PERFORM set_config(\'huimin.audit_link\', \'on\', true);\n  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP\n    r.seq := h_seq + 1;\n    r.prev_hash := h_hash;\n    r.hash := encode(sha256(convert_to(\'huimin-audit-v1\' || E\'\\n\' || CASE WHEN (r.seq::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.seq::text), \'UTF8\'))::text || \'\\:\' || (r.seq::text) END || E\'\\n\' || CASE WHEN (r.prev_hash::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.prev_hash::text), \'UTF8\'))::text || \'\\:\' || (r.prev_hash::text) END || E\'\\n\' || CASE WHEN (r.id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.id::text), \'UTF8\'))::text || \'\\:\' || (r.id::text) END || E\'\\n\' || CASE WHEN (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) IS NULL THEN \'~\' ELSE octet_length(convert_to((to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')), \'UTF8\'))::text || \'\\:\' || (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) END || E\'\\n\' || CASE WHEN (r.actor_kind::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_kind::text), \'UTF8\'))::text || \'\\:\' || (r.actor_kind::text) END || E\'\\n\' || CASE WHEN (r.actor_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_id::text), \'UTF8\'))::text || \'\\:\' || (r.actor_id::text) END || E\'\\n\' || CASE WHEN (r.actor_role::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_role::text), \'UTF8\'))::text || \'\\:\' || (r.actor_role::text) END || E\'\\n\' || CASE WHEN (r.org_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.org_id::text), \'UTF8\'))::text || \'\\:\' || (r.org_id::text) END || E\'\\n\' || CASE WHEN (r.action::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.action::text), \'UTF8\'))::text || \'\\:\' || (r.action::text) END || E\'\\n\' || CASE WHEN (r.object_type::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_type::text), \'UTF8\'))::text || \'\\:\' || (r.object_type::text) END || E\'\\n\' || CASE WHEN (r.object_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_id::text), \'UTF8\'))::text || \'\\:\' || (r.object_id::text) END || E\'\\n\' || CASE WHEN (r.outcome::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.outcome::text), \'UTF8\'))::text || \'\\:\' || (r.outcome::text) END || E\'\\n\' || CASE WHEN (r.request_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.request_id::text), \'UTF8\'))::text || \'\\:\' || (r.request_id::text) END, \'UTF8\')), \'hex\');\n    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash\n      WHERE id = r.id;\n    h_seq := r.seq;\n    h_hash := r.hash;\n    n := n + 1;\n  END LOOP;\n  PERFORM set_config(\'huimin.audit_link\', \'off\', true);\n  IF n > 0 THEN\n    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;\n  END IF;\n  RETURN n;\nEND $function$'
    )
    op.replace_entity(public_audit_link)
    public_audit_event_append_only = PGFunction(
        schema="public",
        signature="audit_event_append_only()",
        definition="returns trigger\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'\n     AND OLD.seq < 0 AND NEW.seq > 0\n     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at\n     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind\n     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id\n     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role\n     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id\n     AND OLD.action IS NOT DISTINCT FROM NEW.action\n     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type\n     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id\n     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome\n     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id THEN\n    RETURN NEW;\n  END IF;\n  RAISE EXCEPTION 'audit_event is append-only';\nEND $function$"
    )
    op.replace_entity(public_audit_event_append_only)
    op.drop_column('audit_event', 'client_addr')
