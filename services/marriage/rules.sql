-- The marriage rules that look at the people and the office's day, shared by the
-- one-statement writes `marriage_book` (first-come booking) and
-- `marriage_lottery_enter` (lottery entries), and by the draw (services.marriage).
-- (PL/pgSQL throughout: the plans are kept per session; services/citizens.sql says
-- why.)

-- The no-show suspension (DOMAIN.md 1): `p_limit` no-shows within `p_window_days`
-- suspend a person for `p_suspension_days` from the last of them. The end of the
-- longest suspension of any of the people that still runs at `p_now`, or NULL.
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
END $$;

-- The same, raised inside a write: SQLSTATE HMNS1, 422 `booking_suspended`, the
-- suspension's end (ISO 8601) as DETAIL.
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
END $$;

-- One active appointment per person (DOMAIN.md 1): the primary key of
-- marriage_party_hold, one row per person while their appointment is booked, live
-- until `expires_at` (the session's end; cancellation and the office's moves
-- delete it sooner). Takes the people's holds for appointment `p_appt`, a dead
-- hold replaced; a live one of anyone's is SQLSTATE HMPH1, 409
-- `party_has_active_appointment`, the blind indexes held as DETAIL (comma-separated).
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
END $$;

-- The same rule, read only (an entry takes no hold): HMPH1 if any of the people
-- holds a live appointment now.
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
END $$;

-- What a write read of the office's day is still what the office has: the
-- schedule's version, the day's closure and special sessions. Takes the office's
-- schedule lock shared for the rest of the write (every schedule, closure,
-- special-day or lottery change takes it exclusive: services.marriage.schedules),
-- so nothing changes under the write. A difference is SQLSTATE 40001: the request
-- runs again from a fresh read.
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
END $$;
