"""Webhook subscriptions and their deliveries (API.md "Notifications and webhooks").

Any staff role subscribes to its own organisation's events; an admin to every
event (the citizen frontends' push service). `huimin worker` delivers them.
"""

from __future__ import annotations

from fastapi import Response

from api.deps import Db, Paging, SettingsDep, Subscriber
from api.problems import responses, with_headers
from api.route import Router
from core import errors
from schemas.common import Page
from schemas.notifications import (
    DeliveryPublic,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
)
from services.notifications import subscriptions

router = Router(prefix="/v1/webhook-subscriptions", tags=["notifications"])

@router.post("", status_code=201, response_model=SubscriptionCreated,
             summary="Subscribe a URL to events (the secret is shown once)",
             description="A staff role's subscription receives its own organisation's "
                         "events (a bureau's also those within its division); an admin's "
                         "every event. Deliveries are signed with the returned `secret` "
                         "(Standard Webhooks).",
             responses=responses(errors.Forbidden, errors.WebhookUrlNotAllowed)
             | with_headers(201, "Location"))
async def create_webhook_subscription(body: SubscriptionCreate, session: Db, settings: SettingsDep,
                              response: Response, principal: Subscriber) -> SubscriptionCreated:
    created = await subscriptions.create(session, principal, settings, body)
    response.headers["Location"] = f"/v1/webhook-subscriptions/{created.id}"
    return created


@router.get("", response_model=Page[SubscriptionPublic], summary="List subscriptions",
            responses=responses(errors.Forbidden, errors.InvalidCursor))
async def list_webhook_subscriptions(session: Db, paging: Paging,
                             principal: Subscriber) -> Page[SubscriptionPublic]:
    return await subscriptions.list_(session, principal, limit=paging.limit,
                                     cursor=paging.cursor)


@router.delete("/{subscription_id}", status_code=204, summary="Delete a subscription",
               responses=responses(errors.Forbidden, errors.NotFound))
async def delete_webhook_subscription(subscription_id: str, session: Db,
                              principal: Subscriber) -> Response:
    await subscriptions.delete_(session, principal, subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryPublic],
            summary="A subscription's deliveries, newest first",
            responses=responses(errors.Forbidden, errors.NotFound, errors.InvalidCursor))
async def list_webhook_deliveries(subscription_id: str, session: Db, paging: Paging,
                          principal: Subscriber,
                          status: DeliveryStatus | None = None) -> Page[DeliveryPublic]:
    return await subscriptions.deliveries(session, principal, subscription_id, status=status,
                                          limit=paging.limit, cursor=paging.cursor)


@router.action("/{subscription_id}/deliveries/{delivery_id}/retry",
               response_model=DeliveryPublic, summary="Send a failed delivery again")
async def retry_webhook_delivery(subscription_id: str, delivery_id: str, session: Db,
                         principal: Subscriber) -> DeliveryPublic:
    return await subscriptions.retry(session, principal, subscription_id, delivery_id)
