"""marriage: who cancelled an appointment, and an office's reason in words

- marriage_appointment.cancelled_by (`citizen` | `office`): existing cancellations
  get it from their reason code (`office_closed` was the office; `citizen` and
  `case_withdrawn` the citizen).
- marriage_appointment.cancel_reason grows from 32 to 200 characters: besides the
  codes, it now holds the reason an office gives for cancelling one appointment.
  Downgrading cuts such reasons to 32 characters.

Revision ID: 0012
Revises: 0006
Create Date: 2026-12-01 20:40:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marriage_appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_by", sqlmodel.sql.sqltypes.AutoString(length=16),
                                      nullable=True))
        batch_op.alter_column("cancel_reason",
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=32),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=200),
                              existing_nullable=True)
    op.execute("UPDATE marriage_appointment SET cancelled_by = CASE cancel_reason "
               "WHEN 'office_closed' THEN 'office' ELSE 'citizen' END "
               "WHERE status = 'cancelled'")


def downgrade() -> None:
    op.execute("UPDATE marriage_appointment SET cancel_reason = substr(cancel_reason, 1, 32) "
               "WHERE length(cancel_reason) > 32")
    with op.batch_alter_table("marriage_appointment", schema=None) as batch_op:
        batch_op.alter_column("cancel_reason",
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=32),
                              existing_nullable=True)
        batch_op.drop_column("cancelled_by")
