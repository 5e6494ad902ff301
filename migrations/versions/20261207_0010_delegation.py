"""Delegation (代办) and guardianship (API.md "Delegation"): the `delegation` table,
the one rule of which delegations count, and what records and audit rows keep of
the delegation they were made through.

1. `delegation` with its partial unique index `uq_delegation_live_pair` (one
   pending or active delegation per principal and delegate) and the index the rule
   reads (`ix_delegation_delegate_active`);
2. `delegation_id` (NULL: made by no delegate) on `bed_application`,
   `home_care_booking`, `home_care_centre_booking`, `burial_claim` and
   `audit_event`;
3. `record_writes` (services/records.sql) writes `audit_event.delegation_id`;
   `audit_event_append_only` (services/audit.sql) keeps it unchanged when a row is
   linked; `audit_link` hashes it when a row has one (`core.auditchain` `OPTIONAL`),
   so rows without it hash exactly as before;
4. `delegated_principals` (services/delegations.sql), created after its table;
5. `home_care_book` (services/home_care/home_care_book.sql), its whole new text:
   a visit booked through a delegation checks it still holds.

Written by `alembic revision --autogenerate` (in two steps: a `LANGUAGE sql`
function is checked against its table when created), then reviewed: the tables and
columns before the functions that name them, types spelled as the baseline spells
them. The downgrade refuses while any audit row names a delegation (their hashes
cover it).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:30:00.000000+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic_utils.pg_function import PGFunction
from sqlalchemy import text as sql_text

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('delegation',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('principal_name', sa.String(length=100), nullable=False),
    sa.Column('principal_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('principal_id_blind', sa.String(length=64), nullable=False),
    sa.Column('principal_id_masked', sa.String(length=18), nullable=False),
    sa.Column('delegate_name', sa.String(length=100), nullable=False),
    sa.Column('delegate_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('delegate_id_blind', sa.String(length=64), nullable=False),
    sa.Column('delegate_id_masked', sa.String(length=18), nullable=False),
    sa.Column('scopes', sa.ARRAY(sa.String(length=16)), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('registered_by_org_id', sa.String(length=40), nullable=True),
    sa.Column('registered_by_name', sa.String(length=100), nullable=True),
    sa.Column('evidence_kind', sa.String(length=32), nullable=True),
    sa.Column('evidence_number', sa.String(length=64), nullable=True),
    sa.Column('principal_division_code', sa.String(length=6), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('declined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=140), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'active', 'declined', 'revoked', 'expired')", name=op.f('ck_delegation_status_known')),
    sa.CheckConstraint('cardinality(scopes) >= 1', name=op.f('ck_delegation_scopes_not_empty')),
    sa.CheckConstraint('principal_id_blind <> delegate_id_blind', name=op.f('ck_delegation_not_self')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delegation'))
    )
    op.create_index('ix_delegation_delegate_active', 'delegation', ['delegate_id_blind', 'expires_on'], unique=False, postgresql_where=sa.text("status = 'active'"))
    op.create_index('ix_delegation_principal', 'delegation', ['principal_id_blind', 'id'], unique=False)
    op.create_index('ix_delegation_registered_by', 'delegation', ['registered_by_org_id', 'id'], unique=False)
    op.create_index('uq_delegation_live_pair', 'delegation', ['principal_id_blind', 'delegate_id_blind'], unique=True, postgresql_where=sa.text("status IN ('pending', 'active')"))
    op.add_column('audit_event', sa.Column('delegation_id', sa.String(length=40), nullable=True))
    op.add_column('bed_application', sa.Column('delegation_id', sa.String(length=40), nullable=True))
    op.add_column('burial_claim', sa.Column('delegation_id', sa.String(length=40), nullable=True))
    op.add_column('home_care_booking', sa.Column('delegation_id', sa.String(length=40), nullable=True))
    op.add_column('home_care_centre_booking', sa.Column('delegation_id', sa.String(length=40), nullable=True))
    public_audit_event_append_only = PGFunction(
        schema="public",
        signature="audit_event_append_only()",
        definition="returns trigger LANGUAGE plpgsql AS $$\nBEGIN\n  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'\n     AND OLD.seq < 0 AND NEW.seq > 0\n     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at\n     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind\n     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id\n     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role\n     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id\n     AND OLD.action IS NOT DISTINCT FROM NEW.action\n     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type\n     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id\n     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome\n     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id\n     AND OLD.client_addr IS NOT DISTINCT FROM NEW.client_addr\n     AND OLD.delegation_id IS NOT DISTINCT FROM NEW.delegation_id THEN\n    RETURN NEW;\n  END IF;\n  RAISE EXCEPTION 'audit_event is append-only';\nEND $$"
    )
    op.replace_entity(public_audit_event_append_only)

    public_audit_link = PGFunction(
        schema="public",
        signature="audit_link(p_limit integer)",
        definition='returns integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$\nDECLARE\n  h_seq bigint;\n  h_hash varchar;\n  r audit_event%ROWTYPE;\n  n integer := 0;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN\n    -- No head (a table emptied by its owner)\\: the last linked row\'s.\n    INSERT INTO audit_chain_head (id, seq, hash)\n      SELECT 1, coalesce(max(seq), 0), coalesce(\n        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),\n        \'0000000000000000000000000000000000000000000000000000000000000000\')\n      FROM audit_event WHERE seq > 0\n      ON CONFLICT (id) DO NOTHING;\n  END IF;\n  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1\n    FOR UPDATE SKIP LOCKED;\n  IF NOT FOUND THEN\n    RETURN 0;  -- another linker holds it\n  END IF;\n  PERFORM set_config(\'huimin.audit_link\', \'on\', true);\n  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP\n    r.seq := h_seq + 1;\n    r.prev_hash := h_hash;\n    r.hash := encode(sha256(convert_to(\'huimin-audit-v1\' || E\'\\n\' || CASE WHEN (r.seq::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.seq::text), \'UTF8\'))::text || \'\\:\' || (r.seq::text) END || E\'\\n\' || CASE WHEN (r.prev_hash::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.prev_hash::text), \'UTF8\'))::text || \'\\:\' || (r.prev_hash::text) END || E\'\\n\' || CASE WHEN (r.id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.id::text), \'UTF8\'))::text || \'\\:\' || (r.id::text) END || E\'\\n\' || CASE WHEN (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) IS NULL THEN \'~\' ELSE octet_length(convert_to((to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')), \'UTF8\'))::text || \'\\:\' || (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) END || E\'\\n\' || CASE WHEN (r.actor_kind::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_kind::text), \'UTF8\'))::text || \'\\:\' || (r.actor_kind::text) END || E\'\\n\' || CASE WHEN (r.actor_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_id::text), \'UTF8\'))::text || \'\\:\' || (r.actor_id::text) END || E\'\\n\' || CASE WHEN (r.actor_role::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_role::text), \'UTF8\'))::text || \'\\:\' || (r.actor_role::text) END || E\'\\n\' || CASE WHEN (r.org_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.org_id::text), \'UTF8\'))::text || \'\\:\' || (r.org_id::text) END || E\'\\n\' || CASE WHEN (r.action::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.action::text), \'UTF8\'))::text || \'\\:\' || (r.action::text) END || E\'\\n\' || CASE WHEN (r.object_type::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_type::text), \'UTF8\'))::text || \'\\:\' || (r.object_type::text) END || E\'\\n\' || CASE WHEN (r.object_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_id::text), \'UTF8\'))::text || \'\\:\' || (r.object_id::text) END || E\'\\n\' || CASE WHEN (r.outcome::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.outcome::text), \'UTF8\'))::text || \'\\:\' || (r.outcome::text) END || E\'\\n\' || CASE WHEN (r.request_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.request_id::text), \'UTF8\'))::text || \'\\:\' || (r.request_id::text) END || CASE WHEN r.client_addr IS NULL THEN \'\' ELSE E\'\\n\' || CASE WHEN (r.client_addr::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.client_addr::text), \'UTF8\'))::text || \'\\:\' || (r.client_addr::text) END END || CASE WHEN r.delegation_id IS NULL THEN \'\' ELSE E\'\\n\' || CASE WHEN (r.delegation_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.delegation_id::text), \'UTF8\'))::text || \'\\:\' || (r.delegation_id::text) END END, \'UTF8\')), \'hex\');\n    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash\n      WHERE id = r.id;\n    h_seq := r.seq;\n    h_hash := r.hash;\n    n := n + 1;\n  END LOOP;\n  PERFORM set_config(\'huimin.audit_link\', \'off\', true);\n  IF n > 0 THEN\n    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;\n  END IF;\n  RETURN n;\nEND $$'
    )
    op.replace_entity(public_audit_link)

    public_record_writes = PGFunction(
        schema="public",
        signature="record_writes(p_audits json, p_events json)",
        definition='returns void LANGUAGE plpgsql AS $$\nBEGIN\n  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,\n                           object_type, object_id, outcome, request_id, client_addr,\n                           delegation_id)\n  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,\n         a.object_type, a.object_id, a.outcome, a.request_id, a.client_addr,\n         a.delegation_id\n  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;\n  IF p_events IS NOT NULL THEN\n    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,\n                              subject, data, created_at)\n    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,\n           e.subject, e.data, e.created_at\n    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;\n  END IF;\nEND $$'
    )
    op.replace_entity(public_record_writes)

    public_delegated_principals = PGFunction(
        schema="public",
        signature="delegated_principals( p_delegate varchar, p_scope varchar, p_today date)",
        definition="returns TABLE (principal_blind varchar, delegation_id varchar)\nLANGUAGE sql STABLE AS $$\n  SELECT d.principal_id_blind, d.id FROM delegation AS d\n  WHERE d.delegate_id_blind = p_delegate AND d.status = 'active'\n    AND d.expires_on >= p_today AND p_scope = ANY (d.scopes)\n$$"
    )
    op.create_entity(public_delegated_principals)

    public_home_care_book = PGFunction(
        schema="public",
        signature="home_care_book( p_owner varchar, p_identity_required boolean, p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text, p_idem_expires timestamptz, p_provider varchar, p_service varchar, p_price integer, p_duration integer, p_caregiver_version integer, p_caregiver_lock_seq integer, p_booking json, p_audits json, p_events json)",
        definition="returns void LANGUAGE plpgsql\n-- Generic plans and index look-ups only, as marriage_book (its comment says why).\nSET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$\nDECLARE\n  v_caregiver varchar := p_booking ->> 'caregiver_id';\n  v_start timestamptz := (p_booking ->> 'starts_at')::timestamptz;\n  v_end timestamptz := (p_booking ->> 'ends_at')::timestamptz;\n  v_blocked_until timestamptz := (p_booking ->> 'blocked_until')::timestamptz;\n  v_delegation varchar := p_booking ->> 'delegation_id';\nBEGIN\n  PERFORM citizen_acts_for(p_owner, NULL, p_identity_required);\n  IF v_delegation IS NOT NULL AND NOT EXISTS (\n      SELECT 1 FROM citizen_identity AS i\n      CROSS JOIN LATERAL delegated_principals(\n        i.id_blind_index, 'home_care',\n        ((p_booking ->> 'created_at')::timestamptz AT TIME ZONE 'Asia/Shanghai')::date) AS d\n      WHERE i.subject = p_owner AND d.delegation_id = v_delegation\n        AND d.principal_blind = p_booking ->> 'elder_id_blind') THEN\n    RAISE EXCEPTION 'the delegation changed' USING ERRCODE = '40001';\n  END IF;\n  PERFORM idempotency_store(p_scope, p_key, p_request_hash, p_status, p_body,\n                            (p_booking ->> 'created_at')::timestamptz, p_idem_expires);\n\n  IF NOT EXISTS (SELECT 1 FROM home_care_offering AS o\n                 WHERE o.provider_id = p_provider AND o.service_code = p_service\n                   AND o.price_fen = p_price AND o.duration_minutes = p_duration) THEN\n    RAISE EXCEPTION 'the offering changed' USING ERRCODE = '40001';\n  END IF;\n  PERFORM 1 FROM home_care_caregiver AS c\n  WHERE c.id = v_caregiver AND c.active AND c.version = p_caregiver_version\n    AND c.lock_seq = p_caregiver_lock_seq\n  FOR NO KEY UPDATE;\n  IF NOT FOUND OR NOT home_care_clear(\n      v_start, v_end, v_blocked_until,\n      (SELECT coalesce(range_agg(tstzrange(b.starts_at, b.blocked_until)), '{}')\n       FROM home_care_booking AS b\n       WHERE b.caregiver_id = v_caregiver\n         AND b.status IN ('booked', 'in_service', 'completed')\n         AND b.starts_at < v_blocked_until AND b.blocked_until > v_start),\n      '{}') THEN\n    RAISE EXCEPTION 'the caregiver is no longer free' USING ERRCODE = '40001';\n  END IF;\n\n  INSERT INTO home_care_booking\n  SELECT * FROM json_populate_record(NULL::home_care_booking, p_booking);\n  PERFORM record_writes(p_audits, p_events);\nEND $$"
    )
    op.replace_entity(public_home_care_book)



def downgrade() -> None:
    delegated = op.get_bind().execute(sql_text(
        "SELECT count(*) FROM audit_event WHERE delegation_id IS NOT NULL")).scalar_one()
    if delegated:
        raise RuntimeError(
            f"{delegated} audit rows name a delegation, which their hash covers: "
            "dropping the column would leave them failing `huimin audit verify`. "
            "Not downgraded.")
    public_home_care_book = PGFunction(
        schema="public",
        signature="home_care_book(p_owner character varying, p_identity_required boolean, p_scope character varying, p_key character varying, p_request_hash character varying, p_status integer, p_body text, p_idem_expires timestamp with time zone, p_provider character varying, p_service character varying, p_price integer, p_duration integer, p_caregiver_version integer, p_caregiver_lock_seq integer, p_booking json, p_audits json, p_events json)",
        definition="returns void\n LANGUAGE plpgsql\n SET plan_cache_mode TO 'force_generic_plan'\n SET enable_seqscan TO 'off'\nAS $function$\nDECLARE\n  v_caregiver varchar := p_booking ->> 'caregiver_id';\n  v_start timestamptz := (p_booking ->> 'starts_at')::timestamptz;\n  v_end timestamptz := (p_booking ->> 'ends_at')::timestamptz;\n  v_blocked_until timestamptz := (p_booking ->> 'blocked_until')::timestamptz;\nBEGIN\n  PERFORM citizen_acts_for(p_owner, NULL, p_identity_required);\n  PERFORM idempotency_store(p_scope, p_key, p_request_hash, p_status, p_body,\n                            (p_booking ->> 'created_at')::timestamptz, p_idem_expires);\n\n  IF NOT EXISTS (SELECT 1 FROM home_care_offering AS o\n                 WHERE o.provider_id = p_provider AND o.service_code = p_service\n                   AND o.price_fen = p_price AND o.duration_minutes = p_duration) THEN\n    RAISE EXCEPTION 'the offering changed' USING ERRCODE = '40001';\n  END IF;\n  PERFORM 1 FROM home_care_caregiver AS c\n  WHERE c.id = v_caregiver AND c.active AND c.version = p_caregiver_version\n    AND c.lock_seq = p_caregiver_lock_seq\n  FOR NO KEY UPDATE;\n  IF NOT FOUND OR NOT home_care_clear(\n      v_start, v_end, v_blocked_until,\n      (SELECT coalesce(range_agg(tstzrange(b.starts_at, b.blocked_until)), '{}')\n       FROM home_care_booking AS b\n       WHERE b.caregiver_id = v_caregiver\n         AND b.status IN ('booked', 'in_service', 'completed')\n         AND b.starts_at < v_blocked_until AND b.blocked_until > v_start),\n      '{}') THEN\n    RAISE EXCEPTION 'the caregiver is no longer free' USING ERRCODE = '40001';\n  END IF;\n\n  INSERT INTO home_care_booking\n  SELECT * FROM json_populate_record(NULL::home_care_booking, p_booking);\n  PERFORM record_writes(p_audits, p_events);\nEND $function$"
    )
    op.replace_entity(public_home_care_book)
    public_delegated_principals = PGFunction(
        schema="public",
        signature="delegated_principals( p_delegate varchar, p_scope varchar, p_today date)",
        definition="returns TABLE (principal_blind varchar, delegation_id varchar)\nLANGUAGE sql STABLE AS $$\n  SELECT d.principal_id_blind, d.id FROM delegation AS d\n  WHERE d.delegate_id_blind = p_delegate AND d.status = 'active'\n    AND d.expires_on >= p_today AND p_scope = ANY (d.scopes)\n$$"
    )
    op.drop_entity(public_delegated_principals)

    public_record_writes = PGFunction(
        schema="public",
        signature="record_writes(p_audits json, p_events json)",
        definition='returns void\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,\n                           object_type, object_id, outcome, request_id, client_addr)\n  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,\n         a.object_type, a.object_id, a.outcome, a.request_id, a.client_addr\n  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;\n  IF p_events IS NOT NULL THEN\n    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,\n                              subject, data, created_at)\n    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,\n           e.subject, e.data, e.created_at\n    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;\n  END IF;\nEND $function$'
    )
    op.replace_entity(public_record_writes)
    public_audit_link = PGFunction(
        schema="public",
        signature="audit_link(p_limit integer)",
        definition='returns integer\n LANGUAGE plpgsql\n SECURITY DEFINER\n SET search_path TO \'pg_catalog\', \'public\'\nAS $function$\nDECLARE\n  h_seq bigint;\n  h_hash varchar;\n  r audit_event%ROWTYPE;\n  n integer := 0;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN\n    -- No head (a table emptied by its owner)\\: the last linked row\'s.\n    INSERT INTO audit_chain_head (id, seq, hash)\n      SELECT 1, coalesce(max(seq), 0), coalesce(\n        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),\n        \'0000000000000000000000000000000000000000000000000000000000000000\')\n      FROM audit_event WHERE seq > 0\n      ON CONFLICT (id) DO NOTHING;\n  END IF;\n  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1\n    FOR UPDATE SKIP LOCKED;\n  IF NOT FOUND THEN\n    RETURN 0;  -- another linker holds it\n  END IF;\n  PERFORM set_config(\'huimin.audit_link\', \'on\', true);\n  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP\n    r.seq := h_seq + 1;\n    r.prev_hash := h_hash;\n    r.hash := encode(sha256(convert_to(\'huimin-audit-v1\' || E\'\\n\' || CASE WHEN (r.seq::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.seq::text), \'UTF8\'))::text || \'\\:\' || (r.seq::text) END || E\'\\n\' || CASE WHEN (r.prev_hash::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.prev_hash::text), \'UTF8\'))::text || \'\\:\' || (r.prev_hash::text) END || E\'\\n\' || CASE WHEN (r.id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.id::text), \'UTF8\'))::text || \'\\:\' || (r.id::text) END || E\'\\n\' || CASE WHEN (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) IS NULL THEN \'~\' ELSE octet_length(convert_to((to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')), \'UTF8\'))::text || \'\\:\' || (to_char(r.at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24\\:MI\\:SS.US"Z"\')) END || E\'\\n\' || CASE WHEN (r.actor_kind::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_kind::text), \'UTF8\'))::text || \'\\:\' || (r.actor_kind::text) END || E\'\\n\' || CASE WHEN (r.actor_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_id::text), \'UTF8\'))::text || \'\\:\' || (r.actor_id::text) END || E\'\\n\' || CASE WHEN (r.actor_role::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.actor_role::text), \'UTF8\'))::text || \'\\:\' || (r.actor_role::text) END || E\'\\n\' || CASE WHEN (r.org_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.org_id::text), \'UTF8\'))::text || \'\\:\' || (r.org_id::text) END || E\'\\n\' || CASE WHEN (r.action::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.action::text), \'UTF8\'))::text || \'\\:\' || (r.action::text) END || E\'\\n\' || CASE WHEN (r.object_type::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_type::text), \'UTF8\'))::text || \'\\:\' || (r.object_type::text) END || E\'\\n\' || CASE WHEN (r.object_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.object_id::text), \'UTF8\'))::text || \'\\:\' || (r.object_id::text) END || E\'\\n\' || CASE WHEN (r.outcome::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.outcome::text), \'UTF8\'))::text || \'\\:\' || (r.outcome::text) END || E\'\\n\' || CASE WHEN (r.request_id::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.request_id::text), \'UTF8\'))::text || \'\\:\' || (r.request_id::text) END || CASE WHEN r.client_addr IS NULL THEN \'\' ELSE E\'\\n\' || CASE WHEN (r.client_addr::text) IS NULL THEN \'~\' ELSE octet_length(convert_to((r.client_addr::text), \'UTF8\'))::text || \'\\:\' || (r.client_addr::text) END END, \'UTF8\')), \'hex\');\n    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash\n      WHERE id = r.id;\n    h_seq := r.seq;\n    h_hash := r.hash;\n    n := n + 1;\n  END LOOP;\n  PERFORM set_config(\'huimin.audit_link\', \'off\', true);\n  IF n > 0 THEN\n    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;\n  END IF;\n  RETURN n;\nEND $function$'
    )
    op.replace_entity(public_audit_link)
    public_audit_event_append_only = PGFunction(
        schema="public",
        signature="audit_event_append_only()",
        definition="returns trigger\n LANGUAGE plpgsql\nAS $function$\nBEGIN\n  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'\n     AND OLD.seq < 0 AND NEW.seq > 0\n     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at\n     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind\n     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id\n     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role\n     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id\n     AND OLD.action IS NOT DISTINCT FROM NEW.action\n     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type\n     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id\n     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome\n     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id\n     AND OLD.client_addr IS NOT DISTINCT FROM NEW.client_addr THEN\n    RETURN NEW;\n  END IF;\n  RAISE EXCEPTION 'audit_event is append-only';\nEND $function$"
    )
    op.replace_entity(public_audit_event_append_only)
    op.drop_column('home_care_centre_booking', 'delegation_id')
    op.drop_column('home_care_booking', 'delegation_id')
    op.drop_column('burial_claim', 'delegation_id')
    op.drop_column('bed_application', 'delegation_id')
    op.drop_column('audit_event', 'delegation_id')
    op.drop_index('uq_delegation_live_pair', table_name='delegation', postgresql_where=sa.text("status IN ('pending', 'active')"))
    op.drop_index('ix_delegation_registered_by', table_name='delegation')
    op.drop_index('ix_delegation_principal', table_name='delegation')
    op.drop_index('ix_delegation_delegate_active', table_name='delegation', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('delegation')
