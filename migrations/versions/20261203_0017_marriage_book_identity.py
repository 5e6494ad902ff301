"""marriage_book checks the booking account's real-name identity itself

A booking on PostgreSQL used to read the account's identity (`citizen_identity`)
in a round trip of its own before anything else, on every request. The hot lane
(`api.hotpath`) now leaves it to the write: with `p_identity_check` the function
reads the account's bound person first, before the idempotency record, and refuses
as the request's own checks would have:

- no bound person while `p_identity_required` (HUIMIN_CITIZEN_IDENTITY_REQUIRED):
  SQLSTATE `HMIV1`, 403 `identity_not_verified`;
- a bound person who is not one of the parties (`p_blinds`): SQLSTATE `HMAP1`,
  422 `applicant_not_a_party`.

Without `p_identity_check` (the caller read the identity already) nothing of this
runs. The rest of the function is 0015's, unchanged.

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

_BEFORE = importlib.import_module(
    "migrations.versions.20261202_0015_marriage_book_cached_read")._FUNCTION  # noqa: SLF001


def _edit(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:  # the frozen text of 0015 is what this edits
        raise RuntimeError(f"0017: {old!r} not found once in 0015's function")
    return text.replace(old, new)


_FUNCTION = _edit(_edit(_edit(
    _BEFORE,
    "  p_org_version integer, p_no_show_since timestamptz\n)",
    "  p_org_version integer, p_no_show_since timestamptz,\n"
    "  p_identity_check boolean, p_identity_required boolean\n)"),
    "  v_taken varchar[];\n",
    "  v_taken varchar[];\n  v_bound varchar;\n"),
    "BEGIN\n  IF p_key IS NOT NULL THEN",
    "BEGIN\n"
    "  IF p_identity_check THEN\n"
    "    SELECT c.id_blind_index INTO v_bound FROM citizen_identity AS c\n"
    "      WHERE c.subject = p_owner;\n"
    "    IF v_bound IS NULL AND p_identity_required THEN\n"
    "      RAISE EXCEPTION 'the account has no verified identity' USING ERRCODE = 'HMIV1';\n"
    "    END IF;\n"
    "    IF v_bound IS NOT NULL AND NOT (v_bound = ANY (p_blinds)) THEN\n"
    "      RAISE EXCEPTION 'the account''s person is not a party' USING ERRCODE = 'HMAP1';\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF p_key IS NOT NULL THEN")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_book")
    op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_book")
    op.execute(_BEFORE)
