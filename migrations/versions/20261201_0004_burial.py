"""eco-burial subsidy claims: policies, claims, their history, payment batches

- burial_policy: per division and method, amount, effective period (inclusive,
  open end when null) and claim deadline; a later period supersedes an open one.
- burial_policy_line: one row per division and method that every policy write
  of that line locks first (periods never overlap, even under concurrency).
- burial_claim: one claim; a unique partial index on the deceased's blind index
  over claims not withdrawn or rejected (one live claim per deceased).
- burial_claim_event: each step of a claim (history kept across resubmissions).
- burial_payment_batch: approved, unpaid claims of a bureau exported for payment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:26:04+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('burial_policy',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('division_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('claim_deadline_days', sa.Integer(), nullable=False),
    sa.Column('superseded_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_burial_policy_amount_positive')),
    sa.CheckConstraint('claim_deadline_days > 0', name=op.f('ck_burial_policy_deadline_positive')),
    sa.CheckConstraint('effective_to IS NULL OR effective_to >= effective_from', name=op.f('ck_burial_policy_period_ordered')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_policy'))
    )
    with op.batch_alter_table('burial_policy', schema=None) as batch_op:
        batch_op.create_index('ix_burial_policy_line_period', ['division_code', 'method', 'effective_from'], unique=False)

    op.create_table('burial_policy_line',
    sa.Column('division_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('division_code', 'method', name=op.f('pk_burial_policy_line'))
    )
    op.create_table('burial_payment_batch',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('org_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('division_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_by_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('claim_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_burial_payment_batch_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_payment_batch'))
    )
    with op.batch_alter_table('burial_payment_batch', schema=None) as batch_op:
        batch_op.create_index('ix_burial_payment_batch_org', ['org_id', 'id'], unique=False)

    op.create_table('burial_claim',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('citizen_subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('policy_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('claim_deadline', sa.Date(), nullable=False),
    sa.Column('division_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('deceased_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('deceased_id_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('deceased_id_blind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('deceased_id_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=False),
    sa.Column('burial_method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('burial_date', sa.Date(), nullable=False),
    sa.Column('service_unit', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('certificate_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('claimant_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('claimant_id_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('claimant_id_blind', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('claimant_id_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('claimant_phone_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('claimant_phone_masked', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('bank_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('account_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('account_masked', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('documents', sa.JSON(), nullable=False),
    sa.Column('review_decision', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('review_reason_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('review_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('reviewed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('reviewed_by_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('reviewed_org_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('decided_by_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('decided_org_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_batch_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('payment_reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resubmissions', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('submitted', 'returned', 'reviewed', 'approved', 'rejected', 'paid', 'withdrawn')", name=op.f('ck_burial_claim_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_burial_claim_amount_positive')),
    sa.ForeignKeyConstraint(['payment_batch_id'], ['burial_payment_batch.id'], name=op.f('fk_burial_claim_payment_batch_id_burial_payment_batch')),
    sa.ForeignKeyConstraint(['policy_id'], ['burial_policy.id'], name=op.f('fk_burial_claim_policy_id_burial_policy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_claim'))
    )
    with op.batch_alter_table('burial_claim', schema=None) as batch_op:
        batch_op.create_index('ix_burial_claim_batch', ['payment_batch_id'], unique=False)
        batch_op.create_index('ix_burial_claim_citizen', ['citizen_subject', 'submitted_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_burial_claim_claimant_id_blind'), ['claimant_id_blind'], unique=False)
        batch_op.create_index('ix_burial_claim_division_queue', ['division_code', 'submitted_at', 'id'], unique=False)
        batch_op.create_index('ix_burial_claim_paid_totals', ['status', 'decided_org_id', 'paid_month'], unique=False)
        batch_op.create_index(batch_op.f('ix_burial_claim_policy_id'), ['policy_id'], unique=False)
        batch_op.create_index('ix_burial_claim_queue', ['status', 'submitted_at', 'id'], unique=False)
        batch_op.create_index('uq_burial_claim_live_deceased', ['deceased_id_blind'], unique=True, sqlite_where=sa.text("status NOT IN ('withdrawn', 'rejected')"), postgresql_where=sa.text("status NOT IN ('withdrawn', 'rejected')"))

    op.create_table('burial_claim_event',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('claim_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('actor_org_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reason_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('previous', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['burial_claim.id'], name=op.f('fk_burial_claim_event_claim_id_burial_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_burial_claim_event'))
    )
    with op.batch_alter_table('burial_claim_event', schema=None) as batch_op:
        batch_op.create_index('ix_burial_claim_event_claim', ['claim_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('burial_claim_event', schema=None) as batch_op:
        batch_op.drop_index('ix_burial_claim_event_claim')

    op.drop_table('burial_claim_event')
    with op.batch_alter_table('burial_claim', schema=None) as batch_op:
        batch_op.drop_index('uq_burial_claim_live_deceased', sqlite_where=sa.text("status NOT IN ('withdrawn', 'rejected')"), postgresql_where=sa.text("status NOT IN ('withdrawn', 'rejected')"))
        batch_op.drop_index('ix_burial_claim_queue')
        batch_op.drop_index(batch_op.f('ix_burial_claim_policy_id'))
        batch_op.drop_index('ix_burial_claim_paid_totals')
        batch_op.drop_index('ix_burial_claim_division_queue')
        batch_op.drop_index(batch_op.f('ix_burial_claim_claimant_id_blind'))
        batch_op.drop_index('ix_burial_claim_citizen')
        batch_op.drop_index('ix_burial_claim_batch')

    op.drop_table('burial_claim')
    with op.batch_alter_table('burial_payment_batch', schema=None) as batch_op:
        batch_op.drop_index('ix_burial_payment_batch_org')

    op.drop_table('burial_payment_batch')
    op.drop_table('burial_policy_line')
    with op.batch_alter_table('burial_policy', schema=None) as batch_op:
        batch_op.drop_index('ix_burial_policy_line_period')

    op.drop_table('burial_policy')
