"""Visit verification (EVV): a completed home-care visit's verification, its
exception codes, what is held of its subsidy, the provider's correction and the
bureau's decision.

Written by `alembic revision --autogenerate` and reviewed: the types are spelt as
the baseline spells them (`sa.String`, `sa.DateTime(timezone=True)`), and what
autogenerate does not see is added by hand:
- the CHECK constraints `ck_home_care_booking_verification_known` (a completed
  visit's only, one of the five values) and `ck_home_care_booking_held_non_negative`;
- the backfill: visits completed before verification existed were paid on
  check-out as verified visits are, so they are `verified` with no exceptions
  (`exceptions` defaults to `[]` for every row; it may be null, read as `[]`, since
  the booking's one-statement insert names every column).

Visits completed before with `location_flagged` true stay so (the flag was recorded
and paid under the old rule); for every visit recorded from now on the flag is true
exactly when `exceptions` holds `location_mismatch`.

Downgrade drops the constraints, the index and the columns (what was recorded of
verification is lost; the payments themselves stay in `subsidy_paid_fen` and
`family_paid_fen`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:06:59.490620+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "home_care_booking"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("verification", sa.String(length=24), nullable=True))
    op.add_column(TABLE, sa.Column("exceptions", sa.JSON(), server_default=sa.text("'[]'"),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("subsidy_held_fen", sa.Integer(), nullable=True))
    op.add_column(TABLE, sa.Column("correction_reason_code", sa.String(length=32),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("correction_note", sa.String(length=500), nullable=True))
    op.add_column(TABLE, sa.Column("correction_start_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("correction_end_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("correction_submitted_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("correction_submitted_by", sa.String(length=200),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("verification_decided_at", sa.DateTime(timezone=True),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("verification_decided_by", sa.String(length=200),
                                   nullable=True))
    op.add_column(TABLE, sa.Column("verification_decision_note", sa.String(length=500),
                                   nullable=True))
    # Visits completed before verification existed were paid as verified ones are.
    op.execute("UPDATE home_care_booking SET verification = 'verified' "
               "WHERE status = 'completed'")
    op.create_check_constraint(
        op.f("ck_home_care_booking_verification_known"), TABLE,
        "verification IS NULL OR (status = 'completed' AND verification IN "
        "('verified', 'exception', 'correction_submitted', 'corrected', 'rejected'))")
    op.create_check_constraint(
        op.f("ck_home_care_booking_held_non_negative"), TABLE,
        "subsidy_held_fen IS NULL OR subsidy_held_fen >= 0")
    op.create_index("ix_home_care_booking_awaiting", TABLE, ["provider_id", "starts_at", "id"],
                    unique=False, postgresql_where=sa.text(
                        "verification IN ('exception', 'correction_submitted')"))


def downgrade() -> None:
    op.drop_index("ix_home_care_booking_awaiting", table_name=TABLE, postgresql_where=sa.text(
        "verification IN ('exception', 'correction_submitted')"))
    op.drop_constraint(op.f("ck_home_care_booking_held_non_negative"), TABLE, type_="check")
    op.drop_constraint(op.f("ck_home_care_booking_verification_known"), TABLE, type_="check")
    for column in ("verification_decision_note", "verification_decided_by",
                   "verification_decided_at", "correction_submitted_by",
                   "correction_submitted_at", "correction_end_at", "correction_start_at",
                   "correction_note", "correction_reason_code", "subsidy_held_fen",
                   "exceptions", "verification"):
        op.drop_column(TABLE, column)
