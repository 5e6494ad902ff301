"""The append-only audit trail: one row per write and per staff read of a
person's full record. The migration installs triggers that refuse UPDATE and
DELETE on this table; the application has no code path that does either."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from schemas.common import id_field, utc_datetime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_object", "object_type", "object_id"),
        Index("ix_audit_event_org_id", "org_id"),
    )

    id: str = id_field()
    at: datetime = utc_datetime(index=True)
    actor_kind: str = Field(max_length=16)  # citizen | staff | system
    actor_id: str = Field(max_length=128, index=True)
    actor_role: str | None = Field(default=None, max_length=32)
    org_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(max_length=40)
    object_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=32)  # success | refused:<code>
    request_id: str | None = Field(default=None, max_length=64)


class AuditEventPublic(BaseModel):
    id: str
    at: datetime
    actor_kind: str
    actor_id: str
    actor_role: str | None
    org_id: str | None
    action: str
    object_type: str
    object_id: str | None
    outcome: str
    request_id: str | None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "aud_0193a1b2c3d4e5f6a7b8c9d0e1", "at": "2026-11-29T10:00:00Z",
        "actor_kind": "staff", "actor_id": "key_0193a1b2c3d4e5f6a7b8c9d0e1",
        "actor_role": "admin", "org_id": None, "action": "organisation.create",
        "object_type": "organisation", "object_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
        "outcome": "success", "request_id": "3f1b8f6f2a104c559f400b6f3c1e6a1f"}]})
