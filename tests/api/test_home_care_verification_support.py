"""Helpers the visit-verification tests share (no tests here): a provider in Shanghai's
Huangpu district (310101) with caregivers, visits of one elder at a known home,
check-in and check-out at a moved clock, corrections, and what was written to the
audit trail and the outbox."""

from __future__ import annotations

import math

from sqlalchemy import select

from core.clock import clock
from core.db import Database
from schemas.audit import AuditEvent
from schemas.home_care import HomeCareAllowanceMonth
from schemas.notifications import OutboxEvent
from services.home_care import corrections
from tests.api.test_home_care_support import (
    DAY,
    at,
    book,
    caregiver,
    elder,
    provider,
    set_china_time,
)

HOME = {"lat": 31.235, "lon": 121.48}
PROVIDER_AT = {"lat": 31.23, "lon": 121.47}
PRICE = 6000  # fen, for 60 minutes
KM_LAT = 1 / 111.195  # degrees of latitude per km (the haversine's mean Earth radius)


def north_of(place: dict, km: float) -> dict:
    return {"lat": round(place["lat"] + km * KM_LAT, 7), "lon": place["lon"]}


def path(visit: dict | str, action: str = "") -> str:
    vid = visit if isinstance(visit, str) else visit["id"]
    return f"/v1/home-care/bookings/{vid}" + (f"/{action}" if action else "")


async def setup(client, admin_headers, *, caregivers: int = 1, price_fen: int = PRICE,
                division: str = "310101", **org) -> tuple[dict, dict]:
    """A provider (at PROVIDER_AT unless told) offering cleaning, with caregivers."""
    set_china_time("2026-12-01")
    org_, staff = await provider(client, admin_headers, price_fen=price_fen,
                                 division_code=division, **{**PROVIDER_AT, **org})
    for n in range(caregivers):
        await caregiver(client, staff, org_["id"], name=f"护理员{n}")
    return org_, staff


async def visit(client, settings, org: dict, *, day: str = DAY, start: str = "10:00",
                person: dict | None = None) -> dict:
    """A booked visit (booked from 2026-12-01) of `person` (by default a new elder at
    HOME)."""
    now = clock.now()
    set_china_time("2026-12-01")
    r = await book(client, settings, org["id"], at(day, start), elder_=person or elder(**HOME))
    clock.set(now)
    assert r.status_code == 201, r.text
    return r.json()


async def visits_on(client, settings, org: dict, days: tuple[str, ...], *,
                    person: dict | None = None) -> list[dict]:
    """One visit at 10:00 on each of `days` (by default each of a new elder at HOME)."""
    return [await visit(client, settings, org, day=d, person=person) for d in days]


async def check_in(client, staff, v, hhmm: str, *, day: str = DAY, where: dict = HOME,
                   expect: int = 200) -> dict:
    set_china_time(day, hhmm)
    r = await client.post(path(v, "check-in"), json=where, headers=staff)
    assert r.status_code == expect, r.text
    return r.json()


async def check_out(client, staff, v, hhmm: str, *, day: str = DAY, where: dict = HOME,
                    expect: int = 200) -> dict:
    set_china_time(day, hhmm)
    r = await client.post(path(v, "check-out"), json=where, headers=staff)
    assert r.status_code == expect, r.text
    return r.json()


async def served(client, staff, v, start: str, end: str, *, day: str = DAY,
                 where_in: dict = HOME, where_out: dict = HOME) -> dict:
    await check_in(client, staff, v, start, day=day, where=where_in)
    return await check_out(client, staff, v, end, day=day, where=where_out)


async def allowance(client, admin_headers, person: dict, fen: int) -> None:
    r = await client.put("/v1/admin/home-care-subsidies", json={
        "id_number": person["id_number"], "monthly_allowance_fen": fen,
        "valid_from": "2026-12-01", "valid_to": "2026-12-31"}, headers=admin_headers)
    assert r.status_code == 200, r.text


def correction(start: str = "10:00", end: str = "11:00", *, day: str = DAY,
               reason: str = "device_problem", note: str | None = "定位故障") -> dict:
    body = {"reason_code": reason, "actual_start_at": at(day, start),
            "actual_end_at": at(day, end)}
    if note is not None:
        body["note"] = note
    return body


async def submit(client, staff, v, body: dict | None = None, *, expect: int = 200) -> dict:
    r = await client.post(path(v, "corrections"), json=body or correction(), headers=staff)
    assert r.status_code == expect, r.text
    return r.json()


async def exception_visit(client, settings, staff, org, *, day: str = DAY,
                          person: dict | None = None) -> dict:
    """A visit checked in 20 minutes late and served in full: `exception`
    (`late_check_in` only)."""
    v = await visit(client, settings, org, day=day, person=person)
    done = await served(client, staff, v, "10:20", "11:20", day=day)
    assert done["verification"] == "exception" and done["exceptions"] == ["late_check_in"]
    return done


async def run_jobs(db: Database, settings) -> int:
    """The worker's visit-verification jobs, once, in a transaction of their own."""
    async with db.session() as session:
        n = await corrections.scheduled(session, settings, clock.now())
        await session.commit()
    return n


async def outbox(db: Database, type_suffix: str = "") -> list[OutboxEvent]:
    async with db.session() as s:
        rows = (await s.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars()
        return [e for e in rows if e.type.startswith("home_care.booking")
                and e.type.endswith(type_suffix)]


async def audits(db: Database, action: str, object_id: str | None = None) -> list[AuditEvent]:
    async with db.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == action,
                                        AuditEvent.outcome == "success")
        if object_id is not None:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        return list((await s.execute(stmt)).scalars())


async def month_used(db: Database) -> tuple[int, int] | None:
    async with db.session() as s:
        row = (await s.execute(select(HomeCareAllowanceMonth))).scalar_one_or_none()
    return None if row is None else (row.allowance_fen, row.used_fen)


def km(a: dict, b: dict) -> float:
    """For the boundary tests' own sanity: the distance the service measures."""
    p1, p2 = math.radians(a["lat"]), math.radians(b["lat"])
    dp, dl = p2 - p1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(h))
