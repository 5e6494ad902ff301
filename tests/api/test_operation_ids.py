"""Operation ids are named for the clients generated from the document
(`bookAppointment`, not FastAPI's `book_appointment_v1_marriage_appointments_post`):
camelCase, unique, derived in one place (api.app.operation_id) from the route
function's name. The hot routes (api/hotpath.py) are FastAPI routes too and are
named the same way. Summaries, tags and error responses: tests/api/test_openapi.py."""

from __future__ import annotations

import re
from collections import Counter

CLIENT_NAME = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _operations(doc: dict) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op
            for path, item in doc["paths"].items() for method, op in item.items()}


async def test_every_operation_has_a_unique_camel_case_id(app):
    ops = _operations(app.openapi())
    ids = Counter(op.get("operationId") for op in ops.values())
    bad = {where: op.get("operationId") for where, op in ops.items()
           if not CLIENT_NAME.match(op.get("operationId") or "")}
    assert not bad, bad
    assert not [i for i, n in ids.items() if n > 1], ids


async def test_ids_are_named_for_what_the_operation_does(app):
    ops = _operations(app.openapi())
    expected = {
        # the hot routes, served by api/hotpath.py, documented as any other
        ("POST", "/v1/marriage/appointments"): "bookAppointment",
        ("GET", "/v1/marriage/offices/{office_id}/slots"): "listSlots",
        ("POST", "/v1/marriage/lotteries/{lottery_id}/entries"): "enterLottery",
        ("POST", "/v1/home-care/bookings"): "createHomeCareBooking",
        ("GET", "/v1/home-care/availability"): "getHomeCareAvailability",
        ("GET", "/v1/home-care/providers"): "listHomeCareProviders",
        # names that said too little as function names alone
        ("GET", "/v1/me"): "getMe",
        ("POST", "/v1/marriage/appointments/{appointment_id}/cancel"): "cancelAppointment",
        ("POST", "/v1/home-care/bookings/{booking_id}/cancel"): "cancelHomeCareBooking",
        ("POST", "/v1/bed-applications/{application_id}/assess"): "assessBedApplication",
        ("POST", "/v1/institutions/{institution_id}/beds/{bed_id}/discharge"):
            "dischargeResident",
        ("GET", "/v1/admin/home-care-ledger"): "getHomeCareLedger",
        ("POST", "/v1/webhook-subscriptions"): "createWebhookSubscription",
    }
    assert {where: ops[where]["operationId"] for where in expected} == expected


async def test_the_served_document_carries_them(client):
    doc = (await client.get("/openapi.json")).json()
    assert doc["paths"]["/v1/marriage/appointments"]["post"]["operationId"] == "bookAppointment"
