"""a lottery entry in one statement: the PostgreSQL function `marriage_lottery_enter`

An entry on PostgreSQL read the lottery `FOR SHARE` (so that the draw's UPDATE
waited for the entries in flight) and held that lock over four more round trips
and the COMMIT. Every entry of a popular date shares the one lottery row's lock,
and a row share-locked by many transactions at once costs PostgreSQL a new
MultiXact each time (the schedule row of 0013 showed it first). Now the entry
reads without a lock and writes in one call, outside any transaction block:

1. the idempotency record with the sealed answer (an earlier record of the key:
   `HMIF1`, and the request looks it up and replays);
2. the lottery's lock, shared: a transaction-level advisory lock on
   `marriage_lottery:<id>`, which the draw and the cancellation take exclusive
   before they change the lottery's status (`services.marriage.lottery`); then a
   re-check, under it and with a fresh snapshot, that the lottery is still
   `scheduled` and open at `p_now` (else SQLSTATE 40001: the request runs again
   and is refused by what it then reads);
3. the entry, its entrants (one per person per lottery: the unique index, 23505)
   and the audit row.

SQLite is not touched (its writer's transaction holds everything still).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 07:05:00+00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE FUNCTION marriage_lottery_enter(
  p_scope varchar, p_key varchar, p_request_hash varchar, p_status integer,
  p_body text, p_idem_expires timestamptz,
  p_entry varchar, p_lottery varchar, p_owner varchar, p_kind varchar, p_prefs text,
  p_now timestamptz,
  p_party_ids varchar[], p_names varchar[], p_enc varchar[], p_blinds varchar[],
  p_masked varchar[], p_phone_enc varchar[], p_phone_masked varchar[],
  p_audit_id varchar, p_actor_kind varchar, p_actor_id varchar, p_actor_role varchar,
  p_org varchar, p_request_id varchar
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_key IS NOT NULL THEN
    INSERT INTO idempotency_record (scope, key, request_hash, response_status,
                                    response_body, created_at, expires_at)
    VALUES (p_scope, p_key, p_request_hash, p_status, p_body, p_now, p_idem_expires)
    ON CONFLICT (scope, key) DO NOTHING;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'idempotency key in flight' USING ERRCODE = 'HMIF1';
    END IF;
  END IF;

  PERFORM pg_advisory_xact_lock_shared(hashtextextended('marriage_lottery:' || p_lottery, 0));
  PERFORM 1 FROM marriage_lottery AS l
    WHERE l.id = p_lottery AND l.status = 'scheduled'
      AND l.entries_open_at <= p_now AND p_now < l.entries_close_at;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the lottery changed' USING ERRCODE = '40001';
  END IF;

  INSERT INTO marriage_lottery_entry (id, lottery_id, owner_subject, kind,
    session_preferences, status, created_at)
  VALUES (p_entry, p_lottery, p_owner, p_kind, CAST(p_prefs AS json), 'entered', p_now);

  INSERT INTO marriage_lottery_entrant (id, entry_id, lottery_id, position, name,
    id_number_encrypted, id_blind_index, id_number_masked, phone_encrypted, phone_masked)
  SELECT p.id, p_entry, p_lottery, p.n - 1, p.name, p.enc, p.blind, p.masked, p.phone_enc,
    p.phone_masked
  FROM unnest(p_party_ids, p_names, p_enc, p_blinds, p_masked, p_phone_enc, p_phone_masked)
    WITH ORDINALITY AS p(id, name, enc, blind, masked, phone_enc, phone_masked, n);

  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,
                           object_type, object_id, outcome, request_id)
  VALUES (p_audit_id, p_now, p_actor_kind, p_actor_id, p_actor_role, p_org,
          'marriage_lottery_entry.create', 'marriage_lottery_entry', p_entry, 'success',
          p_request_id);
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_lottery_enter")
