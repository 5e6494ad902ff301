"""marriage registration: schedules, special days, closures, appointments, divorce cases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('marriage_closure',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('closure_date', sa.Date(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_closure_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_closure')),
    sa.UniqueConstraint('office_id', 'closure_date', name=op.f('uq_marriage_closure_office_id'))
    )

    op.create_table('marriage_schedule',
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=False),
    sa.Column('booking_opens_days_ahead', sa.Integer(), nullable=False),
    sa.Column('min_notice_hours', sa.Integer(), nullable=False),
    sa.Column('cancel_deadline_hours', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_schedule_office_id_organisation')),
    sa.PrimaryKeyConstraint('office_id', name=op.f('pk_marriage_schedule'))
    )

    op.create_table('marriage_special_day',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('special_date', sa.Date(), nullable=False),
    sa.Column('sessions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_special_day_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_special_day')),
    sa.UniqueConstraint('office_id', 'special_date', name=op.f('uq_marriage_special_day_office_id'))
    )

    op.create_table('marriage_appointment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('slot_id', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('session_date', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('owner_subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('check_in_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('divorce_case_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('no_show_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_appointment_office_id_organisation')),
    sa.ForeignKeyConstraint(['slot_id'], ['capacity_slot.id'], name=op.f('fk_marriage_appointment_slot_id_capacity_slot')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_appointment'))
    )

    with op.batch_alter_table('marriage_appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marriage_appointment_divorce_case_id'), ['divorce_case_id'], unique=False)
        batch_op.create_index('ix_marriage_appointment_office_date', ['office_id', 'session_date', 'status'], unique=False)
        batch_op.create_index('ix_marriage_appointment_owner', ['owner_subject', 'id'], unique=False)
        batch_op.create_index('ix_marriage_appointment_slot', ['slot_id', 'status'], unique=False)

    op.create_table('marriage_divorce_case',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('office_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('divorce_appointment_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner_subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('party_a_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('party_b_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('parties', sa.JSON(), nullable=False),
    sa.Column('received_date', sa.Date(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmation_appointment_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['divorce_appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_divorce_case_divorce_appointment_id_marriage_appointment')),
    sa.ForeignKeyConstraint(['office_id'], ['organisation.id'], name=op.f('fk_marriage_divorce_case_office_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_divorce_case')),
    sa.UniqueConstraint('divorce_appointment_id', name=op.f('uq_marriage_divorce_case_divorce_appointment_id'))
    )

    with op.batch_alter_table('marriage_divorce_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marriage_divorce_case_office_id'), ['office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_marriage_divorce_case_owner_subject'), ['owner_subject'], unique=False)

    op.create_table('marriage_party',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('appointment_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('id_number_encrypted', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('id_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id_number_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_party_appointment_id_marriage_appointment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marriage_party')),
    sa.UniqueConstraint('appointment_id', 'position', name=op.f('uq_marriage_party_appointment_id'))
    )

    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marriage_party_id_blind_index'), ['id_blind_index'], unique=False)

    op.create_table('marriage_party_hold',
    sa.Column('id_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('appointment_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['marriage_appointment.id'], name=op.f('fk_marriage_party_hold_appointment_id_marriage_appointment')),
    sa.PrimaryKeyConstraint('id_blind_index', name=op.f('pk_marriage_party_hold'))
    )

    with op.batch_alter_table('marriage_party_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marriage_party_hold_appointment_id'), ['appointment_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('marriage_party_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marriage_party_hold_appointment_id'))

    op.drop_table('marriage_party_hold')

    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marriage_party_id_blind_index'))

    op.drop_table('marriage_party')

    with op.batch_alter_table('marriage_divorce_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marriage_divorce_case_owner_subject'))
        batch_op.drop_index(batch_op.f('ix_marriage_divorce_case_office_id'))

    op.drop_table('marriage_divorce_case')

    with op.batch_alter_table('marriage_appointment', schema=None) as batch_op:
        batch_op.drop_index('ix_marriage_appointment_slot')
        batch_op.drop_index('ix_marriage_appointment_owner')
        batch_op.drop_index('ix_marriage_appointment_office_date')
        batch_op.drop_index(batch_op.f('ix_marriage_appointment_divorce_case_id'))

    op.drop_table('marriage_appointment')

    op.drop_table('marriage_special_day')

    op.drop_table('marriage_schedule')

    op.drop_table('marriage_closure')
