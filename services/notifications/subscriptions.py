"""Webhook subscriptions (API.md): a staff role's subscription receives its own
organisation's events (a bureau's also the events located within its division);
an admin's receives every event, which is how the citizen frontends' push service
hears about citizens. Another organisation's subscription is not found (404).

The signing secret (`whsec_` + base64 of 32 random bytes) is shown in the create
response only; it is stored AES-256-GCM encrypted with the key of the other
protected values (`core.protected`), so the worker can sign with it.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock, utc
from core.ids import new_id
from core.principal import Principal
from core.protected import cipher
from core.settings import Settings
from schemas.common import Page
from schemas.notifications import (
    DeliveryPublic,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
    WebhookDelivery,
    WebhookSubscription,
)
from services import audit, divisions, scopes, transitions
from services.notifications import urls

SECRET_CONTEXT = "webhook_secret"  # noqa: S105 - the AEAD context, not a secret
# Not `caregiver`: a caregiver's key sees its own visits only, never its provider's events.
STAFF_ROLES = ("office", "institution", "provider", "reviewer", "approver",
               "identity_verifier")
BUREAU_ROLES = ("reviewer", "approver")


def _admins(_p: Principal) -> Any:
    return WebhookSubscription.org_id.is_(None)


SUBSCRIPTION = scopes.Resource(
    model=WebhookSubscription, noun="webhook subscription", audit_type="webhook_subscription",
    rules={"admin": _admins,
           **{role: scopes.of_org(WebhookSubscription.org_id) for role in STAFF_ROLES}},
    personal=False, org_attr="org_id")


def _of_visible_subscription(p: Principal) -> Any:
    return exists().where(WebhookSubscription.id == WebhookDelivery.subscription_id,
                          SUBSCRIPTION.condition(p))


DELIVERY = scopes.Resource(
    model=WebhookDelivery, noun="delivery", audit_type="webhook_delivery",
    rules={role: _of_visible_subscription for role in ("admin", *STAFF_ROLES)},
    personal=False)

DELIVERY_LIFE = transitions.Machine(DELIVERY, {
    "retry": transitions.Transition(frm={DeliveryStatus.failed}, to=DeliveryStatus.pending),
}, touched="updated_at")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_of(sub: WebhookSubscription) -> str:
    return cipher().decrypt(sub.secret_encrypted, context=SECRET_CONTEXT)


def to_public(sub: WebhookSubscription) -> SubscriptionPublic:
    return SubscriptionPublic(id=sub.id, url=sub.url, events=list(sub.events),
                              description=sub.description, org_id=sub.org_id,
                              created_at=sub.created_at)


async def create(session: AsyncSession, principal: Principal, settings: Settings,
                 body: SubscriptionCreate) -> SubscriptionCreated:
    await urls.check(body.url, settings)
    secret = new_secret()
    admin = principal.role == "admin"
    sub = WebhookSubscription(
        id=new_id("whs"), org_id=None if admin else principal.org_id,
        division_code=principal.division_code if principal.role in BUREAU_ROLES else None,
        role=principal.role, created_by=principal.subject, url=body.url,
        events=sorted(set(body.events)), description=body.description,
        secret_encrypted=cipher(settings).encrypt(secret, context=SECRET_CONTEXT),
        created_at=clock.now())
    session.add(sub)
    await session.flush()
    await audit.record(session, principal, "webhook_subscription.create",
                       "webhook_subscription", sub.id, org_id=sub.org_id)
    return SubscriptionCreated(**to_public(sub).model_dump(), secret=secret)


NEWEST_FIRST = pages.Keyset(pages.Key(WebhookSubscription.id, pages.IdOf("whs"),
                                      descending=True))
DELIVERIES_NEWEST_FIRST = pages.Keyset(pages.Key(WebhookDelivery.id, pages.IdOf("whd"),
                                                 descending=True))


async def list_(session: AsyncSession, principal: Principal, *, limit: int,
                cursor: str | None) -> Page[SubscriptionPublic]:
    page = await NEWEST_FIRST.page(session, scopes.select_visible(SUBSCRIPTION, principal),
                                   limit=limit, cursor=cursor)
    return page.map(to_public)


async def get(session: AsyncSession, principal: Principal,
              subscription_id: str) -> WebhookSubscription:
    return await scopes.load(session, principal, SUBSCRIPTION, subscription_id)


async def delete_(session: AsyncSession, principal: Principal, subscription_id: str) -> None:
    sub = await get(session, principal, subscription_id)
    await session.execute(delete(WebhookDelivery)
                          .where(WebhookDelivery.subscription_id == sub.id))
    await session.execute(delete(WebhookSubscription).where(WebhookSubscription.id == sub.id))
    await audit.record(session, principal, "webhook_subscription.delete",
                       "webhook_subscription", sub.id, org_id=sub.org_id)


def delivery_public(d: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic(
        id=d.id, event_id=d.event_id, type=d.event_type, status=DeliveryStatus(d.status),
        attempts=d.attempts, last_status_code=d.last_status_code, last_error=d.last_error,
        next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.pending else None,
        delivered_at=d.delivered_at, created_at=d.created_at)


async def deliveries(session: AsyncSession, principal: Principal, subscription_id: str, *,
                     status: DeliveryStatus | None, limit: int,
                     cursor: str | None) -> Page[DeliveryPublic]:
    sub = await get(session, principal, subscription_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    page = await DELIVERIES_NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
    return page.map(delivery_public)


async def retry(session: AsyncSession, principal: Principal, subscription_id: str,
                delivery_id: str) -> DeliveryPublic:
    """A `failed` delivery goes out again: pending now, with a fresh round of backoff
    (the same event, so the same `webhook-id`)."""
    sub = await get(session, principal, subscription_id)
    d = await scopes.load(session, principal, DELIVERY, delivery_id, audit_read=False)
    if d.subscription_id != sub.id:
        raise DELIVERY.not_found()
    d = await DELIVERY_LIFE.move(session, principal, d, "retry", values={
        "next_attempt_at": clock.now(), "first_attempt_at": None})
    return delivery_public(d)


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    """How many deliveries are pending, delivered and failed (the metrics' gauges)."""
    rows = (await session.execute(select(WebhookDelivery.status, func.count())
                                  .group_by(WebhookDelivery.status))).all()
    return {str(status): int(n) for status, n in rows}


async def oldest_pending_seconds(session: AsyncSession) -> float:
    """How long the oldest pending delivery has waited since it was made (0: none)."""
    oldest = (await session.execute(
        select(func.min(WebhookDelivery.created_at))
        .where(WebhookDelivery.status == DeliveryStatus.pending.value))).scalar_one()
    if oldest is None:
        return 0.0
    return max(0.0, (clock.now() - utc(oldest)).total_seconds())


def wants(sub: WebhookSubscription, event_type: str, org_id: str | None,
          division_code: str | None) -> bool:
    """Whether `sub` receives an event of this type, organisation and division."""
    if not any(p == "*" or p == event_type or (p.endswith(".*")
                                               and event_type.startswith(p[:-1]))
               for p in sub.events):
        return False
    if sub.org_id is None:
        return True
    if org_id is not None and org_id == sub.org_id:
        return True
    return bool(sub.division_code and division_code
                and divisions.covers(sub.division_code, division_code))
