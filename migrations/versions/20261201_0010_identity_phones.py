"""real-name identity of citizen accounts; phones stored encrypted

- citizen_identity: the person (name, identity number encrypted + blind index +
  masked) that the platform's verification service bound a citizen account to.
- marriage_party.phone and bed_application.elder_phone, in clear until now, become
  `*_phone_encrypted` (AES-GCM, core.protected.PHONE) and `*_phone_masked`: the
  existing values are encrypted here (data migration) and the clear columns dropped.
- idempotency_record.response_body: stored responses are encrypted
  (services.idempotency.seal); existing ones are encrypted here.
- api_key.role and audit_event.actor_role grow from 16 to 32 characters: the role
  `identity_verifier` has 17. SQLite rebuilds the tables for that; the triggers of a
  rebuilt table (audit_event's append-only ones, whichever there are) are read
  before and made again after.

Downgrade decrypts everything back into the clear columns. Both directions need the
service's HUIMIN_ID_ENCRYPTION_KEY (the settings the service runs with).

Revision ID: 0010
Revises: 0009 (written on 0006; chained after 0012, then after 0009 at the merge)
Create Date: 2026-12-01 20:40:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from core.errors import DomainError
from core.protected import PHONE, Protected
from services.idempotency import is_sealed, seal, unseal

revision: str = '0010'
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "status IN ('submitted', 'waitlisted', 'offered', 'accepted')"


def _protect(phone: str) -> Protected:
    try:
        return PHONE.protect(phone)
    except DomainError:  # stored before the normaliser knew better: keep it as it is
        return PHONE.protect_clean(phone.strip())


def _encrypt_phones(table: str, clear: str, enc: str, masked: str) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT id, {clear} FROM {table} WHERE {clear} IS NOT NULL")).all()  # noqa: S608
    for row_id, phone in rows:
        p = _protect(phone)
        conn.execute(sa.text(f"UPDATE {table} SET {enc} = :e, {masked} = :m "  # noqa: S608
                             "WHERE id = :id"), {"e": p.encrypted, "m": p.masked, "id": row_id})


def _decrypt_phones(table: str, clear: str, enc: str) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT id, {enc} FROM {table} WHERE {enc} IS NOT NULL")).all()  # noqa: S608
    for row_id, stored in rows:
        conn.execute(sa.text(f"UPDATE {table} SET {clear} = :c WHERE id = :id"),  # noqa: S608
                     {"c": PHONE.reveal(stored), "id": row_id})


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_active_index() -> None:
    # SQLite's batch mode rebuilds the table; the partial unique index is dropped
    # first and made again after, so its WHERE clause is certainly kept.
    if _is_sqlite():
        op.drop_index('uq_bed_application_active_elder', table_name='bed_application')


def _create_active_index() -> None:
    if _is_sqlite():
        op.create_index('uq_bed_application_active_elder', 'bed_application',
                        ['elder_id_blind', 'institution_id', 'category'], unique=True,
                        sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))


def _role_length(frm: int, to: int) -> None:
    for table, column in (("api_key", "role"), ("audit_event", "actor_role")):
        triggers: list[str] = []
        if _is_sqlite():
            triggers = [row[0] for row in op.get_bind().execute(sa.text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                {"t": table}).all()]
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column,
                                  existing_type=sqlmodel.sql.sqltypes.AutoString(length=frm),
                                  type_=sqlmodel.sql.sqltypes.AutoString(length=to),
                                  existing_nullable=column == "actor_role")
        for sql in triggers:
            op.execute(sql)


def _idempotent_bodies(transform, stored_encrypted: bool) -> None:  # noqa: ANN001
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT scope, key, response_body FROM idempotency_record "
                                "WHERE response_body IS NOT NULL")).all()
    for scope, key, body in rows:
        if is_sealed(body) != stored_encrypted:
            continue
        conn.execute(sa.text("UPDATE idempotency_record SET response_body = :b "
                             "WHERE scope = :s AND key = :k"),
                     {"b": transform(scope, key, body), "s": scope, "k": key})


def upgrade() -> None:
    op.create_table('citizen_identity',
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('id_number_encrypted', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('id_blind_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id_number_masked', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_by_org_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('verified_by_key_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.ForeignKeyConstraint(['verified_by_org_id'], ['organisation.id'], name=op.f('fk_citizen_identity_verified_by_org_id_organisation')),
    sa.PrimaryKeyConstraint('subject', name=op.f('pk_citizen_identity'))
    )
    with op.batch_alter_table('citizen_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizen_identity_id_blind_index'), ['id_blind_index'], unique=False)

    # marriage_party.phone (nullable) -> phone_encrypted + phone_masked
    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('phone_masked', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    _encrypt_phones('marriage_party', 'phone', 'phone_encrypted', 'phone_masked')
    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.drop_column('phone')

    # bed_application.elder_phone (required) -> elder_phone_encrypted + elder_phone_masked
    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('elder_phone_encrypted', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column('elder_phone_masked', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    _encrypt_phones('bed_application', 'elder_phone', 'elder_phone_encrypted',
                    'elder_phone_masked')
    _drop_active_index()
    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.alter_column('elder_phone_encrypted', existing_type=sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False)
        batch_op.alter_column('elder_phone_masked', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False)
        batch_op.drop_column('elder_phone')
    _create_active_index()

    _idempotent_bodies(seal, stored_encrypted=False)
    _role_length(16, 32)


def downgrade() -> None:
    _role_length(32, 16)
    _idempotent_bodies(unseal, stored_encrypted=True)

    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('elder_phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    _decrypt_phones('bed_application', 'elder_phone', 'elder_phone_encrypted')
    _drop_active_index()
    with op.batch_alter_table('bed_application', schema=None) as batch_op:
        batch_op.alter_column('elder_phone', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False)
        batch_op.drop_column('elder_phone_masked')
        batch_op.drop_column('elder_phone_encrypted')
    _create_active_index()

    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    _decrypt_phones('marriage_party', 'phone', 'phone_encrypted')
    with op.batch_alter_table('marriage_party', schema=None) as batch_op:
        batch_op.drop_column('phone_masked')
        batch_op.drop_column('phone_encrypted')

    with op.batch_alter_table('citizen_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_citizen_identity_id_blind_index'))
    op.drop_table('citizen_identity')
