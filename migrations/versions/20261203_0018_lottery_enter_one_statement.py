"""marriage_lottery_enter checks the people and the kept read: an entry is one statement

A lottery entry on PostgreSQL read the lottery, the date's sessions and the
people's no-shows and active appointments in a round trip of its own before its
write, on every request. The lottery's part of that read is the same for every
couple, so each process now keeps it a while (`services.marriage.office_days`,
`LOTTERIES`), and the function checks what the entry relied on and what concerns
the people, so that an entry is one call:

- under the office's schedule lock (shared; every change of the week, a closure,
  a special day or a lottery takes it exclusive), the schedule's version, the
  date's closure and special day as read (`p_version`, `p_closed`, `p_special`):
  anything else is SQLSTATE 40001, and the caller forgets its read and runs the
  request again;
- with `p_no_show_since`, a no-show of one of the people since then: SQLSTATE
  `HMNS1` (the caller counts them and, if nobody is suspended, writes again without
  this check), as `marriage_book` does;
- an active appointment's hold of one of the people: SQLSTATE `HMPH1`, the holding
  blind indexes in DETAIL (409 `party_has_active_appointment`).

These come after the identity, the idempotency record and the lottery's own check,
in the order a read-first entry refused them. The rest is as 0017 left it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 12:10:00+00:00
"""
import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTER_BEFORE = importlib.import_module(
    "migrations.versions.20261203_0017_identity_in_writes")._ENTER  # noqa: SLF001


def _edit(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:  # the frozen text of 0017 is what this edits
        raise RuntimeError(f"0018: {old!r} not found once in the function it edits")
    return text.replace(old, new)


_CHECKS = """
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('marriage_schedule:' || p_org, 0));
  IF (SELECT s.version FROM marriage_schedule AS s WHERE s.office_id = p_org)
       IS DISTINCT FROM p_version
     OR EXISTS (SELECT 1 FROM marriage_closure AS c
                WHERE c.office_id = p_org AND c.closure_date = v_day) IS DISTINCT FROM p_closed
     OR (SELECT d.sessions::text FROM marriage_special_day AS d
         WHERE d.office_id = p_org AND d.special_date = v_day) IS DISTINCT FROM p_special THEN
    RAISE EXCEPTION 'the lottery''s day changed' USING ERRCODE = '40001';
  END IF;

  IF p_no_show_since IS NOT NULL AND EXISTS (
      SELECT 1 FROM marriage_party AS p
      JOIN marriage_appointment AS a ON a.id = p.appointment_id
      WHERE p.id_blind_index = ANY (p_blinds) AND a.status = 'no_show'
        AND a.no_show_at >= p_no_show_since) THEN
    RAISE EXCEPTION 'a party has a recent no-show' USING ERRCODE = 'HMNS1';
  END IF;

  SELECT array_agg(h.id_blind_index) INTO v_held FROM marriage_party_hold AS h
    WHERE h.id_blind_index = ANY (p_blinds) AND h.expires_at > p_now;
  IF v_held IS NOT NULL THEN
    RAISE EXCEPTION 'a party holds an active appointment'
      USING ERRCODE = 'HMPH1', DETAIL = array_to_string(v_held, ',');
  END IF;

  INSERT INTO marriage_lottery_entry ("""

_ENTER = _edit(_edit(_edit(_edit(
    _ENTER_BEFORE,
    "  p_identity_check boolean, p_identity_required boolean\n)",
    "  p_identity_check boolean, p_identity_required boolean,\n"
    "  p_version integer, p_closed boolean, p_special text, p_no_show_since timestamptz\n)"),
    "$$\nBEGIN\n",
    "$$\nDECLARE\n  v_day date;\n  v_held varchar[];\nBEGIN\n"),
    "  PERFORM 1 FROM marriage_lottery AS l\n",
    "  SELECT l.lottery_date INTO v_day FROM marriage_lottery AS l\n"),
    "\n  INSERT INTO marriage_lottery_entry (", _CHECKS)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_lottery_enter")
    op.execute(_ENTER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS marriage_lottery_enter")
    op.execute(_ENTER_BEFORE)
