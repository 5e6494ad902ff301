-- Delegation (代办, API.md "Delegation"): which principals a delegate acts for in a
-- service, decided here and nowhere else (services.delegations). A delegation
-- counts while it is `active` and `p_today` (a China date) is not past its
-- `expires_on` (inclusive), and only in the services its `scopes` name. Pending,
-- declined, revoked and expired ones give nothing.
--
-- The scope rule of every record naming a person (services.scopes
-- `own_party_or_delegated`: `person IN (SELECT principal_blind FROM ...)`), the
-- delegation a create or an action went through (its `delegation_id`), and the
-- home-care booking's one-statement write (home_care_book) all ask this function.
-- `LANGUAGE sql STABLE`, one SELECT: the planner inlines it into the query that
-- asks, so the scope's condition uses `ix_delegation_delegate_active`.
CREATE OR REPLACE FUNCTION public.delegated_principals(
  p_delegate varchar, p_scope varchar, p_today date)
RETURNS TABLE (principal_blind varchar, delegation_id varchar)
LANGUAGE sql STABLE AS $$
  SELECT d.principal_id_blind, d.id FROM delegation AS d
  WHERE d.delegate_id_blind = p_delegate AND d.status = 'active'
    AND d.expires_on >= p_today AND p_scope = ANY (d.scopes)
$$;
