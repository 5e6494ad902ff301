"""Caregivers: create, list, update under If-Match, deactivate, leave; a change
that strands booked visits is refused with the number affected, or cancels them."""

from __future__ import annotations

from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    hours,
    provider,
    set_china_time,
    slots,
)
from tests.factories import citizen_headers, org_with_staff


async def test_create_list_and_read_a_caregiver(client, admin_headers):
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"], skills=["cleaning", "bathing"])
    assert c["active"] is True and c["skills"] == ["bathing", "cleaning"]
    r = await client.get(f"/v1/providers/{org['id']}/caregivers", headers=staff)
    assert [x["id"] for x in r.json()["items"]] == [c["id"]]
    r = await client.get(f"/v1/providers/{org['id']}/caregivers/{c['id']}", headers=staff)
    assert r.headers["ETag"] == c["etag"]
    _, other = await org_with_staff(client, admin_headers, "home_care_provider")
    r = await client.get(f"/v1/providers/{org['id']}/caregivers/{c['id']}", headers=other)
    assert r.status_code == 404


async def test_update_needs_if_match_and_refuses_a_stale_one(client, admin_headers):
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"])
    path = f"/v1/providers/{org['id']}/caregivers/{c['id']}"
    r = await client.patch(path, json={"skills": ["cleaning", "meal_assist"]}, headers=staff)
    assert r.status_code == 428
    r = await client.patch(path, json={"skills": ["cleaning", "meal_assist"]},
                           headers={**staff, "If-Match": c["etag"]})
    assert r.status_code == 200 and r.json()["skills"] == ["cleaning", "meal_assist"]
    r = await client.patch(path, json={"name": "张"}, headers={**staff, "If-Match": c["etag"]})
    assert r.status_code == 412


async def test_new_hours_that_strand_a_visit_are_refused_then_cancel_it(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"])
    family = citizen_headers(settings)
    r = await book(client, settings, org["id"], at(DAY, "15:00"), who=family)
    assert r.status_code == 201, r.text
    visit = r.json()
    path = f"/v1/providers/{org['id']}/caregivers/{c['id']}"
    body = {"weekly_hours": hours("08:00", "12:00")}
    r = await client.patch(path, json=body, headers={**staff, "If-Match": c["etag"]})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "bookings_affected" and r.json()["affected_bookings"] == 1
    # Nothing changed: the same ETag still works.
    r = await client.patch(path, json={**body, "cancel_affected": True},
                           headers={**staff, "If-Match": c["etag"]})
    assert r.status_code == 200
    r = await client.get(f"/v1/home-care/bookings/{visit['id']}", headers=family)
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancelled_by"] == "provider"
    assert r.json()["cancel_reason"] == "caregiver_unavailable"


async def test_removing_a_skill_strands_visits_of_that_service(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"], skills=["cleaning", "bathing"])
    assert (await book(client, settings, org["id"], at(DAY, "09:00"))).status_code == 201
    r = await client.patch(f"/v1/providers/{org['id']}/caregivers/{c['id']}",
                           json={"skills": ["bathing"]},
                           headers={**staff, "If-Match": c["etag"]})
    assert r.status_code == 409 and r.json()["affected_bookings"] == 1


async def test_leave_over_a_visit_is_refused_then_cancels_it_and_blocks_booking(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"])
    family = citizen_headers(settings)
    visit = (await book(client, settings, org["id"], at(DAY, "10:00"), who=family)).json()
    path = f"/v1/providers/{org['id']}/caregivers/{c['id']}/time-off"
    leave = {"starts_at": at(DAY, "00:00"), "ends_at": at("2026-12-09", "00:00"),
             "reason": "事假"}
    r = await client.post(path, json=leave, headers=staff)
    assert r.status_code == 409 and r.json()["affected_bookings"] == 1
    r = await client.post(path, json={**leave, "cancel_affected": True}, headers=staff)
    assert r.status_code == 201 and r.json()["cancelled_bookings"] == 1
    r = await client.get(f"/v1/home-care/bookings/{visit['id']}", headers=family)
    assert r.json()["status"] == "cancelled"
    assert await slots(client, org["id"]) == []
    r = await book(client, settings, org["id"], at(DAY, "10:00"))
    assert r.status_code == 409 and r.json()["code"] == "no_caregiver_available"
    r = await client.get(path, headers=staff)
    assert len(r.json()["items"]) == 1


async def test_deactivation_strands_future_visits_and_takes_the_caregiver_off(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"])
    assert (await book(client, settings, org["id"], at(DAY, "10:00"))).status_code == 201
    path = f"/v1/providers/{org['id']}/caregivers/{c['id']}/deactivate"
    r = await client.post(path, headers=staff)
    assert r.status_code == 409 and r.json()["affected_bookings"] == 1
    r = await client.post(path, json={"cancel_affected": True}, headers=staff)
    assert r.status_code == 200 and r.json()["active"] is False
    assert await slots(client, org["id"]) == []


async def test_leave_by_whole_days_and_taken_back(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"])
    path = f"/v1/providers/{org['id']}/caregivers/{c['id']}/time-off"
    r = await client.post(path, json={"date": DAY, "to_date": "2026-12-09"}, headers=staff)
    assert r.status_code == 201, r.text
    leave = r.json()
    assert leave["starts_at"] == "2026-12-08T00:00:00+08:00"
    assert leave["ends_at"] == "2026-12-10T00:00:00+08:00"  # the last day, inclusive
    assert await slots(client, org["id"]) == []
    assert await slots(client, org["id"], day="2026-12-09") == []
    assert await slots(client, org["id"], day="2026-12-10")
    r = await client.post(path, json={"date": DAY, "starts_at": at(DAY, "09:00"),
                                      "ends_at": at(DAY, "10:00")}, headers=staff)
    assert r.status_code == 422
    r = await client.delete(f"{path}/{leave['id']}", headers=staff)
    assert r.status_code == 204
    assert await slots(client, org["id"])
    r = await client.delete(f"{path}/{leave['id']}", headers=staff)
    assert r.status_code == 404


async def test_hours_of_leave_block_only_those_hours(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    c = await caregiver(client, staff, org["id"], weekly=hours("08:00", "12:00"))
    r = await client.post(f"/v1/providers/{org['id']}/caregivers/{c['id']}/time-off",
                          json={"starts_at": at(DAY, "09:00"), "ends_at": at(DAY, "10:00")},
                          headers=staff)
    assert r.status_code == 201
    assert await slots(client, org["id"]) == ["08:00", "10:00", "10:30", "11:00"]


async def test_hours_are_ascii_clock_times(client, admin_headers):
    """`24:00` ends a day's hours; another script's digits (`0٨:00`) are no clock time,
    though a regex's `\\d` takes them."""
    org, staff = await provider(client, admin_headers)
    path = f"/v1/providers/{org['id']}/caregivers"
    for start, end, ok in (("08:00", "24:00", True), ("0٨:00", "17:00", False),
                           ("08:00", "1٧:00", False), ("8:00", "17:00", False),
                           ("08:00", "24:01", False)):
        r = await client.post(path, headers=staff, json={
            "name": "王护理", "skills": ["cleaning"], "weekly_hours": hours(start, end)})
        assert (r.status_code == 201) is ok, (start, end, r.text)
        if not ok:
            assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
