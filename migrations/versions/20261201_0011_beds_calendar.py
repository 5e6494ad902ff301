"""beds as families and institutions expect; China's official calendar

- bed_application.max_monthly_fee_fen: the most the family can pay a month; no
  offer exceeds it.
- bed_occupancy: a unique partial index on the resident's blind index over open
  stays (an elder lives in one institution at a time).
- official_calendar_notice: a year's State Council holiday notice as the admin
  loaded it (it wins over chinese-calendar and the estimate).

Revision ID: 0011
Revises: 0012 (written on 0006; re-chained after main took marriage extras, 0012,
which also revises 0006)
Create Date: 2026-12-01 21:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_STAY = "ended_at IS NULL AND resident_id_blind IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "official_calendar_notice",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("working_days", sa.JSON(), nullable=False),
        sa.Column("notice", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 2099",
                           name=op.f("ck_official_calendar_notice_year_range")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_official_calendar_notice")),
    )
    with op.batch_alter_table("bed_application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_monthly_fee_fen", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_bed_application_max_fee_non_negative"),
            "max_monthly_fee_fen IS NULL OR max_monthly_fee_fen >= 0")
    with op.batch_alter_table("bed_occupancy", schema=None) as batch_op:
        batch_op.create_index("uq_bed_occupancy_open_resident", ["resident_id_blind"],
                              unique=True, sqlite_where=sa.text(OPEN_STAY),
                              postgresql_where=sa.text(OPEN_STAY))


def downgrade() -> None:
    with op.batch_alter_table("bed_occupancy", schema=None) as batch_op:
        batch_op.drop_index("uq_bed_occupancy_open_resident", sqlite_where=sa.text(OPEN_STAY),
                            postgresql_where=sa.text(OPEN_STAY))
    with op.batch_alter_table("bed_application", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_bed_application_max_fee_non_negative"),
                                 type_="check")
        batch_op.drop_column("max_monthly_fee_fen")
    op.drop_table("official_calendar_notice")
