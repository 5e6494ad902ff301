-- The provider directory's copied facts: an offering row carries its provider's place
-- (`home_care_offering.pos` = `organisation.pos`, `.division_code` = the
-- organisation's), so that the GiST index on (service_code, pos, division_code) finds
-- "the nearest providers of this service, in this division" in one ordered scan
-- (services/home_care/providers.py). These two triggers are the only writers of
-- those columns, so the copy holds whoever writes: the API, `huimin demo`, a bulk
-- load.

-- An offering takes its provider's place when it is written (a new offering, or a
-- statement that names `provider_id`, `pos` or `division_code`: whatever it says,
-- the place is the organisation's).
CREATE OR REPLACE FUNCTION public.home_care_offering_place()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT o.pos, o.division_code INTO NEW.pos, NEW.division_code
    FROM organisation AS o WHERE o.id = NEW.provider_id;
  RETURN NEW;
END $$;

-- A provider that moves (its `lat`, `lon` or `division_code` changed) moves its
-- offerings with it, in the same statement: naming `provider_id` fires
-- home_care_offering_place on each of them, which takes the place anew.
CREATE OR REPLACE FUNCTION public.home_care_offering_follow()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE home_care_offering SET provider_id = provider_id WHERE provider_id = NEW.id;
  RETURN NULL;
END $$;

CREATE TRIGGER home_care_offering_place
  BEFORE INSERT OR UPDATE OF provider_id, pos, division_code ON public.home_care_offering
  FOR EACH ROW EXECUTE FUNCTION public.home_care_offering_place();

CREATE TRIGGER home_care_offering_follow
  AFTER UPDATE OF lat, lon, division_code ON public.organisation
  FOR EACH ROW WHEN (OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon
                     OR OLD.division_code IS DISTINCT FROM NEW.division_code)
  EXECUTE FUNCTION public.home_care_offering_follow();
