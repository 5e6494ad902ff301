"""merge: eco-burial claims (0004) and home and community care (0005)

Both were written on top of 0003 at the same time, so the history has two heads
here; this revision joins them without touching either. A database already at
0005 (home care, from main before burial was merged) gets 0004 and then this; a
fresh one gets both. No schema change of its own.

Revision ID: 0006
Revises: 0004, 0005
Create Date: 2026-12-01 18:30:00+00:00
"""
from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
