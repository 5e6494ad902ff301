-- A lottery entry, the whole write in one statement
-- (services.marriage.lottery.enter), sent outside any transaction block:
--
-- 1. the account's identity rules (citizen_acts_for), and the idempotency record
--    (idempotency_store);
-- 2. the lottery's lock, shared (the draw and a cancellation take it exclusive),
--    and the lottery still open: else 40001, and the request runs again from a
--    fresh read;
-- 3. what the request read of the lottery's day is still so
--    (marriage_day_unchanged);
-- 4. the people: no no-show suspension, no live appointment (marriage_not_held);
-- 5. the entry, its entrants (a person entered twice in one lottery meets the
--    unique index of marriage_lottery_entrant: 409 `duplicate_entry`), the audit
--    row (record_writes).
-- Any refusal raises, so nothing of the entry is kept.
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
END $$;
