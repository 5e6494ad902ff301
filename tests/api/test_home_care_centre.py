"""Centre services (day care, canteen meals): sessions with capacity, seats through
the capacity service, one seat per elder per session, cancellation gives it back."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from schemas.capacity import CapacitySlot
from tests.api.test_home_care_support import DAY, elder, provider, set_china_time
from tests.factories import citizen_headers, idem


async def _session(client, admin_headers, capacity=2, **extra):
    org, staff = await provider(client, admin_headers)
    r = await client.post(f"/v1/providers/{org['id']}/centre-sessions", json={
        "service_code": "meal_assist", "date": DAY, "start": "11:00", "end": "13:00",
        "capacity": capacity, "price_fen": 1500, **extra}, headers=staff)
    assert r.status_code == 201, r.text
    return org, staff, r.json()


async def _seat(client, settings, session_id, who=None, person=None):
    return await client.post("/v1/home-care/centre-bookings", json={
        "session_id": session_id, "elder": {k: v for k, v in (person or elder()).items()
                                            if k in ("name", "id_number", "phone")}},
        headers={**(who or citizen_headers(settings)), **idem()})


async def test_published_sessions_list_with_remaining_seats(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff, s = await _session(client, admin_headers)
    assert (s["start"], s["end"], s["remaining"], s["bookable"]) == ("11:00", "13:00", 2, True)
    r = await client.get("/v1/home-care/centre-sessions",
                         params={"provider_id": org["id"], "from": DAY, "to": DAY})
    assert [x["id"] for x in r.json()["items"]] == [s["id"]]
    r = await client.get("/v1/home-care/centre-sessions",
                         params={"provider_id": org["id"], "from": DAY, "to": "2027-03-01"})
    assert r.status_code == 422 and r.json()["code"] == "date_range_too_long"
    r = await client.post(f"/v1/providers/{org['id']}/centre-sessions", json={
        "service_code": "cleaning", "date": DAY, "start": "11:00", "end": "13:00",
        "capacity": 1, "price_fen": 1}, headers=staff)
    assert r.status_code == 422


async def test_seats_are_taken_until_full_and_one_per_elder(client, admin_headers, settings):
    set_china_time("2026-12-01")
    org, staff, s = await _session(client, admin_headers)
    person = elder()
    family = citizen_headers(settings)
    r = await _seat(client, settings, s["id"], who=family, person=person)
    assert r.status_code == 201 and r.json()["session"]["remaining"] == 1
    r = await _seat(client, settings, s["id"], person=person)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_seat"
    assert (await _seat(client, settings, s["id"])).status_code == 201
    r = await _seat(client, settings, s["id"])
    assert r.status_code == 409 and r.json()["code"] == "slot_full"
    r = await client.get("/v1/home-care/centre-bookings", headers=family)
    assert len(r.json()["items"]) == 1
    r = await client.get("/v1/home-care/centre-bookings", params={"session_id": s["id"]},
                         headers=staff)
    assert len(r.json()["items"]) == 2


async def test_cancel_gives_the_seat_back_until_the_session_starts(client, admin_headers,
                                                                   settings):
    set_china_time("2026-12-01")
    org, staff, s = await _session(client, admin_headers, capacity=1)
    seat = (await _seat(client, settings, s["id"], who=citizen_headers(settings, "fam-1"))).json()
    set_china_time(DAY, "11:00")
    r = await client.post(f"/v1/home-care/centre-bookings/{seat['id']}/cancel",
                          headers=citizen_headers(settings, "fam-1"))
    assert r.status_code == 422 and r.json()["code"] == "cancel_deadline_passed"
    set_china_time(DAY, "10:00")
    r = await client.post(f"/v1/home-care/centre-bookings/{seat['id']}/cancel",
                          headers=citizen_headers(settings, "fam-1"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["session"]["remaining"] == 1
    assert (await _seat(client, settings, s["id"])).status_code == 201
    r = await client.post(f"/v1/home-care/centre-bookings/{seat['id']}/cancel",
                          headers=staff, json={"reason": "x"})
    assert r.status_code == 409


async def test_forty_elders_race_for_five_seats(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    org, staff, s = await _session(client, admin_headers, capacity=5)
    results = await asyncio.gather(*(_seat(client, settings, s["id"]) for _ in range(40)))
    assert Counter(r.status_code for r in results) == {201: 5, 409: 35}
    async with db.session() as session:
        row = (await session.execute(select(CapacitySlot).where(CapacitySlot.id == s["id"])
                                     )).scalar_one()
    assert (row.capacity, row.booked) == (5, 5)
