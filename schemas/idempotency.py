"""Stored first responses of idempotent POSTs, scoped to the caller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from schemas.common import utc_datetime


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    scope: str = Field(primary_key=True, max_length=160)  # caller identity
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = utc_datetime()
    expires_at: datetime = utc_datetime(index=True)
