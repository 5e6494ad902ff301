"""Home care's rules and booking as SQL functions: when a caregiver can take a visit
(`home_care_skilled`, `home_care_week_minutes`, `home_care_minute_of_week`,
`home_care_within`, `home_care_clear`,
`home_care_fitting`, `home_care_choice`: services/home_care/rules.sql) and
`home_care_caregiver.week_minutes`, a caregiver's weekly hours as minutes of the week,
computed by `home_care_week_minutes` from `weekly_hours`, and the booking in one statement
(`home_care_book`: services/home_care/home_care_book.sql), in their whole text as of
this revision. The availability read, the booking and a change of a caregiver all ask
them; the Python copies of those rules are gone.

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-06 23:40:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# services/home_care/rules.sql and home_care_book.sql as of this revision, whole, one
# statement each, sent as they are (`exec_driver_sql`: no bind parameters).
FUNCTIONS = (
    r'''
CREATE OR REPLACE FUNCTION public.home_care_skilled(p_skills json, p_service varchar)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_skills::jsonb ? p_service
$$;
''',
    r'''
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
''',
    r'''
CREATE OR REPLACE FUNCTION public.home_care_minute_of_week(p_at timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((extract(isodow FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer - 1) * 1440
          + extract(hour FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer * 60
          + extract(minute FROM p_at AT TIME ZONE 'Asia/Shanghai')::integer)
$$;
''',
    r'''
CREATE OR REPLACE FUNCTION public.home_care_within(
  p_week int4multirange, p_minute integer, p_duration integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT int4range(p_minute, p_minute + p_duration) <@ p_week
$$;
''',
    r'''
CREATE OR REPLACE FUNCTION public.home_care_clear(
  p_start timestamptz, p_end timestamptz, p_blocked_until timestamptz,
  p_busy tstzmultirange, p_leave tstzmultirange)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT NOT (tstzrange(p_start, p_blocked_until) && p_busy)
     AND NOT (tstzrange(p_start, p_end) && p_leave)
$$;
''',
    r'''
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
''',
    r'''
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
''',
    r'''
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
''',
    r'''
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
BEGIN
  PERFORM citizen_acts_for(p_owner, NULL, p_identity_required);
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
''',
)

DROP_FUNCTIONS = (
    "DROP FUNCTION public.home_care_book( p_owner varchar, p_identity_required boolean, p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text, p_idem_expires timestamptz, p_provider varchar, p_service varchar, p_price integer, p_duration integer, p_caregiver_version integer, p_caregiver_lock_seq integer, p_booking json, p_audits json, p_events json)",
    "DROP FUNCTION public.home_care_availability( p_provider varchar, p_service varchar, p_day date, p_buffer integer, p_grid integer, p_from timestamptz, p_to timestamptz)",
    "DROP FUNCTION public.home_care_choice( p_provider varchar, p_service varchar, p_caregiver varchar, p_day date, p_buffer integer, p_grid integer, p_start timestamptz)",
    "DROP FUNCTION public.home_care_fitting( p_provider varchar, p_service varchar, p_caregiver varchar, p_day date, p_duration integer, p_buffer integer, p_grid integer, p_from timestamptz, p_to timestamptz)",
    "DROP FUNCTION public.home_care_clear( p_start timestamptz, p_end timestamptz, p_blocked_until timestamptz, p_busy tstzmultirange, p_leave tstzmultirange)",
    "DROP FUNCTION public.home_care_within( p_week int4multirange, p_minute integer, p_duration integer)",
    "DROP FUNCTION public.home_care_minute_of_week(p_at timestamptz)",
    "DROP FUNCTION public.home_care_week_minutes(p_weekly_hours json)",
    "DROP FUNCTION public.home_care_skilled(p_skills json, p_service varchar)",
)


# The caregiver's hours as minutes of the week: computed by home_care_week_minutes
# (created first), read by the functions created after it.
WEEK_MINUTES_AFTER = 2


def upgrade() -> None:
    conn = op.get_bind()
    for statement in FUNCTIONS[:WEEK_MINUTES_AFTER]:
        conn.exec_driver_sql(statement)
    op.add_column("home_care_caregiver", sa.Column(
        "week_minutes", postgresql.INT4MULTIRANGE(),
        sa.Computed("home_care_week_minutes(weekly_hours)", persisted=True), nullable=True))
    for statement in FUNCTIONS[WEEK_MINUTES_AFTER:]:
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    conn = op.get_bind()
    for statement in DROP_FUNCTIONS[:-WEEK_MINUTES_AFTER]:
        conn.exec_driver_sql(statement)
    op.drop_column("home_care_caregiver", "week_minutes")
    for statement in DROP_FUNCTIONS[-WEEK_MINUTES_AFTER:]:
        conn.exec_driver_sql(statement)
