-- A home visit booked, the whole write in one statement
-- (services.home_care.bookings.book), sent outside any transaction block: the call
-- is its own transaction. Each rule is a function of its own; this is their order.
--
-- 1. the account's identity rules (citizen_acts_for; the family books for an elder
--    who need not be the account's person, so the write names nobody);
-- 1b. a visit booked through a delegation (代办: its `delegation_id`, which the
--    request's read found) still is one: the elder is a principal of that active,
--    unexpired `home_care` delegation to the account's person, today
--    (delegated_principals, the one rule of delegations); else 40001 and the request
--    runs again, reading afresh;
-- 2. the idempotency record, with the sealed answer (idempotency_store);
-- 3. what the request read is still so: the offering's price and duration, and
--    the caregiver it chose (home_care_choice). Under the caregiver's row lock (the
--    lock every booking and every change of the caregiver takes): the row's
--    `version` (skills, hours, activity) and `lock_seq` (leave) are as read, and
--    the visit is still clear of the caregiver's other visits (home_care_clear),
--    whatever committed meanwhile. Any difference is 40001 and the request runs
--    again, choosing anew;
-- 4. the visit (`p_booking`: home_care_booking's columns), the audit row and the
--    outbox event (record_writes).
-- Any refusal raises, so nothing of the booking is kept. The exclusion constraint
-- on the caregiver's time backs step 3.
CREATE OR REPLACE FUNCTION public.home_care_book(
  p_owner varchar, p_identity_required boolean,
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text,
  p_idem_expires timestamptz,
  p_provider varchar, p_service varchar, p_price integer, p_duration integer,
  p_caregiver_version integer, p_caregiver_lock_seq integer,
  p_booking json, p_audits json, p_events json)
RETURNS void LANGUAGE plpgsql
-- Generic plans and index look-ups only, as marriage_book (its comment says why).
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
  v_caregiver varchar := p_booking ->> 'caregiver_id';
  v_start timestamptz := (p_booking ->> 'starts_at')::timestamptz;
  v_end timestamptz := (p_booking ->> 'ends_at')::timestamptz;
  v_blocked_until timestamptz := (p_booking ->> 'blocked_until')::timestamptz;
  v_delegation varchar := p_booking ->> 'delegation_id';
BEGIN
  PERFORM citizen_acts_for(p_owner, NULL, p_identity_required);
  IF v_delegation IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM citizen_identity AS i
      CROSS JOIN LATERAL delegated_principals(
        i.id_blind_index, 'home_care',
        ((p_booking ->> 'created_at')::timestamptz AT TIME ZONE 'Asia/Shanghai')::date) AS d
      WHERE i.subject = p_owner AND d.delegation_id = v_delegation
        AND d.principal_blind = p_booking ->> 'elder_id_blind') THEN
    RAISE EXCEPTION 'the delegation changed' USING ERRCODE = '40001';
  END IF;
  PERFORM idempotency_store(p_scope, p_key, p_request_hash, p_status, p_body,
                            (p_booking ->> 'created_at')::timestamptz, p_idem_expires);

  IF NOT EXISTS (SELECT 1 FROM home_care_offering AS o
                 WHERE o.provider_id = p_provider AND o.service_code = p_service
                   AND o.price_fen = p_price AND o.duration_minutes = p_duration) THEN
    RAISE EXCEPTION 'the offering changed' USING ERRCODE = '40001';
  END IF;
  PERFORM 1 FROM home_care_caregiver AS c
  WHERE c.id = v_caregiver AND c.active AND c.version = p_caregiver_version
    AND c.lock_seq = p_caregiver_lock_seq
  FOR NO KEY UPDATE;
  IF NOT FOUND OR NOT home_care_clear(
      v_start, v_end, v_blocked_until,
      (SELECT coalesce(range_agg(tstzrange(b.starts_at, b.blocked_until)), '{}')
       FROM home_care_booking AS b
       WHERE b.caregiver_id = v_caregiver
         AND b.status IN ('booked', 'in_service', 'completed')
         AND b.starts_at < v_blocked_until AND b.blocked_until > v_start),
      '{}') THEN
    RAISE EXCEPTION 'the caregiver is no longer free' USING ERRCODE = '40001';
  END IF;

  INSERT INTO home_care_booking
  SELECT * FROM json_populate_record(NULL::home_care_booking, p_booking);
  PERFORM record_writes(p_audits, p_events);
END $$;
