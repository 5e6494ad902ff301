"""The service record: check-in, check-out and completion, location flags, no-show,
cancellation by citizen and provider, rating; and who sees a visit."""

from __future__ import annotations

from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    provider,
    set_china_time,
)
from tests.factories import citizen_headers

HOME = {"lat": 31.235, "lon": 121.48}
FAMILY = "wx-family-of-wang"


def family_now(settings) -> dict[str, str]:
    """The family's token, issued at the (moved) clock's now."""
    return citizen_headers(settings, FAMILY)


async def _visit(client, admin_headers, settings, start="10:00", **elder_extra):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, lat=31.23, lon=121.47)
    await caregiver(client, staff, org["id"])
    family = citizen_headers(settings, FAMILY)
    r = await book(client, settings, org["id"], at(DAY, start), who=family,
                   elder_=elder(**elder_extra))
    assert r.status_code == 201, r.text
    return org, staff, family, r.json()


def _path(visit, action=""):
    return f"/v1/home-care/bookings/{visit['id']}" + (f"/{action}" if action else "")


async def test_check_in_only_on_the_day_near_the_start_then_check_out_completes(
        client, admin_headers, settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings, **HOME)
    r = await client.post(_path(visit, "check-in"), json=HOME, headers=staff)
    assert r.status_code == 422 and r.json()["code"] == "check_in_outside_window"
    set_china_time(DAY, "08:30")  # 90 minutes early: outside the 60-minute window
    r = await client.post(_path(visit, "check-in"), json=HOME, headers=staff)
    assert r.status_code == 422
    set_china_time(DAY, "09:50")
    r = await client.post(_path(visit, "check-out"), json=HOME, headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    r = await client.post(_path(visit, "check-in"), json=HOME, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "in_service"
    assert r.json()["location_flagged"] is False
    set_china_time(DAY, "11:00")
    r = await client.post(_path(visit, "check-out"), json=HOME, headers=staff)
    assert r.status_code == 200
    done = r.json()
    assert done["status"] == "completed" and done["completed_at"]
    assert done["subsidy_paid_fen"] == 0 and done["family_paid_fen"] == 6000


async def test_far_from_the_elders_home_is_flagged_not_refused(client, admin_headers,
                                                                settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings, **HOME)
    set_china_time(DAY, "10:00")
    r = await client.post(_path(visit, "check-in"), json={"lat": 31.30, "lon": 121.48},
                          headers=staff)
    assert r.status_code == 200 and r.json()["location_flagged"] is True


async def test_without_the_elders_location_the_providers_area_counts(client, admin_headers,
                                                                     settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    set_china_time(DAY, "10:00")
    r = await client.post(_path(visit, "check-in"), json={"lat": 39.9, "lon": 116.4},
                          headers=staff)  # Beijing, 1,000 km away
    assert r.status_code == 200 and r.json()["location_flagged"] is True


async def test_no_show_only_after_the_visit_ended_and_costs_nothing(client, admin_headers,
                                                                    settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    set_china_time(DAY, "10:30")
    r = await client.post(_path(visit, "no-show"), headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "visit_not_ended"
    set_china_time(DAY, "11:00")
    r = await client.post(_path(visit, "no-show"), headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "no_show"
    assert r.json()["subsidy_paid_fen"] is None and r.json()["family_paid_fen"] is None


async def test_citizen_cancels_until_the_deadline(client, admin_headers, settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    set_china_time(DAY, "00:00")  # 10 hours before; the deadline is 12 hours
    family = family_now(settings)
    r = await client.post(_path(visit, "cancel"), headers=family)
    assert r.status_code == 422 and r.json()["code"] == "cancel_deadline_passed"
    set_china_time("2026-12-07", "21:59")
    family = family_now(settings)
    r = await client.post(_path(visit, "cancel"), headers=family)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["cancelled_by"] == "citizen"
    # The time is free again.
    r = await book(client, settings, org["id"], at(DAY, "10:00"))
    assert r.status_code == 201


async def test_provider_cancels_with_a_reason_only(client, admin_headers, settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    r = await client.post(_path(visit, "cancel"), headers=staff)
    assert r.status_code == 422 and r.json()["code"] == "cancel_reason_required"
    r = await client.post(_path(visit, "cancel"), json={"reason": "护理员生病"}, headers=staff)
    assert r.status_code == 200
    assert r.json()["cancelled_by"] == "provider" and r.json()["cancel_reason"] == "护理员生病"
    r = await client.get(_path(visit), headers=family)
    assert r.json()["cancel_reason"] == "护理员生病"


async def test_rating_once_by_the_booking_citizen_after_completion(client, admin_headers,
                                                                   settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    r = await client.post(_path(visit, "rate"), json={"stars": 5}, headers=family)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    set_china_time(DAY, "10:00")
    family = family_now(settings)
    await client.post(_path(visit, "check-in"), json=HOME, headers=staff)
    set_china_time(DAY, "11:00")
    family = family_now(settings)
    await client.post(_path(visit, "check-out"), json=HOME, headers=staff)
    r = await client.post(_path(visit, "rate"), json={"stars": 6}, headers=family)
    assert r.status_code == 422
    stranger = citizen_headers(settings)
    r = await client.post(_path(visit, "rate"), json={"stars": 1}, headers=stranger)
    assert r.status_code == 404
    r = await client.post(_path(visit, "rate"), json={"stars": 4, "comment": "阿姨很细心"},
                          headers=family)
    assert r.status_code == 200 and r.json()["rating_stars"] == 4
    r = await client.post(_path(visit, "rate"), json={"stars": 1}, headers=family)
    assert r.status_code == 409 and r.json()["code"] == "already_rated"
    r = await client.post(_path(visit, "rate"), json={"stars": 1}, headers=staff)
    assert r.status_code == 403


async def test_owner_and_provider_see_a_visit_nobody_else(client, admin_headers, settings):
    org, staff, family, visit = await _visit(client, admin_headers, settings)
    assert (await client.get(_path(visit), headers=family)).status_code == 200
    assert (await client.get(_path(visit), headers=staff)).status_code == 200
    assert (await client.get(_path(visit), headers=citizen_headers(settings))).status_code == 404
    _, other = await provider(client, admin_headers)
    assert (await client.get(_path(visit), headers=other)).status_code == 404
    assert (await client.post(_path(visit, "check-in"), json=HOME,
                              headers=other)).status_code == 404
