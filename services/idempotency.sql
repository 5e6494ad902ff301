-- The idempotency record of a write (services.idempotency), stored in the write's
-- own transaction: a record already there for the same caller and key means
-- another request with that key ran first or is running (SQLSTATE HMIF1, 409
-- `idempotency_in_flight`; its retry replays the first answer). No key: nothing.
CREATE OR REPLACE FUNCTION public.idempotency_store(
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer, p_body text,
  p_now timestamptz, p_expires timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_key IS NULL THEN
    RETURN;
  END IF;
  INSERT INTO idempotency_record (scope, key, request_hash, response_status, response_body,
                                  created_at, expires_at)
  VALUES (p_scope, p_key, p_request_hash, p_status, p_body, p_now, p_expires)
  ON CONFLICT (scope, key) DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'idempotency key in flight' USING ERRCODE = 'HMIF1';
  END IF;
END $$;
