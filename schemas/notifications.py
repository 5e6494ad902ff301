"""Notifications: the outbox of events, webhook subscriptions and their deliveries.

An `OutboxEvent` is written in the transaction of the change it reports (through
`services.outbox`). The worker fans each new event out to the subscriptions that
want it (one `WebhookDelivery` per subscription and event) and delivers those.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PField
from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from schemas.common import ChinaTime, StrictModel, id_field, utc_datetime


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = (
        # The worker's queue: events not yet fanned out to the subscriptions.
        Index("ix_outbox_event_undispatched", "id",
              postgresql_where=text("dispatched_at IS NULL")),
    )

    id: str = id_field()
    type: str = Field(max_length=80)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40)
    # Whose event it is: the organisation the object belongs to (an office, an
    # institution, a provider) and the division it lies in (burial claims: the
    # bureaus whose jurisdiction covers it); the citizen account it concerns.
    org_id: str | None = Field(default=None, max_length=40)
    division_code: str | None = Field(default=None, max_length=6)
    subject: str | None = Field(default=None, max_length=128)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = utc_datetime()
    # Scheduled events (reminders, offers about to expire): one per (kind, object),
    # however often and by however many workers the schedule is looked at.
    dedup_key: str | None = Field(default=None, max_length=160, unique=True)
    dispatched_at: datetime | None = utc_datetime(default=None, nullable=True)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: str = id_field()
    # None: an admin's subscription (every event); else a staff role's own
    # organisation's events.
    org_id: str | None = Field(default=None, max_length=40, index=True)
    # A bureau's jurisdiction (its division code), for events located by division.
    division_code: str | None = Field(default=None, max_length=6)
    role: str = Field(max_length=32)
    created_by: str = Field(max_length=40)
    url: str = Field(max_length=2048)
    events: list[str] = Field(default_factory=list, sa_type=JSON)
    description: str | None = Field(default=None, max_length=500)
    # The signing secret, AES-256-GCM encrypted (core.security.Cipher); shown once.
    secret_encrypted: str = Field(max_length=200)
    created_at: datetime = utc_datetime()


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: str = id_field()
    subscription_id: str = Field(sa_column=Column(
        String(40), ForeignKey("webhook_subscription.id", ondelete="CASCADE"),
        nullable=False))
    event_id: str = Field(foreign_key="outbox_event.id", max_length=40, index=True)
    event_type: str = Field(max_length=80)
    status: str = Field(default=DeliveryStatus.pending, max_length=16)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=200)
    # When the next attempt is due; while an attempt runs, the end of the worker's
    # lease on it (a worker killed mid-delivery lets it fall due again).
    next_attempt_at: datetime = utc_datetime()
    # The first attempt of the current round (a retry through the API starts a new
    # one): backoff stops, and the delivery fails, a set time after it.
    first_attempt_at: datetime | None = utc_datetime(default=None, nullable=True)
    delivered_at: datetime | None = utc_datetime(default=None, nullable=True)
    created_at: datetime = utc_datetime()
    updated_at: datetime = utc_datetime()


# --- request and response models ---------------------------------------------------------

EventPattern = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z_]+(\.[a-z_]+){1,3}|"
                                                        r"[a-z_]+(\.[a-z_]+){0,2}\.\*)$",
                                                max_length=80)]


class SubscriptionCreate(StrictModel):
    # The form services/notifications/urls.py requires, stated for clients: http or
    # https and a host. The service keeps refusing any other URL with its own 422
    # `webhook_url_not_allowed` (a reason: scheme, malformed, ...), as it refuses
    # hosts and http in production, which no pattern can state.
    url: str = PField(min_length=8, max_length=2048,
                      json_schema_extra={"pattern": r"^https?://[^\s/?#]+([/?#]\S*)?$"},
                      description="Where events are POSTed. In production https to a "
                                  "public address only, unless the settings' allow-list "
                                  "names the host.",
                      examples=["https://push.example.cn/huimin/webhooks"])
    events: list[EventPattern] = PField(
        min_length=1, max_length=50,
        description='Event types, a family (`marriage.appointment.*`) or `["*"]`',
        examples=[["marriage.appointment.cancelled", "marriage.appointment.reminder"]])
    description: str | None = PField(default=None, max_length=500,
                                     examples=["小程序推送服务"])

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "https://push.example.cn/huimin/webhooks",
        "events": ["marriage.appointment.cancelled"], "description": "小程序推送服务"}]})


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None = None
    org_id: str | None = None
    created_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "whs_0193a1b2c3d4e5f6a7b8c9d0e1", "url": "https://push.example.cn/huimin/webhooks",
        "events": ["marriage.appointment.cancelled"], "description": "小程序推送服务",
        "org_id": None, "created_at": "2026-12-01T10:00:00+08:00"}]})


class SubscriptionCreated(SubscriptionPublic):
    secret: str = PField(description="`whsec_` + base64 of 32 random bytes: the Standard "
                                     "Webhooks signing secret, shown only in this response")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "whs_0193a1b2c3d4e5f6a7b8c9d0e1", "url": "https://push.example.cn/huimin/webhooks",
        "events": ["marriage.appointment.cancelled"], "description": "小程序推送服务",
        "org_id": None, "created_at": "2026-12-01T10:00:00+08:00",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]})


class DeliveryPublic(BaseModel):
    id: str
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: ChinaTime | None = None
    delivered_at: ChinaTime | None = None
    created_at: ChinaTime

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "whd_0193a1b2c3d4e5f6a7b8c9d0e1", "event_id": "evt_0193a1b2c3d4e5f6a7b8c9d0e1",
        "type": "marriage.appointment.cancelled", "status": "pending", "attempts": 2,
        "last_status_code": 503, "last_error": None,
        "next_attempt_at": "2026-12-01T10:05:00+08:00", "delivered_at": None,
        "created_at": "2026-12-01T10:00:00+08:00"}]})
