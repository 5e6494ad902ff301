"""elderly-care beds: beds, vacancy pools, applications, applicants, occupancy

- bed_pool: per institution and category, the vacancy count kept with every bed
  status change (searches never count beds) and the row that serialises offers.
- bed_application: one active application per elder per institution and category
  (a unique partial index on the blind index).
- bed_application_priority_step: the dates from which an elder's age lowers an
  application's priority class (the class is computed for the current date).
- bed_applicant: the elder's count of active applications (conditional UPDATE).
- bed_occupancy: who occupied which bed when; one open record per bed.
- organisation (lat, lon) index for the nearest-institution search.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bed_applicant',
    sa.Column('elder_id_blind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('active_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('active_count >= 0', name=op.f('ck_bed_applicant_active_non_negative')),
    sa.PrimaryKeyConstraint('elder_id_blind', name=op.f('pk_bed_applicant'))
    )
    op.create_table('bed',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('monthly_fee_fen', sa.Integer(), nullable=False),
    sa.Column('reserved_for_destitute', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('available', 'held', 'occupied', 'maintenance')", name=op.f('ck_bed_status_known')),
    sa.CheckConstraint('monthly_fee_fen >= 0', name=op.f('ck_bed_fee_non_negative')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed')),
    sa.UniqueConstraint('institution_id', 'code', name='uq_bed_institution_code')
    )
    with op.batch_alter_table('bed', schema=None) as batch_op:
        batch_op.create_index('ix_bed_institution_category_status_fee', ['institution_id', 'category', 'status', 'monthly_fee_fen'], unique=False)
    op.create_table('bed_pool',
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('vacant', sa.Integer(), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.CheckConstraint('vacant >= 0 AND vacant <= total', name=op.f('ck_bed_pool_vacant_within_total')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_pool_institution_id_organisation')),
    sa.PrimaryKeyConstraint('institution_id', 'category', name=op.f('pk_bed_pool'))
    )
    with op.batch_alter_table('bed_pool', schema=None) as batch_op:
        batch_op.create_index('ix_bed_pool_category_vacant', ['category', 'vacant'], unique=False)
    op.create_table('bed_application',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('citizen_subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('elder_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('elder_id_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('elder_id_blind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('elder_id_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('elder_phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('priority_groups', sa.JSON(), nullable=False),
    sa.Column('declared_ability_level', sa.Integer(), nullable=True),
    sa.Column('ability_level', sa.Integer(), nullable=True),
    sa.Column('verified_priority_groups', sa.JSON(), nullable=False),
    sa.Column('priority_class', sa.Integer(), nullable=True),
    sa.Column('destitute', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('bed_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offer_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ability_level IS NULL OR ability_level BETWEEN 0 AND 4', name=op.f('ck_bed_application_ability_range')),
    sa.ForeignKeyConstraint(['bed_id'], ['bed.id'], name=op.f('fk_bed_application_bed_id_bed')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_application_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed_application'))
    )
    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bed_application_bed_id'), ['bed_id'], unique=False)
        batch_op.create_index('ix_bed_application_citizen', ['citizen_subject', 'id'], unique=False)
        batch_op.create_index('ix_bed_application_elder_status', ['elder_id_blind', 'status'], unique=False)
        batch_op.create_index('ix_bed_application_offer_expiry', ['status', 'offer_expires_at'], unique=False)
        batch_op.create_index('ix_bed_application_waitlist', ['institution_id', 'category', 'status', 'priority_class', 'applied_at'], unique=False)
        batch_op.create_index('uq_bed_application_active_elder', ['elder_id_blind', 'institution_id', 'category'], unique=True, sqlite_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"), postgresql_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"))
    op.create_table('bed_application_priority_step',
    sa.Column('application_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('from_date', sa.Date(), nullable=False),
    sa.Column('priority_class', sa.Integer(), nullable=False),
    sa.CheckConstraint('priority_class >= 0', name=op.f('ck_bed_application_priority_step_class_non_negative')),
    sa.ForeignKeyConstraint(['application_id'], ['bed_application.id'], name=op.f('fk_bed_application_priority_step_application_id_bed_application')),
    sa.PrimaryKeyConstraint('application_id', 'from_date', name=op.f('pk_bed_application_priority_step'))
    )
    op.create_table('bed_occupancy',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('institution_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('bed_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('application_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('resident_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('resident_id_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('resident_id_blind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('resident_id_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
    sa.Column('outside_huimin', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['bed_application.id'], name=op.f('fk_bed_occupancy_application_id_bed_application')),
    sa.ForeignKeyConstraint(['bed_id'], ['bed.id'], name=op.f('fk_bed_occupancy_bed_id_bed')),
    sa.ForeignKeyConstraint(['institution_id'], ['organisation.id'], name=op.f('fk_bed_occupancy_institution_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bed_occupancy'))
    )
    with op.batch_alter_table('bed_occupancy', schema=None) as batch_op:
        batch_op.create_index('ix_bed_occupancy_bed', ['bed_id', 'id'], unique=False)
        batch_op.create_index('ix_bed_occupancy_institution', ['institution_id', 'id'], unique=False)
        batch_op.create_index('uq_bed_occupancy_open_bed', ['bed_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.create_index('ix_organisation_lat_lon', ['lat', 'lon'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_index('ix_organisation_lat_lon')
    with op.batch_alter_table('bed_occupancy', schema=None) as batch_op:
        batch_op.drop_index('uq_bed_occupancy_open_bed', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_bed_occupancy_institution')
        batch_op.drop_index('ix_bed_occupancy_bed')
    op.drop_table('bed_occupancy')
    op.drop_table('bed_application_priority_step')
    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.drop_index('uq_bed_application_active_elder', sqlite_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"), postgresql_where=sa.text("status IN ('submitted', 'waitlisted', 'offered', 'accepted')"))
        batch_op.drop_index('ix_bed_application_waitlist')
        batch_op.drop_index('ix_bed_application_offer_expiry')
        batch_op.drop_index('ix_bed_application_elder_status')
        batch_op.drop_index('ix_bed_application_citizen')
        batch_op.drop_index(batch_op.f('ix_bed_application_bed_id'))
    op.drop_table('bed_application')
    with op.batch_alter_table('bed_pool', schema=None) as batch_op:
        batch_op.drop_index('ix_bed_pool_category_vacant')
    op.drop_table('bed_pool')
    with op.batch_alter_table('bed', schema=None) as batch_op:
        batch_op.drop_index('ix_bed_institution_category_status_fee')
    op.drop_table('bed')
    op.drop_table('bed_applicant')
