-- A hot command refused, settled in one statement (services.commands.settle): the
-- last step of a one-statement write's request (api.hotpath), whatever refused it.
--
-- 1. the account's identity rules first, when the write that checks them never ran
--    (`p_identity_check`): a refusal of theirs stands instead (`instead`);
-- 2. the key's record: a request refused now may be the retry of one that was
--    answered (its first answer is replayed), or came with another body (reused);
--    an account refused for having no verified identity is not looked up;
-- 3. else the refusal's audit row (`p_audits`, one row; its outcome names the
--    refusal that stands).
CREATE OR REPLACE FUNCTION public.command_refused(
  p_scope varchar, p_key varchar, p_code varchar, p_audits json,
  p_subject varchar, p_identity_check boolean, p_identity_required boolean,
  p_blinds varchar[],
  OUT instead varchar, OUT request_hash varchar, OUT response_status integer,
  OUT response_body text, OUT expires_at timestamptz)
RETURNS record LANGUAGE plpgsql AS $$
BEGIN
  IF p_identity_check THEN
    instead := citizen_refusal(p_subject, p_blinds, p_identity_required);
  END IF;
  IF p_key IS NOT NULL AND coalesce(instead, p_code) <> 'identity_not_verified' THEN
    SELECT r.request_hash, r.response_status, r.response_body, r.expires_at
      INTO request_hash, response_status, response_body, expires_at
      FROM idempotency_record AS r WHERE r.scope = p_scope AND r.key = p_key;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  IF p_audits IS NOT NULL THEN
    PERFORM record_writes(CASE WHEN instead IS NULL THEN p_audits ELSE json_build_array(
      (p_audits -> 0)::jsonb || jsonb_build_object('outcome', 'refused:' || instead)) END,
      NULL);
  END IF;
END $$;
