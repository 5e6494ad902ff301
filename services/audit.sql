-- The audit trail's chain in the database (services.audit). A row is written
-- pending (a negative `seq`, no hash: no write waits on the chain's head), and
-- `audit_link` makes pending rows the next links, in the order they were written,
-- in batches. The canonical text a link hashes is `core.auditchain`'s, the same
-- that `huimin audit verify` recomputes: `{canonical:r}` below stands for it, over
-- the row variable named after the colon.

-- Every row is written pending: its chain columns are the trigger's, not the
-- writer's.
CREATE OR REPLACE FUNCTION public.audit_event_chain()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.seq := -nextval('audit_event_pending_seq');
  NEW.prev_hash := '';
  NEW.hash := '';
  RETURN NEW;
END $$;

-- Append-only: no row is ever changed or deleted, except by `audit_link` turning a
-- pending row into a link (its own columns unchanged).
CREATE OR REPLACE FUNCTION public.audit_event_append_only()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('huimin.audit_link', true) = 'on'
     AND OLD.seq < 0 AND NEW.seq > 0
     AND OLD.id IS NOT DISTINCT FROM NEW.id AND OLD.at IS NOT DISTINCT FROM NEW.at
     AND OLD.actor_kind IS NOT DISTINCT FROM NEW.actor_kind
     AND OLD.actor_id IS NOT DISTINCT FROM NEW.actor_id
     AND OLD.actor_role IS NOT DISTINCT FROM NEW.actor_role
     AND OLD.org_id IS NOT DISTINCT FROM NEW.org_id
     AND OLD.action IS NOT DISTINCT FROM NEW.action
     AND OLD.object_type IS NOT DISTINCT FROM NEW.object_type
     AND OLD.object_id IS NOT DISTINCT FROM NEW.object_id
     AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome
     AND OLD.request_id IS NOT DISTINCT FROM NEW.request_id
     AND OLD.client_addr IS NOT DISTINCT FROM NEW.client_addr
     AND OLD.delegation_id IS NOT DISTINCT FROM NEW.delegation_id THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only';
END $$;

-- Link up to `p_limit` pending rows; how many. 0 at once while another linker
-- holds the head.
CREATE OR REPLACE FUNCTION public.audit_link(p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  h_seq bigint;
  h_hash varchar;
  r audit_event%ROWTYPE;
  n integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_chain_head WHERE id = 1) THEN
    -- No head (a table emptied by its owner): the last linked row's.
    INSERT INTO audit_chain_head (id, seq, hash)
      SELECT 1, coalesce(max(seq), 0), coalesce(
        (SELECT e.hash FROM audit_event e WHERE e.seq > 0 ORDER BY e.seq DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000')
      FROM audit_event WHERE seq > 0
      ON CONFLICT (id) DO NOTHING;
  END IF;
  SELECT seq, hash INTO h_seq, h_hash FROM audit_chain_head WHERE id = 1
    FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN 0;  -- another linker holds it
  END IF;
  PERFORM set_config('huimin.audit_link', 'on', true);
  FOR r IN SELECT * FROM audit_event WHERE seq < 0 ORDER BY seq DESC LIMIT p_limit LOOP
    r.seq := h_seq + 1;
    r.prev_hash := h_hash;
    r.hash := encode(sha256(convert_to({canonical:r}, 'UTF8')), 'hex');
    UPDATE audit_event SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash
      WHERE id = r.id;
    h_seq := r.seq;
    h_hash := r.hash;
    n := n + 1;
  END LOOP;
  PERFORM set_config('huimin.audit_link', 'off', true);
  IF n > 0 THEN
    UPDATE audit_chain_head SET seq = h_seq, hash = h_hash WHERE id = 1;
  END IF;
  RETURN n;
END $$;

CREATE TRIGGER audit_event_chain BEFORE INSERT ON public.audit_event
  FOR EACH ROW EXECUTE FUNCTION public.audit_event_chain();

CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON public.audit_event
  FOR EACH ROW EXECUTE FUNCTION public.audit_event_append_only();
