"""SQLModel models per domain: tables and, beside them, request and response models.

Importing this package registers every table on `SQLModel.metadata`, which is
what Alembic compares against.
"""

from schemas import (  # noqa: F401
    appeals,
    audit,
    beds,
    burial,
    capacity,
    citizen,
    common,
    delegation,
    home_care,
    idempotency,
    marriage,
    marriage_lottery,
    notifications,
    official_calendar,
    organisation,
)
from schemas.common import metadata  # noqa: F401
