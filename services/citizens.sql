-- The identity rules of a citizen's write (API.md "Real-name identity"), decided
-- here and nowhere else (services.citizens):
-- - an account no verifier has bound writes nothing while identity is required
--   (`identity_not_verified`, 403);
-- - a bound account acts for its own person: when the write names people
--   (`p_blinds`, their identity numbers' blind indexes), its person must be one
--   of them (`applicant_not_a_party`, 422).
-- NULL when the write may go ahead. `p_blinds` NULL: the write names nobody.
-- (PL/pgSQL, like every helper the hot writes call: its plan is kept per session,
-- where a `LANGUAGE sql` function is planned again on every call before PostgreSQL 18.)
CREATE OR REPLACE FUNCTION public.citizen_refusal(
  p_subject varchar, p_blinds varchar[], p_required boolean)
RETURNS varchar LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_bound varchar;
BEGIN
  SELECT c.id_blind_index INTO v_bound FROM citizen_identity AS c WHERE c.subject = p_subject;
  IF v_bound IS NULL AND p_required THEN
    RETURN 'identity_not_verified';
  END IF;
  IF v_bound IS NOT NULL AND p_blinds IS NOT NULL AND NOT (v_bound = ANY (p_blinds)) THEN
    RETURN 'applicant_not_a_party';
  END IF;
  RETURN NULL;
END $$;

-- The same, raised inside a write (SQLSTATE HMIV1 / HMAP1), so that nothing of it
-- is kept.
CREATE OR REPLACE FUNCTION public.citizen_acts_for(
  p_subject varchar, p_blinds varchar[], p_required boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_refusal varchar := citizen_refusal(p_subject, p_blinds, p_required);
BEGIN
  IF v_refusal = 'identity_not_verified' THEN
    RAISE EXCEPTION 'the account has no verified identity' USING ERRCODE = 'HMIV1';
  ELSIF v_refusal = 'applicant_not_a_party' THEN
    RAISE EXCEPTION 'the account''s person is not a party' USING ERRCODE = 'HMAP1';
  END IF;
END $$;
