-- A first-come marriage booking, the whole write in one statement
-- (services.marriage.appointments.book), sent outside any transaction block: the
-- call is its own transaction. Each rule is a function of its own; this is their
-- order. The hot lock, the session's seat row, is taken last, so it is held for the
-- end of this one statement only.
--
-- 1. the account's identity rules (citizen_acts_for);
-- 2. the idempotency record, with the sealed answer (idempotency_store);
-- 3. what the request read of the office's day is still so (marriage_day_unchanged,
--    which holds the office's schedule lock shared), and the day's lottery and the
--    office's contact too: any difference is 40001 and the request runs again;
-- 4. the people: no no-show suspension (marriage_not_suspended);
-- 5. the appointment, one hold per person (marriage_hold: one active appointment
--    per person), the parties;
-- 6. the seat (capacity_take_or_raise), then the audit row and the outbox event
--    (record_writes).
-- Any refusal raises, so nothing of the booking is kept. Its statements run on
-- generic plans and index look-ups only (the SET below).
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
END $$;
