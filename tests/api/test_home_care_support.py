"""Helpers of the home-care API tests: a provider with an offering and caregivers,
elders, and bookings, all built through the API."""

from __future__ import annotations

import datetime as dt

from core.clock import CHINA_TZ, clock
from tests.factories import citizen_headers, idem, make_id_number, org_with_staff

# 2026-12-08 is a Tuesday (weekday 2).
DAY = "2026-12-08"
WEEKDAY = 2


def set_china_time(day: str, hhmm: str = "10:00") -> None:
    d = dt.date.fromisoformat(day)
    h, m = (int(x) for x in hhmm.split(":"))
    clock.set(dt.datetime.combine(d, dt.time(h, m), tzinfo=CHINA_TZ))


def at(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+08:00"


def hours(start: str = "08:00", end: str = "17:00", weekdays=range(1, 8)) -> list[dict]:
    return [{"weekday": w, "start": start, "end": end} for w in weekdays]


async def provider(client, admin_headers, *, service="cleaning", price_fen=6000,
                   duration=60, **org) -> tuple[dict, dict]:
    org_, staff = await org_with_staff(client, admin_headers, "home_care_provider", **org)
    r = await client.put(f"/v1/providers/{org_['id']}/offerings/{service}",
                         json={"price_fen": price_fen, "duration_minutes": duration},
                         headers=staff)
    assert r.status_code == 200, r.text
    return org_, staff


async def caregiver(client, staff, provider_id, *, skills=("cleaning",), weekly=None,
                    name="李秀英") -> dict:
    r = await client.post(f"/v1/providers/{provider_id}/caregivers",
                          json={"name": name, "skills": list(skills),
                                "weekly_hours": weekly if weekly is not None else hours()},
                          headers=staff)
    assert r.status_code == 201, r.text
    return r.json()


def elder(age_years: int = 75, **extra) -> dict:
    birth = dt.date(2026 - age_years, 3, 1)
    return {"name": "王建国", "id_number": make_id_number(birth), "phone": "13800138000",
            "address": "上海市黄浦区南京东路 100 弄 5 号 302 室", **extra}


async def book(client, settings, provider_id, start: str, *, service="cleaning",
               who: dict | None = None, elder_: dict | None = None, caregiver_id=None):
    body = {"provider_id": provider_id, "service_code": service, "start_at": start,
            "elder": elder_ or elder()}
    if caregiver_id is not None:
        body["caregiver_id"] = caregiver_id
    return await client.post("/v1/home-care/bookings", json=body,
                             headers={**(who or citizen_headers(settings)), **idem()})


async def slots(client, provider_id, day=DAY, service="cleaning") -> list[str]:
    r = await client.get("/v1/home-care/availability",
                         params={"provider_id": provider_id, "service_code": service,
                                 "date": day})
    assert r.status_code == 200, r.text
    return r.json()["start_times"]
