-- The provider directory's one copied fact: an offering row carries its provider's
-- position (`home_care_offering.pos` = `organisation.pos`), so that the GiST index on
-- (service_code, pos) finds "the nearest providers of this service" in one ordered
-- scan (services/home_care/providers.py). These two triggers are the only writers
-- of that column, so the copy holds whoever writes: the API, `huimin demo`, a
-- restore, a bulk load.

-- An offering takes its provider's position when it is written (a new offering, or
-- a statement that names `pos` or `provider_id`: whatever it says, the position is
-- the organisation's).
CREATE OR REPLACE FUNCTION public.home_care_offering_pos()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.pos := (SELECT o.pos FROM organisation AS o WHERE o.id = NEW.provider_id);
  RETURN NEW;
END $$;

-- A provider that moves (its `lat` or `lon` changed) moves its offerings with it,
-- in the same statement.
CREATE OR REPLACE FUNCTION public.home_care_offering_follow()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE home_care_offering SET pos = NEW.pos WHERE provider_id = NEW.id;
  RETURN NULL;
END $$;

CREATE TRIGGER home_care_offering_pos BEFORE INSERT OR UPDATE OF provider_id, pos
  ON public.home_care_offering
  FOR EACH ROW EXECUTE FUNCTION public.home_care_offering_pos();

CREATE TRIGGER home_care_offering_follow AFTER UPDATE OF lat, lon ON public.organisation
  FOR EACH ROW WHEN (OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon)
  EXECUTE FUNCTION public.home_care_offering_follow();
