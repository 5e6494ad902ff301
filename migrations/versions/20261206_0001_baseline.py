"""The PostgreSQL baseline: the whole schema of huimin as of 2026-12-06.

huimin had no deployment yet when PostgreSQL became its only engine, so the
eighteen migrations of before (0001-0018, written for two engines, three of them
patching an older migration's function text) were replaced by this one
(docs/running.md, "Migrations"). It creates, in order:

1. the extension `btree_gist` (the exclusion constraint that keeps a caregiver in
   one visit at a time);
2. every table, index and constraint of the models (`schemas`), as
   `alembic revision --autogenerate` wrote them;
3. `audit_event_pending_seq`, the numbers of audit rows not linked yet;
4. every SQL function and trigger declared beside the services
   (`services.functions.FILES`), in their whole text as of this revision: a later
   change to one of those files is a new migration carrying the new whole text
   (`alembic revision --autogenerate` writes it; `alembic check` fails until it
   exists);
5. the audit chain's head (row 1, the genesis hash);
6. the least-privilege role `huimin_app` the service may connect as
   (docs/running.md): it reads and writes every table but the audit trail, which it
   may only read and append to, and it may link pending audit rows.

Reviewed against the schema the old migrations built (`pg_dump --schema-only`
of both, compared): the same tables, columns, indexes, constraints, grants and
role; column order differs where old migrations added columns later; the
exclusion constraint is now declared on its model; the functions are the new ones
of this change.

Revision ID: 0001
Revises:
Create Date: 2026-12-06 20:12:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "huimin_app"
GENESIS = "0" * 64

# services/*.sql as of this revision, whole, one statement each (`{canonical:r}` of
# services/audit.sql expanded to core.auditchain's canonical text). Sent as they are
# (`exec_driver_sql`: no bind parameters are looked for in them).
FUNCTIONS = (
    r'''
CREATE OR REPLACE FUNCTION public.audit_event_chain()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.seq := -nextval('audit_event_pending_seq');
  NEW.prev_hash := '';
  NEW.hash := '';
  RETURN NEW;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.audit_event_append_only()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'
     AND OLD.seq < 0 AND NEW.seq > 0
     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at
     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind
     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id
     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role
     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id
     AND OLD.action IS NOT DISTINCT FROM NEW.action
     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type
     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id
     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome
     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only';
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.audit_link(p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  h_seq bigint;
  h_hash varchar;
  r audit_event%ROWTYPE;
  n integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN
    -- No head (a table emptied by its owner): the last linked row's.
    INSERT INTO audit_chain_head (id, seq, hash)
      SELECT 1, coalesce(max(seq), 0), coalesce(
        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000')
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
    r.hash := encode(sha256(convert_to('huimin-audit-v1' || E'\n' || CASE WHEN (r.seq::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.seq::text), 'UTF8'))::text || ':' || (r.seq::text) END || E'\n' || CASE WHEN (r.prev_hash::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.prev_hash::text), 'UTF8'))::text || ':' || (r.prev_hash::text) END || E'\n' || CASE WHEN (r.id::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.id::text), 'UTF8'))::text || ':' || (r.id::text) END || E'\n' || CASE WHEN (to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) IS NULL THEN '~' ELSE octet_length(convert_to((to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), 'UTF8'))::text || ':' || (to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) END || E'\n' || CASE WHEN (r.actor_kind::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.actor_kind::text), 'UTF8'))::text || ':' || (r.actor_kind::text) END || E'\n' || CASE WHEN (r.actor_id::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.actor_id::text), 'UTF8'))::text || ':' || (r.actor_id::text) END || E'\n' || CASE WHEN (r.actor_role::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.actor_role::text), 'UTF8'))::text || ':' || (r.actor_role::text) END || E'\n' || CASE WHEN (r.org_id::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.org_id::text), 'UTF8'))::text || ':' || (r.org_id::text) END || E'\n' || CASE WHEN (r.action::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.action::text), 'UTF8'))::text || ':' || (r.action::text) END || E'\n' || CASE WHEN (r.object_type::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.object_type::text), 'UTF8'))::text || ':' || (r.object_type::text) END || E'\n' || CASE WHEN (r.object_id::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.object_id::text), 'UTF8'))::text || ':' || (r.object_id::text) END || E'\n' || CASE WHEN (r.outcome::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.outcome::text), 'UTF8'))::text || ':' || (r.outcome::text) END || E'\n' || CASE WHEN (r.request_id::text) IS NULL THEN '~' ELSE octet_length(convert_to((r.request_id::text), 'UTF8'))::text || ':' || (r.request_id::text) END, 'UTF8')), 'hex');
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
END $$
''',
    r'''
CREATE TRIGGER audit_event_chain BEFORE INSERT ON public.audit_event
  FOR EACH ROW EXECUTE FUNCTION public.audit_event_chain()
''',
    r'''
CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON public.audit_event
  FOR EACH ROW EXECUTE FUNCTION public.audit_event_append_only()
''',
    r'''
CREATE OR REPLACE FUNCTION public.record_writes(p_audits json, p_events json)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,
                           object_type, object_id, outcome, request_id)
  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,
         a.object_type, a.object_id, a.outcome, a.request_id
  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;
  IF p_events IS NOT NULL THEN
    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,
                              subject, data, created_at)
    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,
           e.subject, e.data, e.created_at
    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.idempotency_store(
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text,
  p_now timestamptz, p_expires timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_key IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO idempotency_record (scope, key, request_hash, response_status, response_body,
                                  created_at, expires_at)
  VALUES (p_scope, p_key, p_request_hash, p_status, p_body, p_now, p_expires)
  ON CONFLICT (scope, key) DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'idempotency key in flight' USING ERRCODE = 'HMIF1';
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.citizen_refusal(
  p_subject varchar, p_blinds varchar[], p_required boolean)
RETURNS varchar LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_bound varchar;
BEGIN
  SELECT c.id_blind_index INTO v_bound FROM citizen_identity AS c WHERE c.subject = p_subject;
  IF v_bound IS NULL AND p_required THEN
    RETURN 'identity_not_verified';
  END IF;
  IF v_bound IS NOT NULL AND p_blinds IS NOT NULL AND NOT (v_bound = ANY (p_blinds)) THEN
    RETURN 'applicant_not_a_party';
  END IF;
  RETURN NULL;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.citizen_acts_for(
  p_subject varchar, p_blinds varchar[], p_required boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_refusal varchar := citizen_refusal(p_subject, p_blinds, p_required);
BEGIN
  IF v_refusal = 'identity_not_verified' THEN
    RAISE EXCEPTION 'the account has no verified identity' USING ERRCODE = 'HMIV1';
  ELSIF v_refusal = 'applicant_not_a_party' THEN
    RAISE EXCEPTION 'the account''s person is not a party' USING ERRCODE = 'HMAP1';
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.capacity_ensure(
  p_slot varchar, p_owner varchar, p_kind varchar, p_capacity integer, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM capacity_slot WHERE id = p_slot;
  IF NOT FOUND THEN
    INSERT INTO capacity_slot (id, owner_org_id, kind, capacity, booked, created_at)
    VALUES (p_slot, p_owner, p_kind, p_capacity, 0, p_now)
    ON CONFLICT (id) DO NOTHING;
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.capacity_take(p_slot varchar, p_units integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_left integer;
BEGIN
  UPDATE capacity_slot SET booked = booked + p_units
    WHERE id = p_slot AND booked + p_units <= capacity
    RETURNING capacity - booked INTO v_left;
  RETURN v_left;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.capacity_take_or_raise(p_slot varchar, p_units integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_left integer := capacity_take(p_slot, p_units);
BEGIN
  IF v_left IS NULL THEN
    RAISE EXCEPTION 'no capacity left' USING ERRCODE = 'HMSF1';
  END IF;
  RETURN v_left;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_suspended_until(
  p_blinds varchar[], p_now timestamptz, p_window_days integer, p_limit integer,
  p_suspension_days integer)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- From the people's own appointments (their parties, by the blind index), which
  -- are few, whatever the number of appointments and no-shows in the table.
  RETURN (
    WITH mine AS MATERIALIZED (
      SELECT p.id_blind_index AS person, p.appointment_id FROM marriage_party AS p
      WHERE p.id_blind_index = ANY (p_blinds)),
    shows AS MATERIALIZED (
      SELECT m.person, a.no_show_at AS at
      FROM mine AS m JOIN marriage_appointment AS a ON a.id = m.appointment_id
      WHERE a.status = 'no_show'
        AND a.no_show_at >= p_now - make_interval(days => p_window_days + p_suspension_days))
    SELECT max(t.at + make_interval(days => p_suspension_days))
    FROM shows AS t
    WHERE t.at + make_interval(days => p_suspension_days) > p_now
      AND (SELECT count(*) FROM shows AS u
           WHERE u.person = t.person AND u.at <= t.at
             AND u.at > t.at - make_interval(days => p_window_days)) >= p_limit);
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_not_suspended(
  p_blinds varchar[], p_now timestamptz, p_window_days integer, p_limit integer,
  p_suspension_days integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_until timestamptz := marriage_suspended_until(p_blinds, p_now, p_window_days, p_limit,
                                                  p_suspension_days);
BEGIN
  IF v_until IS NOT NULL THEN
    RAISE EXCEPTION 'a party is suspended after no-shows' USING ERRCODE = 'HMNS1',
      DETAIL = to_char(v_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_hold(
  p_appt varchar, p_blinds varchar[], p_ends timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_taken varchar[];
BEGIN
  WITH taken AS (
    INSERT INTO marriage_party_hold AS h (id_blind_index, appointment_id, expires_at, created_at)
    SELECT b.blind, p_appt, p_ends, p_now FROM unnest(p_blinds) AS b(blind) ORDER BY b.blind
    ON CONFLICT (id_blind_index) DO UPDATE SET appointment_id = excluded.appointment_id,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE h.expires_at <= p_now
    RETURNING h.id_blind_index
  ) SELECT coalesce(array_agg(id_blind_index), '{}') INTO v_taken FROM taken;
  IF cardinality(v_taken) <> cardinality(p_blinds) THEN
    RAISE EXCEPTION 'a party holds an active appointment' USING ERRCODE = 'HMPH1',
      DETAIL = array_to_string(ARRAY(SELECT unnest(p_blinds) EXCEPT SELECT unnest(v_taken)), ',');
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_not_held(p_blinds varchar[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_held varchar[];
BEGIN
  SELECT array_agg(h.id_blind_index) INTO v_held FROM marriage_party_hold AS h
    WHERE h.id_blind_index = ANY (p_blinds) AND h.expires_at > p_now;
  IF v_held IS NOT NULL THEN
    RAISE EXCEPTION 'a party holds an active appointment' USING ERRCODE = 'HMPH1',
      DETAIL = array_to_string(v_held, ',');
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_day_unchanged(
  p_office varchar, p_day date, p_version integer, p_closed boolean, p_special text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('marriage_schedule:' || p_office, 0));
  IF (SELECT s.version FROM marriage_schedule AS s WHERE s.office_id = p_office)
       IS DISTINCT FROM p_version
     OR EXISTS (SELECT 1 FROM marriage_closure AS c
                WHERE c.office_id = p_office AND c.closure_date = p_day) IS DISTINCT FROM p_closed
     OR (SELECT d.sessions::text FROM marriage_special_day AS d
         WHERE d.office_id = p_office AND d.special_date = p_day) IS DISTINCT FROM p_special THEN
    RAISE EXCEPTION 'the office''s day changed' USING ERRCODE = '40001';
  END IF;
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_book(
  p_owner varchar, p_identity_required boolean,
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text,
  p_idem_expires timestamptz,
  p_office varchar, p_day date, p_version integer, p_closed boolean, p_special text,
  p_lottery varchar, p_org_version integer,
  p_window_days integer, p_no_show_limit integer, p_suspension_days integer,
  p_slot varchar, p_slot_kind varchar, p_capacity integer,
  p_now timestamptz, p_appt varchar, p_starts timestamptz, p_ends timestamptz,
  p_kind varchar, p_code varchar, p_case varchar,
  p_blinds varchar[], p_party_ids varchar[], p_names varchar[], p_enc varchar[],
  p_masked varchar[], p_phone_enc varchar[], p_phone_masked varchar[],
  p_audits json, p_events json)
RETURNS void LANGUAGE plpgsql
-- Every statement it runs (its own and its helpers') is an index look-up, planned
-- once per connection: generic plans, because PostgreSQL otherwise planned some of
-- them again on every call (custom plans it judged cheaper), which cost more than
-- the statements (marriage_suspended_until: 0.3 ms a call, against well under 0.1
-- ms); and no sequential scans, because a plan made while a table was still small
-- (a new deployment, a benchmark's fresh database) scanned it whole for as long as
-- the connection lived (0.8 ms a call once the table had grown).
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
BEGIN
  PERFORM citizen_acts_for(p_owner, p_blinds, p_identity_required);
  PERFORM idempotency_store(p_scope, p_key, p_request_hash, p_status, p_body, p_now,
                            p_idem_expires);

  PERFORM marriage_day_unchanged(p_office, p_day, p_version, p_closed, p_special);
  IF (SELECT l.id FROM marriage_lottery AS l
      WHERE l.office_id = p_office AND l.lottery_date = p_day AND l.status = 'scheduled')
       IS DISTINCT FROM p_lottery
     OR (SELECT o.version FROM organisation AS o WHERE o.id = p_office)
       IS DISTINCT FROM p_org_version THEN
    RAISE EXCEPTION 'booking conditions changed' USING ERRCODE = '40001';
  END IF;

  PERFORM marriage_not_suspended(p_blinds, p_now, p_window_days, p_no_show_limit,
                                 p_suspension_days);

  -- The session's seat row, if this is its first booking (the appointment refers
  -- to it); not locked here.
  PERFORM capacity_ensure(p_slot, p_office, p_slot_kind, p_capacity, p_now);
  INSERT INTO marriage_appointment (id, office_id, slot_id, session_date, starts_at, ends_at,
    kind, status, owner_subject, check_in_code, divorce_case_id, created_at)
  VALUES (p_appt, p_office, p_slot, p_day, p_starts, p_ends, p_kind, 'booked', p_owner,
          p_code, p_case, p_now);
  PERFORM marriage_hold(p_appt, p_blinds, p_ends, p_now);
  INSERT INTO marriage_party (id, appointment_id, position, name, id_number_encrypted,
    id_blind_index, id_number_masked, phone_encrypted, phone_masked)
  SELECT p.id, p_appt, p.n - 1, p.name, p.enc, p.blind, p.masked, p.phone_enc, p.phone_masked
  FROM unnest(p_party_ids, p_names, p_enc, p_blinds, p_masked, p_phone_enc, p_phone_masked)
    WITH ORDINALITY AS p(id, name, enc, blind, masked, phone_enc, phone_masked, n);

  PERFORM capacity_take_or_raise(p_slot, 1);
  PERFORM record_writes(p_audits, p_events);
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.marriage_lottery_enter(
  p_owner varchar, p_identity_required boolean,
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text,
  p_idem_expires timestamptz,
  p_lottery varchar, p_office varchar, p_version integer, p_closed boolean, p_special text,
  p_window_days integer, p_no_show_limit integer, p_suspension_days integer,
  p_now timestamptz, p_entry varchar, p_kind varchar, p_prefs text,
  p_blinds varchar[], p_party_ids varchar[], p_names varchar[], p_enc varchar[],
  p_masked varchar[], p_phone_enc varchar[], p_phone_masked varchar[],
  p_audits json)
RETURNS void LANGUAGE plpgsql
-- Generic plans and index look-ups only, as marriage_book.sql says why.
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
  v_day date;
BEGIN
  PERFORM citizen_acts_for(p_owner, p_blinds, p_identity_required);
  PERFORM idempotency_store(p_scope, p_key, p_request_hash, p_status, p_body, p_now,
                            p_idem_expires);

  PERFORM pg_advisory_xact_lock_shared(hashtextextended('marriage_lottery:' || p_lottery, 0));
  SELECT l.lottery_date INTO v_day FROM marriage_lottery AS l
    WHERE l.id = p_lottery AND l.office_id = p_office AND l.status = 'scheduled'
      AND l.entries_open_at <= p_now AND p_now < l.entries_close_at;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the lottery changed' USING ERRCODE = '40001';
  END IF;
  PERFORM marriage_day_unchanged(p_office, v_day, p_version, p_closed, p_special);

  PERFORM marriage_not_suspended(p_blinds, p_now, p_window_days, p_no_show_limit,
                                 p_suspension_days);
  PERFORM marriage_not_held(p_blinds, p_now);

  INSERT INTO marriage_lottery_entry (id, lottery_id, owner_subject, kind,
    session_preferences, status, created_at)
  VALUES (p_entry, p_lottery, p_owner, p_kind, CAST(p_prefs AS json), 'entered', p_now);
  INSERT INTO marriage_lottery_entrant (id, entry_id, lottery_id, position, name,
    id_number_encrypted, id_blind_index, id_number_masked, phone_encrypted, phone_masked)
  SELECT p.id, p_entry, p_lottery, p.n - 1, p.name, p.enc, p.blind, p.masked, p.phone_enc,
    p.phone_masked
  FROM unnest(p_party_ids, p_names, p_enc, p_blinds, p_masked, p_phone_enc, p_phone_masked)
    WITH ORDINALITY AS p(id, name, enc, blind, masked, phone_enc, phone_masked, n);

  PERFORM record_writes(p_audits, NULL);
END $$
''',
    r'''
CREATE OR REPLACE FUNCTION public.command_refused(
  p_scope varchar, p_key varchar, p_code varchar, p_audits json,
  p_subject varchar, p_identity_check boolean, p_identity_required boolean,
  p_blinds varchar[],
  OUT instead varchar, OUT request_hash varchar, OUT response_status integer,
  OUT response_body text, OUT expires_at timestamptz)
RETURNS record LANGUAGE plpgsql AS $$
BEGIN
  IF p_identity_check THEN
    instead := citizen_refusal(p_subject, p_blinds, p_identity_required);
  END IF;
  IF p_key IS NOT NULL AND coalesce(instead, p_code) <> 'identity_not_verified' THEN
    SELECT r.request_hash, r.response_status, r.response_body, r.expires_at
      INTO request_hash, response_status, response_body, expires_at
      FROM idempotency_record AS r WHERE r.scope = p_scope AND r.key = p_key;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  IF p_audits IS NOT NULL THEN
    PERFORM record_writes(CASE WHEN instead IS NULL THEN p_audits ELSE json_build_array(
      (p_audits -> 0)::jsonb || jsonb_build_object('outcome', 'refused:' || instead)) END,
      NULL);
  END IF;
END $$
''',
)
DROP_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS public.command_refused",
    "DROP FUNCTION IF EXISTS public.marriage_lottery_enter",
    "DROP FUNCTION IF EXISTS public.marriage_book",
    "DROP FUNCTION IF EXISTS public.marriage_day_unchanged",
    "DROP FUNCTION IF EXISTS public.marriage_not_held",
    "DROP FUNCTION IF EXISTS public.marriage_hold",
    "DROP FUNCTION IF EXISTS public.marriage_not_suspended",
    "DROP FUNCTION IF EXISTS public.marriage_suspended_until",
    "DROP FUNCTION IF EXISTS public.capacity_take_or_raise",
    "DROP FUNCTION IF EXISTS public.capacity_take",
    "DROP FUNCTION IF EXISTS public.capacity_ensure",
    "DROP FUNCTION IF EXISTS public.citizen_acts_for",
    "DROP FUNCTION IF EXISTS public.citizen_refusal",
    "DROP FUNCTION IF EXISTS public.idempotency_store",
    "DROP FUNCTION IF EXISTS public.record_writes",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON public.audit_event",
    "DROP TRIGGER IF EXISTS audit_event_chain ON public.audit_event",
    "DROP FUNCTION IF EXISTS public.audit_link",
    "DROP FUNCTION IF EXISTS public.audit_event_append_only",
    "DROP FUNCTION IF EXISTS public.audit_event_chain",
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table('audit_chain_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=128), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=True),
    sa.Column('org_id', sa.String(length=40), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_event_seq'))
    )
    op.create_index(op.f('ix_audit_event_action'), 'audit_event', ['action'], unique=False)
    op.create_index(op.f('ix_audit_event_actor_id'), 'audit_event', ['actor_id'], unique=False)
    op.create_index(op.f('ix_audit_event_at'), 'audit_event', ['at'], unique=False)
    op.create_index('ix_audit_event_object', 'audit_event', ['object_type', 'object_id'], unique=False)
    op.create_index('ix_audit_event_org_id', 'audit_event', ['org_id'], unique=False)
    op.create_table('bed_applicant',
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('active_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('active_count >= 0', name=op.f('ck_bed_applicant_active_non_negative')),
    sa.PrimaryKeyConstraint('elder_id_blind', name=op.f('pk_bed_applicant'))
    )
    op.create_table('burial_policy',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('claim_deadline_days', sa.Integer(), nullable=False),
    sa.Column('superseded_by', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_burial_policy_amount_positive')),
    sa.CheckConstraint('claim_deadline_days > 0', name=op.f('ck_burial_policy_deadline_positive')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_burial_policy_period_ordered')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_policy'))
    )
    op.create_index('ix_burial_policy_line_period', 'burial_policy', ['division_code', 'method', 'effective_from'], unique=False)
    op.create_table('burial_policy_line',
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('division_code', 'method', name=op.f('pk_burial_policy_line'))
    )
    op.create_table('home_care_allowance_month',
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('elder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('allowance_fen', sa.Integer(), nullable=False),
    sa.Column('used_fen', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('used_fen >= 0 AND used_fen <= allowance_fen', name=op.f('ck_home_care_allowance_month_used_within')),
    sa.PrimaryKeyConstraint('elder_id_blind', 'month', name=op.f('pk_home_care_allowance_month'))
    )
    op.create_index('ix_home_care_allowance_month_month', 'home_care_allowance_month', ['month', 'elder_id_blind'], unique=False)
    op.create_table('home_care_subsidy',
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('elder_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('monthly_allowance_fen', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('monthly_allowance_fen >= 0', name=op.f('ck_home_care_subsidy_allowance_non_negative')),
    sa.CheckConstraint('valid_to >= valid_from', name=op.f('ck_home_care_subsidy_valid_range')),
    sa.PrimaryKeyConstraint('elder_id_blind', name=op.f('pk_home_care_subsidy'))
    )
    op.create_table('idempotency_record',
    sa.Column('scope', sa.String(length=160), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_record'))
    )
    op.create_index(op.f('ix_idempotency_record_expires_at'), 'idempotency_record', ['expires_at'], unique=False)
    op.create_table('official_calendar_notice',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('working_days', sa.JSON(), nullable=False),
    sa.Column('notice', sa.String(length=200), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('year BETWEEN 2000 AND 2099', name=op.f('ck_official_calendar_notice_year_range')),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_official_calendar_notice'))
    )
    op.create_table('organisation',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('ownership', sa.String(length=32), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('medical_care', sa.Boolean(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rating IS NULL OR (rating BETWEEN 1 AND 5)', name=op.f('ck_organisation_rating_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation'))
    )
    op.create_index('ix_organisation_kind_division', 'organisation', ['kind', 'division_code'], unique=False)
    op.create_index('ix_organisation_lat_lon', 'organisation', ['lat', 'lon'], unique=False)
    op.create_table('outbox_event',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=True),
    sa.Column('division_code', sa.String(length=6), nullable=True),
    sa.Column('subject', sa.String(length=128), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dedup_key', sa.String(length=160), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_event')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_outbox_event_dedup_key'))
    )
    op.create_index('ix_outbox_event_undispatched', 'outbox_event', ['id'], unique=False, postgresql_where=sa.text('dispatched_at IS NULL'))
    op.create_table('service_heartbeat',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_service_heartbeat'))
    )
    op.create_table('webhook_subscription',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=True),
    sa.Column('division_code', sa.String(length=6), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_by', sa.String(length=40), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('secret_encrypted', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription'))
    )
    op.create_index(op.f('ix_webhook_subscription_org_id'), 'webhook_subscription', ['org_id'], unique=False)
    op.create_table('api_key',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('lookup', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_api_key_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('lookup', name=op.f('uq_api_key_lookup'))
    )
    op.create_index(op.f('ix_api_key_org_id'), 'api_key', ['org_id'], unique=False)
    op.create_table('bed',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('monthly_fee_fen', sa.Integer(), nullable=False),
    sa.Column('reserved_for_destitute', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('available', 'held', 'occupied', 'maintenance')", name=op.f('ck_bed_status_known')),
    sa.CheckConstraint('monthly_fee_fen >= 0', name=op.f('ck_bed_fee_non_negative')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed')),
    sa.UniqueConstraint('institution_id', 'code', name='uq_bed_institution_code')
    )
    op.create_index('ix_bed_institution_category_status_fee', 'bed', ['institution_id', 'category', 'status', 'monthly_fee_fen'], unique=False)
    op.create_table('bed_pool',
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('vacant', sa.Integer(), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.CheckConstraint('vacant >= 0 AND vacant <= total', name=op.f('ck_bed_pool_vacant_within_total')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_pool_institution_id_organisation')),
    sa.PrimaryKeyConstraint('institution_id', 'category', name=op.f('pk_bed_pool'))
    )
    op.create_index('ix_bed_pool_category_vacant', 'bed_pool', ['category', 'vacant'], unique=False)
    op.create_table('burial_payment_batch',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_by_name', sa.String(length=100), nullable=True),
    sa.Column('claim_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_burial_payment_batch_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_payment_batch'))
    )
    op.create_index('ix_burial_payment_batch_org', 'burial_payment_batch', ['org_id', 'id'], unique=False)
    op.create_table('capacity_slot',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('owner_org_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('booked >= 0 AND booked <= capacity', name=op.f('ck_capacity_slot_booked_within_capacity')),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_capacity_slot_capacity_non_negative')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisation.id'], name=op.f('fk_capacity_slot_owner_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capacity_slot'))
    )
    op.create_index(op.f('ix_capacity_slot_owner_org_id'), 'capacity_slot', ['owner_org_id'], unique=False)
    op.create_table('citizen_identity',
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_number_encrypted', sa.String(length=200), nullable=False),
    sa.Column('id_blind_index', sa.String(length=64), nullable=False),
    sa.Column('id_number_masked', sa.String(length=18), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_by_org_id', sa.String(length=40), nullable=True),
    sa.Column('verified_by_key_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['verified_by_org_id'], ['organisation.id'], name=op.f('fk_citizen_identity_verified_by_org_id_organisation')),
    sa.PrimaryKeyConstraint('subject', name=op.f('pk_citizen_identity'))
    )
    op.create_index(op.f('ix_citizen_identity_id_blind_index'), 'citizen_identity', ['id_blind_index'], unique=False)
    op.create_table('home_care_caregiver',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('weekly_hours', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_caregiver_provider_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_care_caregiver'))
    )
    op.create_index('ix_home_care_caregiver_provider', 'home_care_caregiver', ['provider_id', 'id'], unique=False)
    op.create_table('home_care_centre_session',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('service_code', sa.String(length=32), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_home_care_centre_session_capacity_non_negative')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_home_care_centre_session_ends_after_start')),
    sa.CheckConstraint('price_fen >= 0', name=op.f('ck_home_care_centre_session_price_non_negative')),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_centre_session_provider_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_care_centre_session'))
    )
    op.create_index('ix_home_care_centre_session_provider_start', 'home_care_centre_session', ['provider_id', 'starts_at'], unique=False)
    op.create_table('home_care_offering',
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('service_code', sa.String(length=32), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('duration_minutes > 0', name=op.f('ck_home_care_offering_duration_positive')),
    sa.CheckConstraint('price_fen >= 0', name=op.f('ck_home_care_offering_price_non_negative')),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_offering_provider_id_organisation')),
    sa.PrimaryKeyConstraint('provider_id', 'service_code', name=op.f('pk_home_care_offering'))
    )
    op.create_table('marriage_closure',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('closure_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_closure_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_closure')),
    sa.UniqueConstraint('office_id', 'closure_date', name=op.f('uq_marriage_closure_office_id'))
    )
    op.create_table('marriage_lottery',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('lottery_date', sa.Date(), nullable=False),
    sa.Column('entries_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries_close_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seed_hex', sa.String(length=64), nullable=False),
    sa.Column('seed_sha256', sa.String(length=64), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=True),
    sa.Column('entries', sa.Integer(), nullable=True),
    sa.Column('seats', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_lottery_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery'))
    )
    op.create_index('ix_marriage_lottery_due', 'marriage_lottery', ['status', 'entries_close_at'], unique=False)
    op.create_index('uq_marriage_lottery_office_date_live', 'marriage_lottery', ['office_id', 'lottery_date'], unique=True, postgresql_where=sa.text("status != 'cancelled'"))
    op.create_table('marriage_schedule',
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=False),
    sa.Column('booking_opens_days_ahead', sa.Integer(), nullable=False),
    sa.Column('min_notice_hours', sa.Integer(), nullable=False),
    sa.Column('cancel_deadline_hours', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_schedule_office_id_organisation')),
    sa.PrimaryKeyConstraint('office_id', name=op.f('pk_marriage_schedule'))
    )
    op.create_table('marriage_special_day',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('special_date', sa.Date(), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_special_day_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_special_day')),
    sa.UniqueConstraint('office_id', 'special_date', name=op.f('uq_marriage_special_day_office_id'))
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subscription_id', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], name=op.f('fk_webhook_delivery_event_id_outbox_event')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_webhook_delivery_subscription_id_webhook_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_delivery_subscription_id'))
    )
    op.create_index('ix_webhook_delivery_due', 'webhook_delivery', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhook_delivery_event_id'), 'webhook_delivery', ['event_id'], unique=False)
    op.create_table('bed_application',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('citizen_subject', sa.String(length=128), nullable=False),
    sa.Column('elder_name', sa.String(length=100), nullable=False),
    sa.Column('elder_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('elder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('elder_phone_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_phone_masked', sa.String(length=32), nullable=False),
    sa.Column('priority_groups', sa.JSON(), nullable=False),
    sa.Column('declared_ability_level', sa.Integer(), nullable=True),
    sa.Column('max_monthly_fee_fen', sa.Integer(), nullable=True),
    sa.Column('ability_level', sa.Integer(), nullable=True),
    sa.Column('verified_priority_groups', sa.JSON(), nullable=False),
    sa.Column('priority_class', sa.Integer(), nullable=True),
    sa.Column('destitute', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bed_id', sa.String(length=40), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offer_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ability_level IS NULL OR ability_level BETWEEN 0 AND 4', name=op.f('ck_bed_application_ability_range')),
    sa.CheckConstraint('max_monthly_fee_fen IS NULL OR max_monthly_fee_fen >= 0', name=op.f('ck_bed_application_max_fee_non_negative')),
    sa.ForeignKeyConstraint(['bed_id'], ['bed.id'], name=op.f('fk_bed_application_bed_id_bed')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_application_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed_application'))
    )
    op.create_index(op.f('ix_bed_application_bed_id'), 'bed_application', ['bed_id'], unique=False)
    op.create_index('ix_bed_application_citizen', 'bed_application', ['citizen_subject', 'id'], unique=False)
    op.create_index('ix_bed_application_elder_status', 'bed_application', ['elder_id_blind', 'status'], unique=False)
    op.create_index('ix_bed_application_offer_expiry', 'bed_application', ['status', 'offer_expires_at'], unique=False)
    op.create_index('ix_bed_application_waitlist', 'bed_application', ['institution_id', 'category', 'status', 'priority_class', 'applied_at'], unique=False)
    op.create_index('uq_bed_application_active_elder', 'bed_application', ['elder_id_blind', 'institution_id', 'category'], unique=True, postgresql_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"))
    op.create_table('burial_claim',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('citizen_subject', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('policy_id', sa.String(length=40), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('claim_deadline', sa.Date(), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('deceased_name', sa.String(length=100), nullable=False),
    sa.Column('deceased_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('deceased_id_blind', sa.String(length=64), nullable=False),
    sa.Column('deceased_id_masked', sa.String(length=18), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=False),
    sa.Column('burial_method', sa.String(length=16), nullable=False),
    sa.Column('burial_date', sa.Date(), nullable=False),
    sa.Column('service_unit', sa.String(length=200), nullable=False),
    sa.Column('certificate_no', sa.String(length=64), nullable=False),
    sa.Column('claimant_name', sa.String(length=100), nullable=False),
    sa.Column('claimant_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('claimant_id_blind', sa.String(length=64), nullable=False),
    sa.Column('claimant_id_masked', sa.String(length=18), nullable=False),
    sa.Column('claimant_phone_encrypted', sa.String(length=255), nullable=False),
    sa.Column('claimant_phone_masked', sa.String(length=32), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('bank_name', sa.String(length=100), nullable=False),
    sa.Column('account_encrypted', sa.String(length=255), nullable=False),
    sa.Column('account_masked', sa.String(length=32), nullable=False),
    sa.Column('documents', sa.JSON(), nullable=False),
    sa.Column('review_decision', sa.String(length=16), nullable=True),
    sa.Column('review_reason_code', sa.String(length=40), nullable=True),
    sa.Column('review_note', sa.String(length=500), nullable=True),
    sa.Column('reviewed_by', sa.String(length=200), nullable=True),
    sa.Column('reviewed_by_name', sa.String(length=100), nullable=True),
    sa.Column('reviewed_org_id', sa.String(length=40), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason_code', sa.String(length=40), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_by_name', sa.String(length=100), nullable=True),
    sa.Column('decided_org_id', sa.String(length=40), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_batch_id', sa.String(length=40), nullable=True),
    sa.Column('payment_reference', sa.String(length=64), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_month', sa.String(length=7), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resubmissions', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('submitted', 'returned', 'reviewed', 'approved', 'rejected', 'paid', 'withdrawn')", name=op.f('ck_burial_claim_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_burial_claim_amount_positive')),
    sa.ForeignKeyConstraint(['payment_batch_id'], ['burial_payment_batch.id'], name=op.f('fk_burial_claim_payment_batch_id_burial_payment_batch')),
    sa.ForeignKeyConstraint(['policy_id'], ['burial_policy.id'], name=op.f('fk_burial_claim_policy_id_burial_policy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_claim'))
    )
    op.create_index('ix_burial_claim_batch', 'burial_claim', ['payment_batch_id'], unique=False)
    op.create_index('ix_burial_claim_citizen', 'burial_claim', ['citizen_subject', 'submitted_at', 'id'], unique=False)
    op.create_index(op.f('ix_burial_claim_claimant_id_blind'), 'burial_claim', ['claimant_id_blind'], unique=False)
    op.create_index('ix_burial_claim_division_queue', 'burial_claim', ['division_code', 'submitted_at', 'id'], unique=False)
    op.create_index('ix_burial_claim_paid_totals', 'burial_claim', ['status', 'decided_org_id', 'paid_month'], unique=False)
    op.create_index(op.f('ix_burial_claim_policy_id'), 'burial_claim', ['policy_id'], unique=False)
    op.create_index('ix_burial_claim_queue', 'burial_claim', ['status', 'submitted_at', 'id'], unique=False)
    op.create_index('uq_burial_claim_live_deceased', 'burial_claim', ['deceased_id_blind'], unique=True, postgresql_where=sa.text("status NOT IN ('withdrawn', 'rejected')"))
    op.create_table('home_care_booking',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('caregiver_id', sa.String(length=40), nullable=False),
    sa.Column('service_code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('citizen_subject', sa.String(length=128), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('elder_name', sa.String(length=100), nullable=False),
    sa.Column('elder_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('elder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('elder_phone_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_phone_masked', sa.String(length=32), nullable=False),
    sa.Column('elder_address_encrypted', sa.String(length=1200), nullable=False),
    sa.Column('elder_address_masked', sa.String(length=32), nullable=False),
    sa.Column('elder_lat', sa.Float(), nullable=True),
    sa.Column('elder_lon', sa.Float(), nullable=True),
    sa.Column('check_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('check_in_lat', sa.Float(), nullable=True),
    sa.Column('check_in_lon', sa.Float(), nullable=True),
    sa.Column('check_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('check_out_lat', sa.Float(), nullable=True),
    sa.Column('check_out_lon', sa.Float(), nullable=True),
    sa.Column('location_flagged', sa.Boolean(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('no_show_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=16), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('subsidy_paid_fen', sa.Integer(), nullable=True),
    sa.Column('family_paid_fen', sa.Integer(), nullable=True),
    sa.Column('rating_stars', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.String(length=500), nullable=True),
    sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    postgresql.ExcludeConstraint((sa.column('caregiver_id'), '='), (sa.text("tstzrange(starts_at, blocked_until, '[)')"), '&&'), where=sa.text("status IN ('booked', 'in_service', 'completed')"), using='gist', name='ex_home_care_booking_caregiver_time'),
    sa.CheckConstraint('blocked_until >= ends_at', name=op.f('ck_home_care_booking_blocked_after_end')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_home_care_booking_ends_after_start')),
    sa.CheckConstraint('family_paid_fen IS NULL OR family_paid_fen >= 0', name=op.f('ck_home_care_booking_family_non_negative')),
    sa.CheckConstraint('rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5', name=op.f('ck_home_care_booking_rating_range')),
    sa.CheckConstraint('subsidy_paid_fen IS NULL OR subsidy_paid_fen >= 0', name=op.f('ck_home_care_booking_subsidy_non_negative')),
    sa.ForeignKeyConstraint(['caregiver_id'], ['home_care_caregiver.id'], name=op.f('fk_home_care_booking_caregiver_id_home_care_caregiver')),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_booking_provider_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_care_booking'))
    )
    op.create_index('ix_home_care_booking_caregiver_start', 'home_care_booking', ['caregiver_id', 'starts_at'], unique=False)
    op.create_index('ix_home_care_booking_citizen', 'home_care_booking', ['citizen_subject', 'starts_at'], unique=False)
    op.create_index(op.f('ix_home_care_booking_elder_id_blind'), 'home_care_booking', ['elder_id_blind'], unique=False)
    op.create_index('ix_home_care_booking_provider_date', 'home_care_booking', ['provider_id', 'visit_date', 'starts_at'], unique=False)
    op.create_table('home_care_centre_booking',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('citizen_subject', sa.String(length=128), nullable=False),
    sa.Column('elder_name', sa.String(length=100), nullable=False),
    sa.Column('elder_id_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_id_blind', sa.String(length=64), nullable=False),
    sa.Column('elder_id_masked', sa.String(length=18), nullable=False),
    sa.Column('elder_phone_encrypted', sa.String(length=255), nullable=False),
    sa.Column('elder_phone_masked', sa.String(length=32), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.String(length=16), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_centre_booking_provider_id_organisation')),
    sa.ForeignKeyConstraint(['session_id'], ['home_care_centre_session.id'], name=op.f('fk_home_care_centre_booking_session_id_home_care_centre_session')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_care_centre_booking'))
    )
    op.create_index('ix_home_care_centre_booking_citizen', 'home_care_centre_booking', ['citizen_subject', 'id'], unique=False)
    op.create_index('ix_home_care_centre_booking_provider', 'home_care_centre_booking', ['provider_id', 'id'], unique=False)
    op.create_index('uq_home_care_centre_booking_elder_session', 'home_care_centre_booking', ['elder_id_blind', 'session_id'], unique=True, postgresql_where=sa.text("status = 'booked'"))
    op.create_table('home_care_time_off',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('caregiver_id', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_home_care_time_off_ends_after_start')),
    sa.ForeignKeyConstraint(['caregiver_id'], ['home_care_caregiver.id'], name=op.f('fk_home_care_time_off_caregiver_id_home_care_caregiver')),
    sa.ForeignKeyConstraint(['provider_id'], ['organisation.id'], name=op.f('fk_home_care_time_off_provider_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_care_time_off'))
    )
    op.create_index('ix_home_care_time_off_caregiver', 'home_care_time_off', ['caregiver_id', 'starts_at'], unique=False)
    op.create_table('marriage_appointment',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('slot_id', sa.String(length=120), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner_subject', sa.String(length=128), nullable=False),
    sa.Column('check_in_code', sa.String(length=16), nullable=False),
    sa.Column('divorce_case_id', sa.String(length=40), nullable=True),
    sa.Column('cancel_reason', sa.String(length=200), nullable=True),
    sa.Column('cancelled_by', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('no_show_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_appointment_office_id_organisation')),
    sa.ForeignKeyConstraint(['slot_id'], ['capacity_slot.id'], name=op.f('fk_marriage_appointment_slot_id_capacity_slot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_appointment'))
    )
    op.create_index(op.f('ix_marriage_appointment_divorce_case_id'), 'marriage_appointment', ['divorce_case_id'], unique=False)
    op.create_index('ix_marriage_appointment_office_date', 'marriage_appointment', ['office_id', 'session_date', 'status'], unique=False)
    op.create_index('ix_marriage_appointment_owner', 'marriage_appointment', ['owner_subject', 'id'], unique=False)
    op.create_index('ix_marriage_appointment_slot', 'marriage_appointment', ['slot_id', 'status'], unique=False)
    op.create_table('bed_application_priority_step',
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('from_date', sa.Date(), nullable=False),
    sa.Column('priority_class', sa.Integer(), nullable=False),
    sa.CheckConstraint('priority_class >= 0', name=op.f('ck_bed_application_priority_step_class_non_negative')),
    sa.ForeignKeyConstraint(['application_id'], ['bed_application.id'], name=op.f('fk_bed_application_priority_step_application_id_bed_application')),
    sa.PrimaryKeyConstraint('application_id', 'from_date', name=op.f('pk_bed_application_priority_step'))
    )
    op.create_table('bed_occupancy',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('institution_id', sa.String(length=40), nullable=False),
    sa.Column('bed_id', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=True),
    sa.Column('resident_name', sa.String(length=100), nullable=False),
    sa.Column('resident_id_encrypted', sa.String(length=255), nullable=True),
    sa.Column('resident_id_blind', sa.String(length=64), nullable=True),
    sa.Column('resident_id_masked', sa.String(length=18), nullable=True),
    sa.Column('outside_huimin', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['bed_application.id'], name=op.f('fk_bed_occupancy_application_id_bed_application')),
    sa.ForeignKeyConstraint(['bed_id'], ['bed.id'], name=op.f('fk_bed_occupancy_bed_id_bed')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_occupancy_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed_occupancy'))
    )
    op.create_index('ix_bed_occupancy_bed', 'bed_occupancy', ['bed_id', 'id'], unique=False)
    op.create_index('ix_bed_occupancy_institution', 'bed_occupancy', ['institution_id', 'id'], unique=False)
    op.create_index('uq_bed_occupancy_open_bed', 'bed_occupancy', ['bed_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_index('uq_bed_occupancy_open_resident', 'bed_occupancy', ['resident_id_blind'], unique=True, postgresql_where=sa.text('ended_at IS NULL AND resident_id_blind IS NOT NULL'))
    op.create_table('burial_claim_event',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('claim_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=True),
    sa.Column('actor_org_id', sa.String(length=40), nullable=True),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('previous', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['burial_claim.id'], name=op.f('fk_burial_claim_event_claim_id_burial_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_claim_event'))
    )
    op.create_index('ix_burial_claim_event_claim', 'burial_claim_event', ['claim_id', 'id'], unique=False)
    op.create_table('marriage_divorce_case',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.String(length=40), nullable=False),
    sa.Column('divorce_appointment_id', sa.String(length=40), nullable=False),
    sa.Column('owner_subject', sa.String(length=128), nullable=False),
    sa.Column('party_a_blind_index', sa.String(length=64), nullable=False),
    sa.Column('party_b_blind_index', sa.String(length=64), nullable=False),
    sa.Column('parties', sa.JSON(), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmation_appointment_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['divorce_appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_divorce_case_divorce_appointment_id_marriage_appointment')),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_divorce_case_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_divorce_case')),
    sa.UniqueConstraint('divorce_appointment_id', name=op.f('uq_marriage_divorce_case_divorce_appointment_id'))
    )
    op.create_index(op.f('ix_marriage_divorce_case_office_id'), 'marriage_divorce_case', ['office_id'], unique=False)
    op.create_index(op.f('ix_marriage_divorce_case_owner_subject'), 'marriage_divorce_case', ['owner_subject'], unique=False)
    op.create_table('marriage_lottery_entry',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('lottery_id', sa.String(length=40), nullable=False),
    sa.Column('owner_subject', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('session_preferences', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('session_start', sa.String(length=5), nullable=True),
    sa.Column('appointment_id', sa.String(length=40), nullable=True),
    sa.Column('excluded_reason', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_lottery_entry_appointment_id_marriage_appointment')),
    sa.ForeignKeyConstraint(['lottery_id'], ['marriage_lottery.id'], name=op.f('fk_marriage_lottery_entry_lottery_id_marriage_lottery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery_entry'))
    )
    op.create_index('ix_marriage_lottery_entry_lottery', 'marriage_lottery_entry', ['lottery_id', 'id'], unique=False)
    op.create_index('ix_marriage_lottery_entry_owner', 'marriage_lottery_entry', ['owner_subject', 'id'], unique=False)
    op.create_table('marriage_party',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('appointment_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_number_encrypted', sa.String(length=200), nullable=False),
    sa.Column('id_blind_index', sa.String(length=64), nullable=False),
    sa.Column('id_number_masked', sa.String(length=18), nullable=False),
    sa.Column('phone_encrypted', sa.String(length=255), nullable=True),
    sa.Column('phone_masked', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_party_appointment_id_marriage_appointment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_party')),
    sa.UniqueConstraint('appointment_id', 'position', name=op.f('uq_marriage_party_appointment_id'))
    )
    op.create_index(op.f('ix_marriage_party_id_blind_index'), 'marriage_party', ['id_blind_index'], unique=False)
    op.create_table('marriage_party_hold',
    sa.Column('id_blind_index', sa.String(length=64), nullable=False),
    sa.Column('appointment_id', sa.String(length=40), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_party_hold_appointment_id_marriage_appointment')),
    sa.PrimaryKeyConstraint('id_blind_index', name=op.f('pk_marriage_party_hold'))
    )
    op.create_index(op.f('ix_marriage_party_hold_appointment_id'), 'marriage_party_hold', ['appointment_id'], unique=False)
    op.create_table('marriage_lottery_entrant',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('entry_id', sa.String(length=40), nullable=False),
    sa.Column('lottery_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id_number_encrypted', sa.String(length=200), nullable=False),
    sa.Column('id_blind_index', sa.String(length=64), nullable=False),
    sa.Column('id_number_masked', sa.String(length=18), nullable=False),
    sa.Column('phone_encrypted', sa.String(length=255), nullable=True),
    sa.Column('phone_masked', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['marriage_lottery_entry.id'], name=op.f('fk_marriage_lottery_entrant_entry_id_marriage_lottery_entry')),
    sa.ForeignKeyConstraint(['lottery_id'], ['marriage_lottery.id'], name=op.f('fk_marriage_lottery_entrant_lottery_id_marriage_lottery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery_entrant')),
    sa.UniqueConstraint('lottery_id', 'id_blind_index', name=op.f('uq_marriage_lottery_entrant_lottery_id'))
    )
    op.create_index(op.f('ix_marriage_lottery_entrant_entry_id'), 'marriage_lottery_entrant', ['entry_id'], unique=False)

    op.execute("CREATE SEQUENCE audit_event_pending_seq")
    for statement in FUNCTIONS:
        op.get_bind().exec_driver_sql(statement)
    op.execute("REVOKE ALL ON FUNCTION audit_event_chain() FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION audit_link(integer) FROM PUBLIC")
    op.execute(sa.text("INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, :hash)")
               .bindparams(hash=GENESIS))
    _app_role()


def _app_role() -> None:
    op.execute(f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    BEGIN
      CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- another database's migration created it at the same moment
    END;
  END IF;
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {APP_ROLE}', current_database());
END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON audit_event, audit_chain_head, alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit_event TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON audit_chain_head, alembic_version TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_link(integer) TO {APP_ROLE}")
    # Tables and sequences later migrations create (as this same owner).
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")


def downgrade() -> None:
    # The role stays (other databases of the server may use it); its rights here go.
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
      REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE};
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE};
    REVOKE ALL ON SCHEMA public FROM {APP_ROLE};
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM {APP_ROLE}', current_database());
  END IF;
END $$""")  # noqa: S608 - constant text
    for statement in DROP_FUNCTIONS:
        op.execute(statement)
    op.execute("DROP SEQUENCE IF EXISTS audit_event_pending_seq")
    op.drop_index(op.f('ix_marriage_lottery_entrant_entry_id'), table_name='marriage_lottery_entrant')
    op.drop_table('marriage_lottery_entrant')
    op.drop_index(op.f('ix_marriage_party_hold_appointment_id'), table_name='marriage_party_hold')
    op.drop_table('marriage_party_hold')
    op.drop_index(op.f('ix_marriage_party_id_blind_index'), table_name='marriage_party')
    op.drop_table('marriage_party')
    op.drop_index('ix_marriage_lottery_entry_owner', table_name='marriage_lottery_entry')
    op.drop_index('ix_marriage_lottery_entry_lottery', table_name='marriage_lottery_entry')
    op.drop_table('marriage_lottery_entry')
    op.drop_index(op.f('ix_marriage_divorce_case_owner_subject'), table_name='marriage_divorce_case')
    op.drop_index(op.f('ix_marriage_divorce_case_office_id'), table_name='marriage_divorce_case')
    op.drop_table('marriage_divorce_case')
    op.drop_index('ix_burial_claim_event_claim', table_name='burial_claim_event')
    op.drop_table('burial_claim_event')
    op.drop_index('uq_bed_occupancy_open_resident', table_name='bed_occupancy', postgresql_where=sa.text('ended_at IS NULL AND resident_id_blind IS NOT NULL'))
    op.drop_index('uq_bed_occupancy_open_bed', table_name='bed_occupancy', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_bed_occupancy_institution', table_name='bed_occupancy')
    op.drop_index('ix_bed_occupancy_bed', table_name='bed_occupancy')
    op.drop_table('bed_occupancy')
    op.drop_table('bed_application_priority_step')
    op.drop_index('ix_marriage_appointment_slot', table_name='marriage_appointment')
    op.drop_index('ix_marriage_appointment_owner', table_name='marriage_appointment')
    op.drop_index('ix_marriage_appointment_office_date', table_name='marriage_appointment')
    op.drop_index(op.f('ix_marriage_appointment_divorce_case_id'), table_name='marriage_appointment')
    op.drop_table('marriage_appointment')
    op.drop_index('ix_home_care_time_off_caregiver', table_name='home_care_time_off')
    op.drop_table('home_care_time_off')
    op.drop_index('uq_home_care_centre_booking_elder_session', table_name='home_care_centre_booking', postgresql_where=sa.text("status = 'booked'"))
    op.drop_index('ix_home_care_centre_booking_provider', table_name='home_care_centre_booking')
    op.drop_index('ix_home_care_centre_booking_citizen', table_name='home_care_centre_booking')
    op.drop_table('home_care_centre_booking')
    op.drop_index('ix_home_care_booking_provider_date', table_name='home_care_booking')
    op.drop_index(op.f('ix_home_care_booking_elder_id_blind'), table_name='home_care_booking')
    op.drop_index('ix_home_care_booking_citizen', table_name='home_care_booking')
    op.drop_index('ix_home_care_booking_caregiver_start', table_name='home_care_booking')
    op.drop_table('home_care_booking')
    op.drop_index('uq_burial_claim_live_deceased', table_name='burial_claim', postgresql_where=sa.text("status NOT IN ('withdrawn', 'rejected')"))
    op.drop_index('ix_burial_claim_queue', table_name='burial_claim')
    op.drop_index(op.f('ix_burial_claim_policy_id'), table_name='burial_claim')
    op.drop_index('ix_burial_claim_paid_totals', table_name='burial_claim')
    op.drop_index('ix_burial_claim_division_queue', table_name='burial_claim')
    op.drop_index(op.f('ix_burial_claim_claimant_id_blind'), table_name='burial_claim')
    op.drop_index('ix_burial_claim_citizen', table_name='burial_claim')
    op.drop_index('ix_burial_claim_batch', table_name='burial_claim')
    op.drop_table('burial_claim')
    op.drop_index('uq_bed_application_active_elder', table_name='bed_application', postgresql_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"))
    op.drop_index('ix_bed_application_waitlist', table_name='bed_application')
    op.drop_index('ix_bed_application_offer_expiry', table_name='bed_application')
    op.drop_index('ix_bed_application_elder_status', table_name='bed_application')
    op.drop_index('ix_bed_application_citizen', table_name='bed_application')
    op.drop_index(op.f('ix_bed_application_bed_id'), table_name='bed_application')
    op.drop_table('bed_application')
    op.drop_index(op.f('ix_webhook_delivery_event_id'), table_name='webhook_delivery')
    op.drop_index('ix_webhook_delivery_due', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_table('marriage_special_day')
    op.drop_table('marriage_schedule')
    op.drop_index('uq_marriage_lottery_office_date_live', table_name='marriage_lottery', postgresql_where=sa.text("status != 'cancelled'"))
    op.drop_index('ix_marriage_lottery_due', table_name='marriage_lottery')
    op.drop_table('marriage_lottery')
    op.drop_table('marriage_closure')
    op.drop_table('home_care_offering')
    op.drop_index('ix_home_care_centre_session_provider_start', table_name='home_care_centre_session')
    op.drop_table('home_care_centre_session')
    op.drop_index('ix_home_care_caregiver_provider', table_name='home_care_caregiver')
    op.drop_table('home_care_caregiver')
    op.drop_index(op.f('ix_citizen_identity_id_blind_index'), table_name='citizen_identity')
    op.drop_table('citizen_identity')
    op.drop_index(op.f('ix_capacity_slot_owner_org_id'), table_name='capacity_slot')
    op.drop_table('capacity_slot')
    op.drop_index('ix_burial_payment_batch_org', table_name='burial_payment_batch')
    op.drop_table('burial_payment_batch')
    op.drop_index('ix_bed_pool_category_vacant', table_name='bed_pool')
    op.drop_table('bed_pool')
    op.drop_index('ix_bed_institution_category_status_fee', table_name='bed')
    op.drop_table('bed')
    op.drop_index(op.f('ix_api_key_org_id'), table_name='api_key')
    op.drop_table('api_key')
    op.drop_index(op.f('ix_webhook_subscription_org_id'), table_name='webhook_subscription')
    op.drop_table('webhook_subscription')
    op.drop_table('service_heartbeat')
    op.drop_index('ix_outbox_event_undispatched', table_name='outbox_event', postgresql_where=sa.text('dispatched_at IS NULL'))
    op.drop_table('outbox_event')
    op.drop_index('ix_organisation_lat_lon', table_name='organisation')
    op.drop_index('ix_organisation_kind_division', table_name='organisation')
    op.drop_table('organisation')
    op.drop_table('official_calendar_notice')
    op.drop_index(op.f('ix_idempotency_record_expires_at'), table_name='idempotency_record')
    op.drop_table('idempotency_record')
    op.drop_table('home_care_subsidy')
    op.drop_index('ix_home_care_allowance_month_month', table_name='home_care_allowance_month')
    op.drop_table('home_care_allowance_month')
    op.drop_table('burial_policy_line')
    op.drop_index('ix_burial_policy_line_period', table_name='burial_policy')
    op.drop_table('burial_policy')
    op.drop_table('bed_applicant')
    op.drop_index('ix_audit_event_org_id', table_name='audit_event')
    op.drop_index('ix_audit_event_object', table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_at'), table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_actor_id'), table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_action'), table_name='audit_event')
    op.drop_table('audit_event')
    op.drop_table('audit_chain_head')
    # btree_gist stays: other schemas may use it, and dropping it needs no undo.
