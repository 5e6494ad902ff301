"""marriage lotteries: the fair release of peak dates (lotteries, entries, entrants)

One lottery per office and date among those not cancelled (a partial unique
index); one entry per person per lottery (UNIQUE lottery_id, id_blind_index).

Revision ID: 0008
Revises: 0010 (written on 0006; chained after 0012, then after 0010 at the merge)
Create Date: 2026-12-01 20:48:05+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('marriage_lottery',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lottery_date', sa.Date(), nullable=False),
    sa.Column('entries_open_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries_close_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('seed_hex', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seed_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=True),
    sa.Column('entries', sa.Integer(), nullable=True),
    sa.Column('seats', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_lottery_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery'))
    )
    with op.batch_alter_table('marriage_lottery', schema=None) as batch_op:
        batch_op.create_index('ix_marriage_lottery_due', ['status', 'entries_close_at'], unique=False)
        batch_op.create_index('uq_marriage_lottery_office_date_live', ['office_id', 'lottery_date'], unique=True, sqlite_where=sa.text("status != 'cancelled'"), postgresql_where=sa.text("status != 'cancelled'"))

    op.create_table('marriage_lottery_entry',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lottery_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner_subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('session_preferences', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('session_start', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('appointment_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('excluded_reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_lottery_entry_appointment_id_marriage_appointment')),
    sa.ForeignKeyConstraint(['lottery_id'], ['marriage_lottery.id'], name=op.f('fk_marriage_lottery_entry_lottery_id_marriage_lottery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery_entry'))
    )
    with op.batch_alter_table('marriage_lottery_entry', schema=None) as batch_op:
        batch_op.create_index('ix_marriage_lottery_entry_lottery', ['lottery_id', 'id'], unique=False)
        batch_op.create_index('ix_marriage_lottery_entry_owner', ['owner_subject', 'id'], unique=False)

    op.create_table('marriage_lottery_entrant',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('lottery_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('id_number_encrypted', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('id_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id_number_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('phone_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('phone_masked', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['marriage_lottery_entry.id'], name=op.f('fk_marriage_lottery_entrant_entry_id_marriage_lottery_entry')),
    sa.ForeignKeyConstraint(['lottery_id'], ['marriage_lottery.id'], name=op.f('fk_marriage_lottery_entrant_lottery_id_marriage_lottery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_lottery_entrant')),
    sa.UniqueConstraint('lottery_id', 'id_blind_index', name=op.f('uq_marriage_lottery_entrant_lottery_id'))
    )
    with op.batch_alter_table('marriage_lottery_entrant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marriage_lottery_entrant_entry_id'), ['entry_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('marriage_lottery_entrant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marriage_lottery_entrant_entry_id'))

    op.drop_table('marriage_lottery_entrant')
    with op.batch_alter_table('marriage_lottery_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_marriage_lottery_entry_owner')
        batch_op.drop_index('ix_marriage_lottery_entry_lottery')

    op.drop_table('marriage_lottery_entry')
    with op.batch_alter_table('marriage_lottery', schema=None) as batch_op:
        batch_op.drop_index('uq_marriage_lottery_office_date_live', sqlite_where=sa.text("status != 'cancelled'"), postgresql_where=sa.text("status != 'cancelled'"))
        batch_op.drop_index('ix_marriage_lottery_due')

    op.drop_table('marriage_lottery')
