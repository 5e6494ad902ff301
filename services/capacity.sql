-- Capacity (services.capacity): a slot's row, made when first needed, and units
-- taken with one conditional UPDATE; the CHECK (booked <= capacity) backs it.
-- (PL/pgSQL: the plans are kept per session; services/citizens.sql says why.)

-- The slot's row if it has none yet (concurrency-safe; an existing row is not
-- locked). Looked for first: it exists for every booking but a session's first, and
-- a look-up costs less than an insert that conflicts.
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
END $$;

-- Take `p_units`; what remains, or NULL when they are not there (or there is no
-- such slot): 409 `slot_full`. The row's lock is held to the end of the transaction.
CREATE OR REPLACE FUNCTION public.capacity_take(p_slot varchar, p_units integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_left integer;
BEGIN
  UPDATE capacity_slot SET booked = booked + p_units
    WHERE id = p_slot AND booked + p_units <= capacity
    RETURNING capacity - booked INTO v_left;
  RETURN v_left;
END $$;

-- The same inside a one-statement write, which must keep nothing when it is
-- refused: raises SQLSTATE HMSF1.
CREATE OR REPLACE FUNCTION public.capacity_take_or_raise(p_slot varchar, p_units integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_left integer := capacity_take(p_slot, p_units);
BEGIN
  IF v_left IS NULL THEN
    RAISE EXCEPTION 'no capacity left' USING ERRCODE = 'HMSF1';
  END IF;
  RETURN v_left;
END $$;
