"""marriage_book and marriage_lottery_enter check the account's real-name identity

A booking or a lottery entry on PostgreSQL used to read the account's identity
(`citizen_identity`) in a round trip of its own before anything else, on every
request. The hot lane (`api.hotpath`) now leaves it to the write: with
`p_identity_check` each function calls `citizen_acts_for` first, before the
idempotency record, which reads the account's bound person and refuses as the
request's own checks would have:

- no bound person while `p_identity_required` (HUIMIN_CITIZEN_IDENTITY_REQUIRED):
  SQLSTATE `HMIV1`, 403 `identity_not_verified`;
- a bound person who is not one of the parties (`p_blinds`): SQLSTATE `HMAP1`,
  422 `applicant_not_a_party`.

Without `p_identity_check` (the caller read the identity already) nothing of this
runs. The rest of each function is as 0015 and 0016 left it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:00:00+00:00
"""
import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOOK_BEFORE = importlib.import_module(
    "migrations.versions.20261202_0015_marriage_book_cached_read")._FUNCTION  # noqa: SLF001
_ENTER_BEFORE = importlib.import_module(
    "migrations.versions.20261202_0016_marriage_lottery_enter_function")._FUNCTION  # noqa: SLF001


def _edit(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:  # the frozen text of 0015 is what this edits
        raise RuntimeError(f"0017: {old!r} not found once in the function it edits")
    return text.replace(old, new)


# One check for both writes: raises as the request's own checks would have.
_ACTS_FOR = """
CREATE FUNCTION citizen_acts_for(p_subject varchar, p_blinds varchar[], p_required boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_bound varchar;
BEGIN
  SELECT c.id_blind_index INTO v_bound FROM citizen_identity AS c WHERE c.subject = p_subject;
  IF v_bound IS NULL AND p_required THEN
    RAISE EXCEPTION 'the account has no verified identity' USING ERRCODE = 'HMIV1';
  END IF;
  IF v_bound IS NOT NULL AND NOT (v_bound = ANY (p_blinds)) THEN
    RAISE EXCEPTION 'the account''s person is not a party' USING ERRCODE = 'HMAP1';
  END IF;
END $$
"""

_CHECK = ("  IF p_identity_check THEN\n"
          "    PERFORM citizen_acts_for(p_owner, p_blinds, p_identity_required);\n"
          "  END IF;\n")

_BOOK = _edit(_edit(
    _BOOK_BEFORE,
    "  p_org_version integer, p_no_show_since timestamptz\n)",
    "  p_org_version integer, p_no_show_since timestamptz,\n"
    "  p_identity_check boolean, p_identity_required boolean\n)"),
    "BEGIN\n  IF p_key IS NOT NULL THEN", "BEGIN\n" + _CHECK + "  IF p_key IS NOT NULL THEN")

_ENTER = _edit(_edit(
    _ENTER_BEFORE,
    "  p_org varchar, p_request_id varchar\n)",
    "  p_org varchar, p_request_id varchar,\n"
    "  p_identity_check boolean, p_identity_required boolean\n)"),
    "BEGIN\n  IF p_key IS NOT NULL THEN", "BEGIN\n" + _CHECK + "  IF p_key IS NOT NULL THEN")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ACTS_FOR)
    for name, text in (("marriage_book", _BOOK), ("marriage_lottery_enter", _ENTER)):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
        op.execute(text)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, text in (("marriage_book", _BOOK_BEFORE),
                       ("marriage_lottery_enter", _ENTER_BEFORE)):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
        op.execute(text)
    op.execute("DROP FUNCTION IF EXISTS citizen_acts_for")
