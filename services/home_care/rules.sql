-- When a caregiver can take a visit (DOMAIN.md section 3), decided here and nowhere
-- else: the availability read (services.home_care.bookings.availability), the
-- booking (home_care_book) and a change of a caregiver's skills, hours or leave
-- (services.home_care.caregivers, which finds the visits the change strands) all ask
-- these functions.
--
-- A visit of `p_duration` minutes from `t` fits a caregiver when:
-- - the caregiver has the skill (home_care_skilled);
-- - the whole visit, [t, t + duration), lies inside the caregiver's working time
--   (home_care_within): the windows of `weekly_hours`, China time (Asia/Shanghai),
--   as minutes of the week (home_care_week_minutes);
-- - it is clear (home_care_clear) of the caregiver's leave, and of every other visit
--   that holds the caregiver's time, the travel buffer included on both sides: a
--   visit holds [starts_at, blocked_until) (its end plus the buffer in force when it
--   was booked), and the new one would hold [t, t + duration + buffer). That is the
--   exclusion constraint of home_care_booking, which backs it.
-- Start times are on the day's grid of `p_grid` minutes from local midnight
-- (China keeps no daylight saving time: a local day is 24 hours).

-- The skill rule.
CREATE OR REPLACE FUNCTION public.home_care_skilled(p_skills json, p_service varchar)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_skills::jsonb ? p_service
$$;

-- A caregiver's weekly hours (`weekly_hours`: [{"weekday": 1-7, "start": "HH:MM",
-- "end": "HH:MM"}], China time) as minutes of the week from Monday 00:00: what
-- home_care_caregiver.week_minutes stores (a generated column), so that no
-- request parses the JSON again. Windows that touch make one stretch of work.
CREATE OR REPLACE FUNCTION public.home_care_week_minutes(p_weekly_hours json)
RETURNS int4multirange LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(range_agg(int4range(
           ((w ->> 'weekday')::integer - 1) * 1440
             + split_part(w ->> 'start', ':', 1)::integer * 60
             + split_part(w ->> 'start', ':', 2)::integer,
           ((w ->> 'weekday')::integer - 1) * 1440
             + split_part(w ->> 'end', ':', 1)::integer * 60
             + split_part(w ->> 'end', ':', 2)::integer)), '{}')
  FROM json_array_elements(p_weekly_hours) AS w
$$;

-- The minute of the week (from Monday 00:00, China time) of an instant.
CREATE OR REPLACE FUNCTION public.home_care_minute_of_week(p_at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((extract(isodow FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer - 1) * 1440
          + extract(hour FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer * 60
          + extract(minute FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer)
$$;

-- The working-time rule: a visit of `p_duration` minutes from minute `p_minute` of
-- the week lies wholly inside the caregiver's working time (`p_week`,
-- home_care_week_minutes).
CREATE OR REPLACE FUNCTION public.home_care_within(
  p_week int4multirange, p_minute integer, p_duration integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT int4range(p_minute, p_minute + p_duration) <@ p_week
$$;

-- The clash rule: the visit [p_start, p_end), holding the caregiver until
-- p_blocked_until (its end plus the travel buffer), touches neither another visit's
-- held time (`p_busy`) nor the caregiver's leave (`p_leave`).
CREATE OR REPLACE FUNCTION public.home_care_clear(
  p_start timestamptz, p_end timestamptz, p_blocked_until timestamptz,
  p_busy tstzmultirange, p_leave tstzmultirange)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT NOT (tstzrange(p_start, p_blocked_until) && p_busy)
     AND NOT (tstzrange(p_start, p_end) && p_leave)
$$;

-- Every (caregiver, start) of provider `p_provider`'s active caregivers with skill
-- `p_service` (only `p_caregiver`, when given) at which a visit of `p_duration`
-- minutes fits, for the grid starts of local day `p_day` from `p_from` to `p_to`.
-- One query (inlined into its caller's plan): the visits and leave of the
-- provider's caregivers around those starts are read in one pass each (by provider
-- and time) and gathered per caregiver (`staff`), the grid is computed once
-- (`grid`), then each caregiver and start is tested (materialised, so that nothing
-- is computed again per pair).
CREATE OR REPLACE FUNCTION public.home_care_fitting(
  p_provider varchar, p_service varchar, p_caregiver varchar, p_day date,
  p_duration integer, p_buffer integer, p_grid integer,
  p_from timestamptz, p_to timestamptz)
RETURNS TABLE (caregiver_id varchar, starts_at timestamptz)
LANGUAGE sql STABLE AS $$
  WITH busy AS MATERIALIZED (
    SELECT b.caregiver_id, range_agg(tstzrange(b.starts_at, b.blocked_until)) AS held
    FROM home_care_booking AS b
    WHERE b.provider_id = p_provider
      AND (p_caregiver IS NULL OR b.caregiver_id = p_caregiver)
      AND b.visit_date BETWEEN p_day - 1 AND p_day + 1
      AND b.status IN ('booked', 'in_service', 'completed')
      AND b.starts_at < p_to + make_interval(mins => p_duration + p_buffer)
      AND b.blocked_until > p_from
    GROUP BY b.caregiver_id),
  leave AS MATERIALIZED (
    SELECT o.caregiver_id, range_agg(tstzrange(o.starts_at, o.ends_at)) AS away
    FROM home_care_time_off AS o
    WHERE o.provider_id = p_provider
      AND (p_caregiver IS NULL OR o.caregiver_id = p_caregiver)
      AND o.starts_at < p_to + make_interval(mins => p_duration) AND o.ends_at > p_from
    GROUP BY o.caregiver_id),
  staff AS MATERIALIZED (
    SELECT c.id, c.week_minutes, coalesce(v.held, '{}') AS held,
           coalesce(l.away, '{}') AS away
    FROM home_care_caregiver AS c
    LEFT JOIN busy AS v ON v.caregiver_id = c.id
    LEFT JOIN leave AS l ON l.caregiver_id = c.id
    WHERE c.provider_id = p_provider AND c.active
      AND (p_caregiver IS NULL OR c.id = p_caregiver)
      AND home_care_skilled(c.skills, p_service)),
  -- The day's grid starts from `p_from` to `p_to`, each as a minute of the week
  -- (`m`; the day's first minute is its weekday's midnight) and as instants: the
  -- start, the end, and the end of the travel buffer after it.
  grid AS MATERIALIZED (
    SELECT g.m, g.t, g.t + make_interval(mins => p_duration) AS t_end,
           g.t + make_interval(mins => p_duration + p_buffer) AS t_blocked
    FROM (SELECT m.m, d.midnight + make_interval(mins => m.m - d.first) AS t
          FROM (SELECT p_day::timestamp AT TIME ZONE 'Asia/Shanghai' AS midnight,
                       (extract(isodow FROM p_day)::integer - 1) * 1440 AS first) AS d
          CROSS JOIN generate_series(d.first, d.first + 1440 - p_duration, p_grid) AS m(m)
         ) AS g
    WHERE g.t BETWEEN p_from AND p_to)
  SELECT s.id, g.t
  FROM staff AS s CROSS JOIN grid AS g
  WHERE home_care_within(s.week_minutes, g.m, p_duration)
    AND home_care_clear(g.t, g.t_end, g.t_blocked, s.held, s.away)
$$;

-- What booking reads before it writes (services.home_care.bookings.book): the
-- offering's price and duration (no row: no such offering), and the caregiver a
-- visit from `p_start` is given (null: nobody is free), with the caregiver row's
-- `version` and `lock_seq` as read (home_care_book checks that they are unchanged).
-- Among the caregivers the visit fits (only `p_caregiver` when the family asked
-- for one), the least booked that local day (visits holding time that start that
-- day), ties by id, so work is spread fairly. PL/pgSQL with a generic plan, as
-- home_care_availability.
CREATE OR REPLACE FUNCTION public.home_care_choice(
  p_provider varchar, p_service varchar, p_caregiver varchar, p_day date,
  p_buffer integer, p_grid integer, p_start timestamptz)
RETURNS TABLE (price_fen integer, duration_minutes integer, caregiver_id varchar,
               caregiver_name varchar, caregiver_version integer, caregiver_lock_seq integer)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN QUERY
  SELECT o.price_fen, o.duration_minutes, f.id, f.name, f.version, f.lock_seq
  FROM home_care_offering AS o
  LEFT JOIN LATERAL (
    SELECT c.id, c.name, c.version, c.lock_seq
    FROM home_care_fitting(p_provider, p_service, p_caregiver, p_day, o.duration_minutes,
                           p_buffer, p_grid, p_start, p_start) AS fit
    JOIN home_care_caregiver AS c ON c.id = fit.caregiver_id
    LEFT JOIN (SELECT b.caregiver_id, count(*) AS visits
               FROM home_care_booking AS b
               WHERE b.provider_id = p_provider AND b.visit_date = p_day
                 AND b.status IN ('booked', 'in_service', 'completed')
               GROUP BY b.caregiver_id) AS load ON load.caregiver_id = c.id
    ORDER BY coalesce(load.visits, 0), c.id
    LIMIT 1) AS f ON true
  WHERE o.provider_id = p_provider AND o.service_code = p_service;
END $$;

-- The availability read (services.home_care.bookings.availability): the offering's
-- price and duration, and the grid starts of local day `p_day` from `p_from` to
-- `p_to` at which at least one caregiver is free (home_care_fitting); no row: no
-- such offering. PL/pgSQL with a generic plan: planning the inlined query cost
-- more than running it.
CREATE OR REPLACE FUNCTION public.home_care_availability(
  p_provider varchar, p_service varchar, p_day date, p_buffer integer, p_grid integer,
  p_from timestamptz, p_to timestamptz)
RETURNS TABLE (price_fen integer, duration_minutes integer, starts timestamptz[])
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN QUERY
  SELECT o.price_fen, o.duration_minutes,
    ARRAY(SELECT DISTINCT f.starts_at
          FROM home_care_fitting(p_provider, p_service, NULL, p_day, o.duration_minutes,
                                 p_buffer, p_grid, p_from, p_to) AS f
          ORDER BY 1)
  FROM home_care_offering AS o
  WHERE o.provider_id = p_provider AND o.service_code = p_service;
END $$;
