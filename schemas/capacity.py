"""Units of bookable capacity shared by every router that books.

A row is one session or slot that has been booked at least once (or whose
capacity an owner has set): `booked` never exceeds `capacity`, enforced by a
CHECK constraint behind the conditional update in `services.capacity`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from schemas.common import utc_datetime


class CapacitySlot(SQLModel, table=True):
    __tablename__ = "capacity_slot"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    # Deterministic, chosen by the domain (e.g. office + date + session start), so
    # the slot a citizen sees before anyone booked is the row booking creates.
    id: str = Field(primary_key=True, max_length=120)
    owner_org_id: str = Field(foreign_key="organisation.id", max_length=40, index=True)
    kind: str = Field(max_length=32)  # e.g. marriage_session, centre_session
    capacity: int
    booked: int = 0
    created_at: datetime = utc_datetime()
