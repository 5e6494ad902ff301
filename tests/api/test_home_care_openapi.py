"""Every home-care path of API.md is in the OpenAPI document, with its errors."""

from __future__ import annotations

CONTRACT = {
    ("get", "/v1/home-care/services"): set(),
    ("put", "/v1/providers/{provider_id}/offerings/{service_code}"): {"412", "428"},
    ("post", "/v1/providers/{provider_id}/caregivers"): {"403"},
    ("get", "/v1/home-care/availability"): {"404"},
    ("post", "/v1/home-care/bookings"): {"400", "409", "422"},
    ("post", "/v1/home-care/bookings/{booking_id}/check-in"): {"409", "422"},
    ("post", "/v1/home-care/bookings/{booking_id}/check-out"): {"409"},
    ("post", "/v1/home-care/bookings/{booking_id}/cancel"): {"409", "422"},
    ("post", "/v1/home-care/bookings/{booking_id}/rate"): {"409"},
    ("put", "/v1/admin/home-care-subsidies"): {"403", "422"},
    ("post", "/v1/home-care/bookings/{booking_id}/corrections"): {"403", "404", "409", "422"},
    ("post", "/v1/home-care/bookings/{booking_id}/corrections/approve"): {"403", "404", "409"},
    ("post", "/v1/home-care/bookings/{booking_id}/corrections/reject"): {"403", "404", "409",
                                                                         "422"},
    ("get", "/v1/home-care/exceptions"): {"400", "403"},
}


async def test_the_contracts_home_care_operations_are_documented(app):
    doc = app.openapi()
    for (method, path), statuses in CONTRACT.items():
        op = doc["paths"][path][method]
        assert op["summary"] and op["tags"] == ["home-care"]
        assert statuses <= set(op["responses"]), (path, set(op["responses"]))
    booking = doc["paths"]["/v1/home-care/bookings"]["post"]["responses"]["409"]
    examples = booking["content"]["application/problem+json"]["examples"]
    assert "no_caregiver_available" in examples


async def test_the_verification_operations_show_what_they_answer(app):
    doc = app.openapi()
    paths = doc["paths"]
    op = paths["/v1/home-care/bookings/{booking_id}/corrections"]["post"]
    assert "correction_outside_visit" in op["responses"]["422"]["content"][
        "application/problem+json"]["examples"]
    answer = op["responses"]["200"]["content"]["application/json"]
    [example] = answer["examples"].values()
    assert example["value"]["verification"] == "correction_submitted"
    approve = paths["/v1/home-care/bookings/{booking_id}/corrections/approve"]["post"]
    [example] = approve["responses"]["200"]["content"]["application/json"]["examples"].values()
    assert example["value"]["verification"] == "corrected"
    listing = paths["/v1/home-care/exceptions"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["example"]["items"]
    assert {p["name"] for p in listing["parameters"]} >= {"verification", "limit", "cursor"}
    booking = doc["components"]["schemas"]["BookingPublic"]["properties"]
    assert {"verification", "exceptions", "subsidy_held_fen", "correction"} <= set(booking)
