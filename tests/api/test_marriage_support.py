"""Helpers shared by the marriage tests (this module holds no tests).

The clock is set in China time; 2026-12-01 is a Tuesday. chinese-calendar knows
2026 (and not 2027, whose statutory holidays are therefore estimated: closed,
with no adjusted working day, until the admin loads the year's notice).
"""

from __future__ import annotations

import datetime as dt
import itertools

import jwt

from core.clock import CHINA_TZ, clock
from core.security import JWT_ALGORITHM
from tests.factories import idem, make_id_number, make_phone, org_with_staff, random_subject

_births = itertools.count(0)

WEEKDAY_SESSIONS = [
    {"weekday": d, "start": s, "end": e, "capacity": 5}
    for d in range(1, 6) for s, e in (("09:00", "12:00"), ("13:30", "17:00"))
]


def citizen(settings, subject: str | None = None) -> dict[str, str]:
    """A citizen's headers that survive the tests' clock moves (a year either way)."""
    now = clock.now()
    claims = {"sub": subject or random_subject(), "role": "citizen",
              "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "iat": int((now - dt.timedelta(days=365)).timestamp()),
              "exp": int((now + dt.timedelta(days=365)).timestamp())}
    token = jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)
    return {"Authorization": f"Bearer {token}"}


def set_china_time(day: str, hhmm: str = "10:00") -> None:
    d = dt.date.fromisoformat(day)
    h, m = (int(x) for x in hhmm.split(":"))
    clock.set(dt.datetime.combine(d, dt.time(h, m), tzinfo=CHINA_TZ))


def slot_id(office_id: str, day: str, start: str = "09:00") -> str:
    return f"ms_{office_id}_{day.replace('-', '')}_{start.replace(':', '')}"


async def office_with_schedule(client, admin_headers, *, sessions=None, **booking):
    office, headers = await org_with_staff(client, admin_headers, "registration_office")
    body = {"sessions": WEEKDAY_SESSIONS if sessions is None else sessions, **booking}
    r = await client.put(f"/v1/marriage/offices/{office['id']}/weekly-schedule",
                         json=body, headers=headers)
    assert r.status_code == 200, r.text
    return office, headers


def person(sex: str, birth: str | dt.date | None = None, name: str | None = None) -> dict:
    if birth is None:
        n = next(_births)
        birth = dt.date(1990, 1, 1) + dt.timedelta(days=n % 3000)
    elif isinstance(birth, str):
        birth = dt.date.fromisoformat(birth)
    return {"name": name or ("张伟" if sex == "male" else "李娜"),
            "id_number": make_id_number(birth, sex=sex), "phone": make_phone()}


def couple(groom_birth=None, bride_birth=None) -> list[dict]:
    return [person("male", groom_birth), person("female", bride_birth)]


async def book(client, settings, slot: str, parties: list[dict] | None = None, *,
               kind: str = "marriage", headers=None, case_id: str | None = None):
    body = {"slot_id": slot, "kind": kind, "parties": parties or couple()}
    if case_id:
        body["divorce_case_id"] = case_id
    return await client.post("/v1/marriage/appointments", json=body,
                             headers={**(headers or citizen(settings)), **idem()})
