"""The append-only audit trail: one row per write and per staff read of a
person's full record. The migration installs triggers that refuse UPDATE and
DELETE on this table; the application has no code path that does either.

Each row is a link of a hash chain (`core.auditchain`): `seq` counts the rows
without gaps, `prev_hash` is the previous row's `hash`, and `AuditChainHead` keeps
the last link, so a rewritten, deleted or inserted row (even one cut off the end)
breaks the chain for `huimin audit verify`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import BigInteger, Column, Index, SmallInteger
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, id_field, utc_datetime

# The longest client address kept (an IPv6 address with a zone fits).
CLIENT_ADDR_MAX = 64


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
    # The client's address (behind trusted proxies, the right-most untrusted one of
    # X-Forwarded-For); NULL for the system's own writes and rows before 0009.
    client_addr: str | None = Field(default=None, max_length=CLIENT_ADDR_MAX)
    # The delegation (代办) a citizen acted through, when it acted for its principal
    # (services.delegations); NULL otherwise and on rows before 0010.
    delegation_id: str | None = Field(default=None, max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The chain's last link, one row (id 1), moved by the linking function; its row
    lock is what serialises concurrent linkers."""

    __tablename__ = "audit_chain_head"

    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class ServiceHeartbeat(SQLModel, table=True):
    """One row per probe name that `/readyz` rewrites: a real write, committed, so a
    database that cannot take writes (locked past the threshold, disk full,
    read-only) is not ready."""

    __tablename__ = "service_heartbeat"

    name: str = Field(primary_key=True, max_length=32)
    at: datetime = utc_datetime()


class AuditEventPublic(BaseModel):
    """A row of the trail. `actor_name` and `actor_caregiver_id` are not columns of the
    row: a staff row's `actor_id` is its key's id, and the key's name and caregiver
    (neither ever changes) are read with it, so the row says who acted."""

    id: str
    at: ChinaTime
    actor_kind: str
    actor_id: str
    actor_role: str | None
    actor_name: str | None = PField(
        default=None, description="A staff row's key's name (the staff member); null for "
                                  "citizens and the system")
    actor_caregiver_id: str | None = PField(
        default=None, description="The caregiver a `caregiver` key is bound to; null for "
                                  "every other actor")
    org_id: str | None
    action: str
    object_type: str
    object_id: str | None
    outcome: str
    request_id: str | None
    client_addr: str | None = PField(
        default=None, description="The client's address (the proxy's client, behind a "
                                  "trusted reverse proxy); null for the system's own writes "
                                  "and for rows written before addresses were recorded")
    delegation_id: str | None = PField(
        default=None, description="The delegation (代办) the citizen acted through, when it "
                                  "acted for its principal; null otherwise")
    seq: int
    prev_hash: str
    hash: str

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "aud_0193a1b2c3d4e5f6a7b8c9d0e1", "at": "2026-11-29T18:00:00+08:00",
        "actor_kind": "staff", "actor_id": "key_0193a1b2c3d4e5f6a7b8c9d0e1",
        "actor_role": "admin", "actor_name": "平台管理员", "actor_caregiver_id": None,
        "org_id": None, "action": "organisation.create",
        "object_type": "organisation", "object_id": "org_0193a1b2c3d4e5f6a7b8c9d0e1",
        "outcome": "success", "request_id": "3f1b8f6f2a104c559f400b6f3c1e6a1f",
        "seq": 42, "prev_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "hash": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}]})
