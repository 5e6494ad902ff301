"""marriage_book re-checks the office's version and the people's no-shows itself

A booking on PostgreSQL no longer reads the office's schedule on every request:
each server process keeps what it last read of an office's day (its sessions,
booking window, closure, special day, lottery, contact) and `marriage_book`
re-checks all of it under the schedule lock, as it did for what a request read.
Two things the read used to answer are now checked in the function instead:

- the organisation's `version` (`p_org_version`): the office's name, address and
  phone shown on the appointment are the ones it has now; a different version is
  SQLSTATE 40001, and the request runs again after a fresh read;
- whether any of the people has a no-show since `p_no_show_since` (NULL: the
  caller already knows): SQLSTATE `HMNS1`, and the caller counts the no-shows
  (`rules.check_suspension`) before it books again without the check.

The rest of the function is 0013's, unchanged.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 07:00:00+00:00
"""
import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = importlib.import_module(
    "migrations.versions.20261202_0013_marriage_book_function")._FUNCTION  # noqa: SLF001


def _edit(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:  # the frozen text of 0013 is what this edits
        raise RuntimeError(f"0015: {old!r} not found once in 0013's function")
    return text.replace(old, new)


_FUNCTION = _edit(_edit(_edit(
    _BEFORE,
    "p_event_division varchar, p_event_data varchar\n)",
    "p_event_division varchar, p_event_data varchar,\n"
    "  p_org_version integer, p_no_show_since timestamptz\n)"),
    "        IS DISTINCT FROM p_lottery THEN",
    "        IS DISTINCT FROM p_lottery\n"
    "     OR (SELECT o.version FROM organisation AS o WHERE o.id = p_office)\n"
    "        IS DISTINCT FROM p_org_version THEN"),
    "  -- The session's seat row",
    "  IF p_no_show_since IS NOT NULL AND EXISTS (\n"
    "      SELECT 1 FROM marriage_party AS p\n"
    "      JOIN marriage_appointment AS a ON a.id = p.appointment_id\n"
    "      WHERE p.id_blind_index = ANY (p_blinds) AND a.status = 'no_show'\n"
    "        AND a.no_show_at >= p_no_show_since) THEN\n"
    "    RAISE EXCEPTION 'a party has a recent no-show' USING ERRCODE = 'HMNS1';\n"
    "  END IF;\n\n"
    "  -- The session's seat row")


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
