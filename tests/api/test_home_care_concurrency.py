"""Real concurrent requests (on the embedded PostgreSQL, and on the
server TEST_DATABASE_URL names): no caregiver is ever double-booked or inside the
travel buffer, and no allowance is overdrawn."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from schemas.home_care import HOLDING_STATUSES, HomeCareAllowanceMonth, HomeCareBooking
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    hours,
    provider,
    set_china_time,
)

HOME = {"lat": 31.235, "lon": 121.48}


async def _holding(db, caregiver_id=None) -> list[HomeCareBooking]:
    async with db.session() as s:
        stmt = select(HomeCareBooking).where(HomeCareBooking.status.in_(HOLDING_STATUSES))
        if caregiver_id is not None:
            stmt = stmt.where(HomeCareBooking.caregiver_id == caregiver_id)
        return list((await s.execute(stmt.order_by(HomeCareBooking.starts_at))).scalars())


async def test_ten_citizens_race_for_one_caregivers_only_free_hour(client, admin_headers,
                                                                   settings, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    c = await caregiver(client, staff, org["id"], weekly=hours("09:00", "10:00"))
    results = await asyncio.gather(*(book(client, settings, org["id"], at(DAY, "09:00"))
                                     for _ in range(10)))
    codes = Counter(r.status_code for r in results)
    assert codes == {201: 1, 409: 9}, codes
    assert {r.json()["code"] for r in results if r.status_code == 409} == {
        "no_caregiver_available"}
    visits = await _holding(db, c["id"])
    assert len(visits) == 1
    [winner] = [r for r in results if r.status_code == 201]
    assert visits[0].id == winner.json()["id"]


async def test_two_visits_of_one_caregiver_never_overlap_or_break_the_buffer(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    c = await caregiver(client, staff, org["id"], weekly=hours("08:00", "16:00"))
    starts = [f"{h:02d}:{m:02d}" for h in range(8, 15) for m in (0, 30)] * 2
    random.Random(8).shuffle(starts)
    results = await asyncio.gather(*(book(client, settings, org["id"], at(DAY, s))
                                     for s in starts))
    assert {r.status_code for r in results} <= {201, 409}
    accepted = [r for r in results if r.status_code == 201]
    visits = await _holding(db, c["id"])
    assert len(visits) == len(accepted) >= 3  # 8 hours hold at least 3 buffered visits
    for a, b in itertools.combinations(visits, 2):
        first, second = sorted((a, b), key=lambda v: v.starts_at)
        gap = (second.starts_at - first.ends_at).total_seconds() / 60
        assert gap >= settings.home_care_travel_buffer_minutes, (first.starts_at,
                                                                 second.starts_at)


async def test_visits_completing_at_once_never_overdraw_the_allowance(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, price_fen=6000)
    for _ in range(6):
        await caregiver(client, staff, org["id"])
    person = elder()
    r = await client.put("/v1/admin/home-care-subsidies", json={
        "id_number": person["id_number"], "monthly_allowance_fen": 10000,
        "valid_from": "2026-12-01", "valid_to": "2026-12-31"}, headers=admin_headers)
    assert r.status_code == 200
    ids = []
    for _ in range(6):
        r = await book(client, settings, org["id"], at(DAY, "10:00"), elder_=person)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    set_china_time(DAY, "10:00")
    for v in ids:
        r = await client.post(f"/v1/home-care/bookings/{v}/check-in", json=HOME, headers=staff)
        assert r.status_code == 200
    set_china_time(DAY, "11:00")
    results = await asyncio.gather(*(client.post(f"/v1/home-care/bookings/{v}/check-out",
                                                 json=HOME, headers=staff) for v in ids))
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    parts = [(r.json()["subsidy_paid_fen"], r.json()["family_paid_fen"]) for r in results]
    assert all(s + f == 6000 and s >= 0 and f >= 0 for s, f in parts)
    # Never more than the allowance, and never less when demand exceeds it.
    assert sum(s for s, _ in parts) == 10000
    async with db.session() as s:
        month = (await s.execute(select(HomeCareAllowanceMonth))).scalar_one()
    assert (month.allowance_fen, month.used_fen) == (10000, 10000)


async def test_the_exclusion_constraint_refuses_a_visit_inside_the_buffer(
        client, admin_headers, settings, db):
    """Even a write that skips the caregiver's row lock cannot double-book."""
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    await caregiver(client, staff, org["id"])
    r = await book(client, settings, org["id"], at(DAY, "10:00"))
    assert r.status_code == 201
    [visit] = await _holding(db)
    values = visit.model_dump()
    async with db.session() as s:
        clash = HomeCareBooking(**{**values, "id": "hcb_clash",
                                   "starts_at": visit.blocked_until - dt.timedelta(minutes=1),
                                   "ends_at": visit.blocked_until + dt.timedelta(minutes=59),
                                   "blocked_until": visit.blocked_until
                                   + dt.timedelta(minutes=89)})
        s.add(clash)
        with pytest.raises(IntegrityError, match="ex_home_care_booking_caregiver_time"):
            await s.flush()
        await s.rollback()
    async with db.session() as s:
        # Right after the buffer: allowed; and a cancelled visit holds nothing.
        s.add(HomeCareBooking(**{**values, "id": "hcb_after",
                                 "starts_at": visit.blocked_until,
                                 "ends_at": visit.blocked_until + dt.timedelta(minutes=60),
                                 "blocked_until": visit.blocked_until
                                 + dt.timedelta(minutes=90)}))
        s.add(HomeCareBooking(**{**values, "id": "hcb_cancelled", "status": "cancelled"}))
        await s.commit()


async def test_racing_unrequested_bookings_fill_every_caregiver_once(client, admin_headers,
                                                                     settings, db):
    """Three caregivers with one free hour each, twelve families asking for it without
    naming anyone: exactly three visits, one per caregiver."""
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    ids = {(await caregiver(client, staff, org["id"], weekly=hours("09:00", "10:00")))["id"]
           for _ in range(3)}
    results = await asyncio.gather(*(book(client, settings, org["id"], at(DAY, "09:00"))
                                     for _ in range(12)))
    assert Counter(r.status_code for r in results) == {201: 3, 409: 9}
    visits = await _holding(db)
    assert sorted(v.caregiver_id for v in visits) == sorted(ids)


async def test_leave_racing_bookings_never_leaves_a_visit_inside_the_leave(
        client, admin_headers, settings, db):
    set_china_time("2026-12-01")
    org, staff = await provider(client, admin_headers, duration=60)
    c = await caregiver(client, staff, org["id"], weekly=hours("08:00", "16:00"))
    leave = client.post(f"/v1/providers/{org['id']}/caregivers/{c['id']}/time-off",
                        json={"starts_at": at(DAY, "09:00"), "ends_at": at(DAY, "15:00")},
                        headers=staff)
    bookings = [book(client, settings, org["id"], at(DAY, s))
                for s in ("09:00", "10:30", "12:00", "13:30")]
    results = await asyncio.gather(leave, *bookings)
    leave_r, booked = results[0], results[1:]
    visits = await _holding(db, c["id"])
    if leave_r.status_code == 201:
        assert visits == [] and all(r.status_code == 409 for r in booked)
    else:  # a visit got in first: the leave was refused with the number affected
        assert leave_r.status_code == 409
        # (bookings after the refusal may have added more)
        assert 1 <= leave_r.json()["affected_bookings"] <= len(visits)
