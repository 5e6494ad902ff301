"""Availability and booking: the grid, weekly hours, leave, the travel buffer,
notice and window, the elder's age and protected data, caregiver assignment."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from schemas.home_care import HomeCareBooking
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    hours,
    provider,
    set_china_time,
    slots,
)
from tests.factories import citizen_headers


async def test_availability_is_the_grid_inside_weekly_hours(client, admin_headers):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    await caregiver(client, staff, org["id"], weekly=hours("08:00", "11:00"))
    assert await slots(client, org["id"]) == ["08:00", "08:30", "09:00", "09:30", "10:00"]
    # Another skill only: nobody.
    assert (await client.get("/v1/home-care/availability", params={
        "provider_id": org["id"], "service_code": "bathing", "date": DAY})).status_code == 404


async def test_a_visit_blocks_its_caregiver_with_the_buffer_either_side(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    await caregiver(client, staff, org["id"], weekly=hours("08:00", "14:00"))
    r = await book(client, settings, org["id"], at(DAY, "10:00"))
    assert r.status_code == 201, r.text
    # 10:00-11:00 booked, buffer 30: nothing may end after 09:30 or start before 11:30.
    assert await slots(client, org["id"]) == ["08:00", "08:30", "11:30", "12:00", "12:30",
                                              "13:00"]
    for start in ("09:00", "11:00"):
        r = await book(client, settings, org["id"], at(DAY, start))
        assert r.status_code == 409 and r.json()["code"] == "no_caregiver_available"
    assert (await book(client, settings, org["id"], at(DAY, "11:30"))).status_code == 201


async def test_notice_and_booking_window_from_settings(client, admin_headers, settings):
    set_china_time(DAY, "09:10")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"], weekly=hours("08:00", "14:00"))
    # Two hours' notice: 11:10 at the earliest, so 11:30 is the first.
    assert (await slots(client, org["id"]))[0] == "11:30"
    r = await book(client, settings, org["id"], at(DAY, "11:00"))
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window"
    far = (dt.date.fromisoformat(DAY) + dt.timedelta(days=15)).isoformat()
    assert await slots(client, org["id"], day=far) == []
    r = await book(client, settings, org["id"], at(far, "09:00"))
    assert r.status_code == 422 and r.json()["code"] == "outside_booking_window"
    # Days ahead: move the clock and the date opens.
    set_china_time(far, "06:00")
    assert (await book(client, settings, org["id"], at(far, "09:00"))).status_code == 201


async def test_start_times_off_the_grid_are_refused(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    r = await book(client, settings, org["id"], at(DAY, "09:15"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_start_time"


async def test_the_visit_must_fit_wholly_inside_the_hours(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=120)
    await caregiver(client, staff, org["id"], weekly=hours("08:00", "12:00"))
    assert await slots(client, org["id"]) == ["08:00", "08:30", "09:00", "09:30", "10:00"]
    r = await book(client, settings, org["id"], at(DAY, "10:30"))
    assert r.status_code == 409


async def test_elder_identity_is_validated_masked_and_encrypted(client, admin_headers, settings,
                                                                 db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    young = elder(age_years=59)
    r = await book(client, settings, org["id"], at(DAY, "09:00"), elder_=young)
    assert r.status_code == 422 and r.json()["code"] == "underage"
    bad = {**elder(), "id_number": "110105194912310021"}
    r = await book(client, settings, org["id"], at(DAY, "09:00"), elder_=bad)
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number"
    person = elder()
    r = await book(client, settings, org["id"], at(DAY, "09:00"), elder_=person)
    assert r.status_code == 201
    shown = r.json()["elder"]
    number = person["id_number"]
    assert shown["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert shown["phone_masked"] == "138****8000"
    assert "南京东路" not in r.text and shown["address_masked"].endswith("****")
    async with db.session() as s:
        row = (await s.execute(select(HomeCareBooking))).scalar_one()
    assert number not in row.elder_id_encrypted
    assert "南京东路" not in row.elder_address_encrypted
    assert "13800138000" not in row.elder_phone_encrypted


async def test_requested_caregiver_is_honoured_or_refused(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    a = await caregiver(client, staff, org["id"], name="甲")
    b = await caregiver(client, staff, org["id"], name="乙")
    r = await book(client, settings, org["id"], at(DAY, "09:00"), caregiver_id=b["id"])
    assert r.status_code == 201 and r.json()["caregiver"]["id"] == b["id"]
    r = await book(client, settings, org["id"], at(DAY, "09:00"), caregiver_id=b["id"])
    assert r.status_code == 409 and r.json()["code"] == "no_caregiver_available"
    r = await book(client, settings, org["id"], at(DAY, "09:00"))
    assert r.status_code == 201 and r.json()["caregiver"]["id"] == a["id"]
    # A caregiver of another provider is never assigned.
    other, other_staff = await provider(client, admin_headers)
    c = await caregiver(client, other_staff, other["id"])
    r = await book(client, settings, org["id"], at(DAY, "13:00"), caregiver_id=c["id"])
    assert r.status_code == 409


async def test_unrequested_visits_go_to_the_least_booked_caregiver_that_day(
        client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    ids = sorted([(await caregiver(client, staff, org["id"]))["id"] for _ in range(3)])
    got = []
    for start in ("08:00", "08:00", "08:00", "10:00", "10:00", "10:00"):
        r = await book(client, settings, org["id"], at(DAY, start))
        assert r.status_code == 201, r.text
        got.append(r.json()["caregiver"]["id"])
    # First round: one each, in id order; second round: again one each.
    assert got[:3] == ids and sorted(got[3:]) == ids


async def test_booking_replays_with_the_same_idempotency_key(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    body = {"provider_id": org["id"], "service_code": "cleaning",
            "start_at": at(DAY, "09:00"), "elder": elder()}
    headers = {**citizen_headers(settings), "Idempotency-Key": "k-1"}
    r1 = await client.post("/v1/home-care/bookings", json=body, headers=headers)
    r2 = await client.post("/v1/home-care/bookings", json=body, headers=headers)
    assert r1.status_code == r2.status_code == 201
    assert r2.headers["Idempotent-Replayed"] == "true" and r1.json() == r2.json()
    r = await client.post("/v1/home-care/bookings", json=body,
                          headers=citizen_headers(settings))
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"


async def test_the_address_and_phone_never_reach_a_log_line(client, admin_headers, settings,
                                                            log_stream):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers)
    await caregiver(client, staff, org["id"])
    person = elder(address="上海市黄浦区独一无二路 8 号", phone="13912345678")
    r = await book(client, settings, org["id"], at(DAY, "09:00"), elder_=person)
    assert r.status_code == 201
    r = await client.get(f"/v1/home-care/bookings/{r.json()['id']}", headers=staff)
    assert r.status_code == 200
    # The provider's caregiver must be able to call the family: the phone in full to
    # the provider (issue 10 part 3), the address still masked.
    assert "独一无二路" not in r.text and r.json()["elder"]["phone"] == "13912345678"
    logs = log_stream.getvalue()
    assert logs  # the requests were logged ...
    assert "独一无二路" not in logs and "13912345678" not in logs  # ... without them
