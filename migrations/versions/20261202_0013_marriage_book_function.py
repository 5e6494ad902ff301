"""marriage booking in one statement: the PostgreSQL function `marriage_book`

A booking on PostgreSQL used to send its writes as one statement inside a
transaction the request held open across several round trips: the seat's row lock
and the audit chain head's were held until the last of them and the COMMIT, so on a
peak day every booking of a session (and every audited write at all) queued behind
the slowest request's event loop. `marriage_book` does the whole write in one call,
outside any transaction block (the call is its own transaction), and takes the two
hot locks last:

1. the idempotency record (with the sealed response): a concurrent request with the
   same key waits on its unique index and is refused `HMIF1` (409
   `idempotency_in_flight`, its retry replays);
2. the office's schedule lock, shared: a transaction-level advisory lock on
   `marriage_schedule:<office>` that every schedule, closure, special-day or lottery
   change takes exclusive (`services.marriage.schedules`); a row lock FOR KEY SHARE
   would do the same, but 32 bookings sharing one row's lock made PostgreSQL write a
   new MultiXact for each. Then a re-check of what the request read: the
   schedule's version, the closure, the special day's sessions and the lottery; a
   difference is SQLSTATE 40001, and the request runs again from the start;
3. the appointment, a hold per person in a fixed order (a live hold of someone
   else's is `HMPH1`, its DETAIL the blind indexes not taken), the parties and the
   outbox event;
4. the seat, the conditional UPDATE of `services.capacity` (none left: `HMSF1`, 409
   `slot_full`; the session's row is made, unlocked, before the appointment that
   refers to it), then the audit row, whose chain trigger locks the head: both are
   held for the rest of this one statement and its commit.

Any refusal raises, so nothing of the booking is kept. SQLite is not touched (it
books in its writer's transaction, `services.marriage.appointments`).

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-02 01:45:00+00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE FUNCTION marriage_book(
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer,
  p_body text, p_idem_expires timestamptz,
  p_office varchar, p_day date, p_version integer, p_closed boolean,
  p_special text, p_lottery varchar,
  p_slot varchar, p_slot_kind varchar, p_capacity integer, p_now timestamptz,
  p_appt varchar, p_starts timestamptz, p_ends timestamptz, p_kind varchar,
  p_owner varchar, p_code varchar, p_case varchar,
  p_blinds varchar[], p_party_ids varchar[], p_names varchar[], p_enc varchar[],
  p_masked varchar[], p_phone_enc varchar[], p_phone_masked varchar[],
  p_audit_id varchar, p_actor_kind varchar, p_actor_id varchar, p_actor_role varchar,
  p_action varchar, p_object_type varchar, p_request_id varchar,
  p_event_id varchar, p_event_type varchar, p_event_object_type varchar,
  p_event_division varchar, p_event_data varchar
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_version integer;
  v_taken varchar[];
BEGIN
  IF p_key IS NOT NULL THEN
    INSERT INTO idempotency_record (scope, key, request_hash, response_status,
                                    response_body, created_at, expires_at)
    VALUES (p_scope, p_key, p_request_hash, p_status, p_body, p_now, p_idem_expires)
    ON CONFLICT (scope, key) DO NOTHING;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'idempotency key in flight' USING ERRCODE = 'HMIF1';
    END IF;
  END IF;

  PERFORM pg_advisory_xact_lock_shared(hashtextextended('marriage_schedule:' || p_office, 0));
  SELECT s.version INTO v_version FROM marriage_schedule AS s WHERE s.office_id = p_office;
  IF v_version IS DISTINCT FROM p_version
     OR EXISTS (SELECT 1 FROM marriage_closure AS c
                WHERE c.office_id = p_office AND c.closure_date = p_day) IS DISTINCT FROM p_closed
     OR (SELECT d.sessions::text FROM marriage_special_day AS d
         WHERE d.office_id = p_office AND d.special_date = p_day) IS DISTINCT FROM p_special
     OR (SELECT l.id FROM marriage_lottery AS l
         WHERE l.office_id = p_office AND l.lottery_date = p_day AND l.status = 'scheduled')
        IS DISTINCT FROM p_lottery THEN
    RAISE EXCEPTION 'booking conditions changed' USING ERRCODE = '40001';
  END IF;

  -- The session's seat row, if this is its first booking (the appointment refers
  -- to it); it is not locked here, only read.
  PERFORM 1 FROM capacity_slot WHERE id = p_slot;
  IF NOT FOUND THEN
    INSERT INTO capacity_slot (id, owner_org_id, kind, capacity, booked, created_at)
    VALUES (p_slot, p_office, p_slot_kind, p_capacity, 0, p_now) ON CONFLICT (id) DO NOTHING;
  END IF;

  INSERT INTO marriage_appointment (id, office_id, slot_id, session_date, starts_at, ends_at,
    kind, status, owner_subject, check_in_code, divorce_case_id, created_at)
  VALUES (p_appt, p_office, p_slot, p_day, p_starts, p_ends, p_kind, 'booked', p_owner,
          p_code, p_case, p_now);

  WITH taken AS (
    INSERT INTO marriage_party_hold AS h (id_blind_index, appointment_id, expires_at, created_at)
    SELECT b.blind, p_appt, p_ends, p_now FROM unnest(p_blinds) AS b(blind) ORDER BY b.blind
    ON CONFLICT (id_blind_index) DO UPDATE SET appointment_id = excluded.appointment_id,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE h.expires_at <= p_now
    RETURNING h.id_blind_index
  ) SELECT coalesce(array_agg(id_blind_index), '{}') INTO v_taken FROM taken;
  IF cardinality(v_taken) <> cardinality(p_blinds) THEN
    RAISE EXCEPTION 'a party holds an active appointment'
      USING ERRCODE = 'HMPH1', DETAIL = array_to_string(v_taken, ',');
  END IF;

  INSERT INTO marriage_party (id, appointment_id, position, name, id_number_encrypted,
    id_blind_index, id_number_masked, phone_encrypted, phone_masked)
  SELECT p.id, p_appt, p.n - 1, p.name, p.enc, p.blind, p.masked, p.phone_enc, p.phone_masked
  FROM unnest(p_party_ids, p_names, p_enc, p_blinds, p_masked,
              p_phone_enc, p_phone_masked)
    WITH ORDINALITY AS p(id, name, enc, blind, masked, phone_enc, phone_masked, n);

  IF p_event_id IS NOT NULL THEN
    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,
                              subject, data, created_at)
    VALUES (p_event_id, p_event_type, p_event_object_type, p_appt, p_office,
            p_event_division, p_owner, CAST(p_event_data AS json), p_now);
  END IF;

  UPDATE capacity_slot SET booked = booked + 1
    WHERE id = p_slot AND booked + 1 <= capacity;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the session is full' USING ERRCODE = 'HMSF1';
  END IF;

  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,
                           object_type, object_id, outcome, request_id)
  VALUES (p_audit_id, p_now, p_actor_kind, p_actor_id, p_actor_role, p_office, p_action,
          p_object_type, p_appt, 'success', p_request_id);
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_book")
