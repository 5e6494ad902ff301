"""Real concurrent requests (on the embedded PostgreSQL, and on the
server TEST_DATABASE_URL names): the invariants hold under races."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from schemas.capacity import CapacitySlot
from schemas.marriage import MarriageAppointment, MarriagePartyHold
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    person,
    set_china_time,
    slot_id,
)

APPT = "/v1/marriage/appointments"


async def _seats(db, slot: str) -> tuple[int, int, int]:
    """(capacity, booked, appointments with status booked) for a slot."""
    async with db.session() as s:
        row = (await s.execute(
            select(CapacitySlot.capacity, CapacitySlot.booked)
            .where(CapacitySlot.id == slot))).one_or_none()
        capacity, booked = row if row is not None else (0, 0)  # never booked: no row
        rows = (await s.execute(
            select(func.count()).select_from(MarriageAppointment)
            .where(MarriageAppointment.slot_id == slot,
                   MarriageAppointment.status == "booked"))).scalar_one()
    return capacity, booked, rows


async def test_forty_couples_race_for_five_seats(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    sessions = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 5}]
    office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
    slot = slot_id(office["id"], "2026-12-08")
    results = await asyncio.gather(*(book(client, settings, slot, couple()) for _ in range(40)))
    codes = Counter(r.status_code for r in results)
    assert codes == {201: 5, 409: 35}, codes
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"slot_full"}
    r = await client.get(f"/v1/marriage/offices/{office['id']}/slots",
                         params={"from": "2026-12-08", "to": "2026-12-08"})
    assert r.json()["items"][0]["remaining"] == 0
    assert await _seats(db, slot) == (5, 5, 5)
    # Only the winners hold their people.
    async with db.session() as s:
        holds = (await s.execute(select(func.count()).select_from(MarriagePartyHold))
                 ).scalar_one()
    assert holds == 10


async def test_one_person_in_two_bookings_at_once(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    slot_a = slot_id(office["id"], "2026-12-08")
    slot_b = slot_id(office["id"], "2026-12-09", "13:30")
    for _ in range(3):
        groom = person("male")
        r1, r2 = await asyncio.gather(
            book(client, settings, slot_a, [groom, person("female")]),
            book(client, settings, slot_b, [groom, person("female")]))
        assert sorted([r1.status_code, r2.status_code]) == [201, 409]
        loser = r1 if r1.status_code == 409 else r2
        assert loser.json()["code"] == "party_has_active_appointment"
    # The losers gave their seats back (the whole transaction rolled back).
    _, booked_a, rows_a = await _seats(db, slot_a)
    _, booked_b, rows_b = await _seats(db, slot_b)
    assert booked_a == rows_a and booked_b == rows_b and rows_a + rows_b == 3


async def test_cancel_racing_bookings_on_a_full_session(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    sessions = [{"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 3}]
    office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
    for day in ("2026-12-08", "2026-12-15", "2026-12-22", "2026-12-29"):
        slot = slot_id(office["id"], day)
        me = citizen(settings)
        mine = []
        for _ in range(3):
            r = await book(client, settings, slot, headers=me)
            assert r.status_code == 201, r.text
            mine.append(r.json()["id"])
        assert await _seats(db, slot) == (3, 3, 3)
        results = await asyncio.gather(
            client.post(f"{APPT}/{mine[0]}/cancel", headers=me),
            *(book(client, settings, slot) for _ in range(4)))
        assert results[0].status_code == 200
        wins = sum(r.status_code == 201 for r in results[1:])
        assert wins <= 1
        assert all(r.json()["code"] == "slot_full" for r in results[1:] if r.status_code != 201)
        capacity, booked, rows = await _seats(db, slot)
        assert booked == rows <= capacity == 3
        assert booked == 2 + wins


async def test_the_same_couple_twice_in_either_order(client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    for _ in range(3):
        groom, bride = person("male"), person("female")
        results = await asyncio.gather(
            book(client, settings, slot_id(office["id"], "2026-12-08"), [groom, bride]),
            book(client, settings, slot_id(office["id"], "2026-12-10"), [bride, groom]),
            book(client, settings, slot_id(office["id"], "2026-12-11"), [groom, bride]))
        assert sorted(r.status_code for r in results) == [201, 409, 409]
    async with db.session() as s:
        holds = (await s.execute(select(func.count()).select_from(MarriagePartyHold))
                 ).scalar_one()
    assert holds == 6
