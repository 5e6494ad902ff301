"""Appeals (复核): the `appeal` table, and the staff barred from a burial claim
whose rejection was overturned on appeal.

1. `appeal` (schemas/appeals.py), with the unique partial index
   `uq_appeal_open_subject` (one `submitted` appeal per subject), the CHECK
   constraints on `status` and `subject_type`, and its list indexes;
2. `burial_claim.barred_staff` (JSON, NULL: nobody barred): the staff identities
   that took part in a refusal overturned on appeal, who may not review or approve
   the claim again.

Downgrade drops both (the appeals recorded are lost).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeal",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("appellant_subject", sa.String(length=128), nullable=False),
        sa.Column("delegation_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decide_by_date", sa.Date(), nullable=False),
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refusers", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_by_name", sa.String(length=100), nullable=True),
        sa.Column("decided_org_id", sa.String(length=40), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'upheld', 'overturned', 'withdrawn')",
                           name=op.f("ck_appeal_status_known")),
        sa.CheckConstraint("subject_type IN ('bed_application', 'burial_claim', "
                           "'home_care_visit')", name=op.f("ck_appeal_subject_type_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal")),
    )
    op.create_index("ix_appeal_appellant", "appeal", ["appellant_subject", "id"], unique=False)
    op.create_index("ix_appeal_division", "appeal", ["division_code", "id"], unique=False)
    op.create_index("ix_appeal_due", "appeal", ["status", "decide_by_date"], unique=False)
    op.create_index("uq_appeal_open_subject", "appeal", ["subject_type", "subject_id"],
                    unique=True, postgresql_where=sa.text("status = 'submitted'"))
    op.add_column("burial_claim", sa.Column("barred_staff", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("burial_claim", "barred_staff")
    op.drop_index("uq_appeal_open_subject", table_name="appeal",
                  postgresql_where=sa.text("status = 'submitted'"))
    op.drop_index("ix_appeal_due", table_name="appeal")
    op.drop_index("ix_appeal_division", table_name="appeal")
    op.drop_index("ix_appeal_appellant", table_name="appeal")
    op.drop_table("appeal")
