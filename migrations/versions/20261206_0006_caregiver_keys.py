"""Caregivers' own keys: `api_key.caregiver_id`.

A key of role `caregiver` is bound to one caregiver of its provider
(`services.home_care.caregiver_keys`); authentication reads the caregiver with the
key and refuses it once the caregiver is deactivated (`services.organisations`).

- the column `api_key.caregiver_id` (nullable), a foreign key to
  `home_care_caregiver.id`, and its index (a provider lists a caregiver's keys);
- the CHECK `ck_api_key_caregiver_bound`: a `caregiver` key, and only such a key,
  names a caregiver. Every existing key has another role and no caregiver, so it
  holds on the rows already there. (Autogenerate does not see CHECK constraints:
  this one is written by hand, named as the model's naming convention names it.)

Written by `alembic revision --autogenerate`, then reviewed: `sa.String` as the
baseline spells it, and the CHECK added. The downgrade drops all of it, and first
deletes the caregivers' keys: without the column they would be keys of role
`caregiver` bound to nobody, which the code before this revision does not know (no
table refers to a key by foreign key; audit rows name it by id, as text).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:04:00+00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_key", sa.Column("caregiver_id", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_api_key_caregiver_id"), "api_key", ["caregiver_id"],
                    unique=False)
    op.create_foreign_key(op.f("fk_api_key_caregiver_id_home_care_caregiver"), "api_key",
                          "home_care_caregiver", ["caregiver_id"], ["id"])
    op.create_check_constraint(op.f("ck_api_key_caregiver_bound"), "api_key",
                               "(role = 'caregiver') = (caregiver_id IS NOT NULL)")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_key_caregiver_bound"), "api_key", type_="check")
    # Without the column, a caregiver's key would be a key of role `caregiver` that
    # nothing binds (and that the code before this revision does not know): gone.
    op.execute("DELETE FROM api_key WHERE role = 'caregiver'")
    op.drop_constraint(op.f("fk_api_key_caregiver_id_home_care_caregiver"), "api_key",
                       type_="foreignkey")
    op.drop_index(op.f("ix_api_key_caregiver_id"), table_name="api_key")
    op.drop_column("api_key", "caregiver_id")
