"""Helpers of the delegation tests (no tests here): bound citizens, delegations made
and answered, guardianships, all through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from core.clock import CHINA_TZ, clock
from schemas.audit import AuditEvent
from schemas.notifications import OutboxEvent
from tests.factories import (
    born_years_ago,
    citizen_headers,
    create_org,
    idem,
    make_id_number,
    random_subject,
    staff_headers,
)

DELEGATIONS = "/v1/delegations"


@dataclass
class Citizen:
    subject: str
    name: str
    id_number: str
    settings: object

    @property
    def headers(self) -> dict[str, str]:
        """A token valid at the clock as it is now (tests move it)."""
        return citizen_headers(self.settings, self.subject)

    @property
    def person(self) -> dict[str, str]:
        return {"name": self.name, "id_number": self.id_number}


async def verifier(client, admin_headers) -> dict[str, str]:
    org = await create_org(client, admin_headers, "platform_service")
    return await staff_headers(client, admin_headers, org["id"], "identity_verifier",
                               name="实名核验")


def person(age: int = 50, *, sex: str = "female", name: str = "王丽") -> Citizen:
    return Citizen(random_subject("wx"), name,
                   make_id_number(born_years_ago(age, clock.today(), 10), sex=sex), None)


async def bind(client, v: dict[str, str], who: Citizen) -> None:
    r = await client.put(f"/v1/citizens/{who.subject}/identity", headers=v,
                         json={"name": who.name, "id_number": who.id_number})
    assert r.status_code == 200, r.text


async def citizen(client, settings, v: dict[str, str] | None, *, age: int = 50,
                  sex: str = "female", name: str = "王丽") -> Citizen:
    """A citizen; bound to its person when a verifier `v` is given."""
    who = person(age, sex=sex, name=name)
    who.settings = settings
    if v is not None:
        await bind(client, v, who)
    return who


def in_days(n: int) -> str:
    return (clock.today() + timedelta(days=n)).isoformat()


async def delegate(client, principal: Citizen, to: Citizen, scopes=("beds",), *,
                   expires_on: str | None = None, expect: int = 201) -> dict:
    r = await client.post(DELEGATIONS, headers={**principal.headers, **idem()}, json={
        "delegate": to.person, "scopes": list(scopes), "expires_on": expires_on or in_days(30)})
    assert r.status_code == expect, r.text
    return r.json()


async def act(client, who: Citizen | dict, delegation_id: str, action: str,
              expect: int = 200) -> dict:
    headers = who.headers if isinstance(who, Citizen) else who
    r = await client.post(f"{DELEGATIONS}/{delegation_id}/{action}", headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


async def active(client, principal: Citizen, to: Citizen, scopes=("beds",), *,
                 expires_on: str | None = None) -> dict:
    d = await delegate(client, principal, to, scopes, expires_on=expires_on)
    return await act(client, to, d["id"], "accept")


async def audit_rows(db, action: str, object_id: str) -> list[AuditEvent]:
    async with db.session() as s:
        return list((await s.execute(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.object_id == object_id))).scalars())


def past(day: str, days: int = 1) -> None:
    """Move the clock `days` days past the China date `day`, at noon."""
    d = date.fromisoformat(day) + timedelta(days=days)
    clock.set(datetime.combine(d, time(12, 0), tzinfo=CHINA_TZ))


async def events(db, event_type: str, object_id: str) -> list[OutboxEvent]:
    async with db.session() as s:
        return list((await s.execute(select(OutboxEvent).where(
            OutboxEvent.type == event_type, OutboxEvent.object_id == object_id))).scalars())
