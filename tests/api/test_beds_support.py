"""Helpers the beds tests share (no tests here): an institution with staff, beds,
elders' identity numbers, applications and assessments, all through the API."""

from __future__ import annotations

import jwt
from sqlalchemy import select

from core.clock import clock
from schemas.beds import Bed, BedApplication, BedPool
from tests.factories import (
    born_years_ago,
    citizen_headers,
    idem,
    make_id_number,
    make_phone,
    org_with_staff,
)


async def institution(client, admin_headers, **overrides) -> tuple[dict, dict[str, str]]:
    return await org_with_staff(client, admin_headers, "care_institution", **overrides)


async def add_bed(client, inst: dict, headers: dict, code: str, *, category: str = "full_care",
                  fee: int = 300000, reserved: bool = False, status: str | None = None) -> dict:
    body = {"code": code, "category": category, "monthly_fee_fen": fee,
            "reserved_for_destitute": reserved}
    if status is not None:
        body["status"] = status
    r = await client.post(f"/v1/institutions/{inst['id']}/beds", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == r.json()["etag"]
    return r.json()


def elder_id(age: int = 75, *, sex: str = "female", extra_days: int = 10) -> str:
    return make_id_number(born_years_ago(age, clock.today(), extra_days), sex=sex)


async def apply(client, settings, inst_id: str, *, category: str = "full_care", age: int = 75,
                groups: tuple[str, ...] = (), citizen: dict | None = None,
                id_number: str | None = None, name: str = "张秀英",
                max_fee: int | None = None, expect: int = 201) -> tuple[dict, dict[str, str]]:
    citizen = citizen or citizen_headers(settings)
    body = {"institution_id": inst_id, "category": category,
            "elder": {"name": name, "id_number": id_number or elder_id(age),
                      "phone": make_phone()},
            "priority_groups": list(groups)}
    if max_fee is not None:
        body["max_monthly_fee_fen"] = max_fee
    r = await client.post("/v1/bed-applications", json=body, headers={**citizen, **idem()})
    assert r.status_code == expect, r.text
    return r.json(), citizen


async def assess(client, headers, app_id: str, *, ability: int = 2,
                 groups: tuple[str, ...] = (), expect: int = 200) -> dict:
    r = await client.post(f"/v1/bed-applications/{app_id}/assess",
                          json={"ability_level": ability,
                                "verified_priority_groups": list(groups)}, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


def renewed(settings, headers: dict[str, str]) -> dict[str, str]:
    """The same citizen with a token valid at the (moved) clock."""
    auth = headers.get("Authorization")
    if auth is None:
        return headers
    sub = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})["sub"]
    return citizen_headers(settings, sub)


async def read_app(client, headers, app_id: str, settings=None) -> dict:
    if settings is not None:
        headers = renewed(settings, headers)
    r = await client.get(f"/v1/bed-applications/{app_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def waiting_applicant(client, settings, inst: dict, staff: dict, **kwargs
                            ) -> tuple[dict, dict[str, str]]:
    """An application assessed onto the waiting list (or offered, if a bed is free)."""
    ability = kwargs.pop("ability", 2)
    verified = kwargs.pop("verified", kwargs.get("groups", ()))
    app, citizen = await apply(client, settings, inst["id"], **kwargs)
    assessed = await assess(client, staff, app["id"], ability=ability, groups=verified)
    return assessed, citizen


async def check_pool_invariants(db, institution_id: str) -> None:
    """Vacancy counts equal available beds; each held bed has exactly one live
    offer or acceptance and each offer holds its own bed."""
    async with db.session() as s:
        beds = list((await s.execute(select(Bed).where(Bed.institution_id == institution_id))
                     ).scalars())
        apps = list((await s.execute(select(BedApplication).where(
            BedApplication.institution_id == institution_id))).scalars())
        pools = list((await s.execute(select(BedPool).where(
            BedPool.institution_id == institution_id))).scalars())
    for p in pools:
        in_pool = [b for b in beds if b.category == p.category]
        assert p.total == len(in_pool), p
        assert p.vacant == sum(b.status == "available" for b in in_pool), p
    holders = [a for a in apps if a.status in ("offered", "accepted")]
    fees = {b.id: b.monthly_fee_fen for b in beds}
    for a in holders:  # no offer above what the family said it can pay
        assert a.max_monthly_fee_fen is None or fees[a.bed_id] <= a.max_monthly_fee_fen, a
    held_beds = [a.bed_id for a in holders]
    assert len(held_beds) == len(set(held_beds)), "a bed offered twice"
    assert sorted(held_beds) == sorted(b.id for b in beds if b.status == "held")
    # No free bed while an eligible application waits (one the family can pay).
    for b in beds:
        if b.status == "available":
            waiting = [a for a in apps if a.status == "waitlisted" and a.category == b.category
                       and (a.destitute or not b.reserved_for_destitute)
                       and (a.max_monthly_fee_fen is None
                            or a.max_monthly_fee_fen >= b.monthly_fee_fen)]
            assert not waiting, f"bed {b.code} free while {len(waiting)} wait"
