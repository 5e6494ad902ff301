"""The platform kit as clients and domains meet it: every list is a page, one
action at a time wins, visibility is decided in SQL by one scope per resource."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from api.app import ROUTERS
from api.route import Router, TransactionalRoute
from core.errors import NotFound
from core.principal import Principal
from schemas.capacity import CapacitySlot
from schemas.organisation import Organisation
from services import identity, organisations, scopes
from services.marriage import appointments
from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import create_org, staff_headers


async def test_every_list_in_the_document_answers_a_page(client):
    doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    lists = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None or "200" not in op["responses"]:
            continue
        content = op["responses"]["200"].get("content", {}).get("application/json")
        if content is None:
            continue
        schema = content["schema"]
        assert schema.get("type") != "array", f"{path} answers a bare array"
        if any(p["name"] == "cursor" for p in op.get("parameters", [])):
            ref = schemas[schema["$ref"].rsplit("/", 1)[1]]
            assert set(ref["properties"]) == {"items", "next_cursor"}, path
            assert {"limit", "cursor"} <= {p["name"] for p in op["parameters"]}, path
            lists.append(path)
    assert len(lists) >= 12, lists


async def test_two_cancellations_at_once_give_the_seat_back_once(client, admin_headers,
                                                                 settings, db):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    slot = slot_id(office["id"], "2026-12-08")
    me = citizen(settings)
    others = [(await book(client, settings, slot, couple())) for _ in range(2)]
    r = await book(client, settings, slot, couple(), headers=me)
    assert r.status_code == 201 and all(o.status_code == 201 for o in others)
    url = f"/v1/marriage/appointments/{r.json()['id']}/cancel"
    results = await asyncio.gather(*(client.post(url, headers=me) for _ in range(6)))
    codes = Counter(x.status_code for x in results)
    assert codes == {200: 1, 409: 5}, codes
    assert {x.json()["code"] for x in results if x.status_code == 409} == {"invalid_state"}
    async with db.session() as s:
        booked = (await s.execute(select(CapacitySlot.booked).where(CapacitySlot.id == slot))
                  ).scalar_one()
    assert booked == 2  # the two others; the cancelled seat came back exactly once


async def test_an_action_from_the_wrong_state_names_the_state(client, admin_headers, settings):
    set_china_time("2026-12-01")
    office, staff = await office_with_schedule(client, admin_headers)
    me = citizen(settings)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), headers=me)
    url = f"/v1/marriage/appointments/{r.json()['id']}"
    r = await client.post(f"{url}/complete", headers=staff)  # booked, never checked in
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    assert r.json()["status"] == 409


async def test_another_office_cannot_act_on_or_see_an_appointment(client, admin_headers,
                                                                  settings):
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    _, other_staff = await office_with_schedule(client, admin_headers)
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"))
    url = f"/v1/marriage/appointments/{r.json()['id']}"
    assert (await client.get(url, headers=other_staff)).status_code == 404
    r = await client.post(f"{url}/no-show", headers=other_staff)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    listed = (await client.get("/v1/marriage/appointments", headers=other_staff)).json()
    assert listed == {"items": [], "next_cursor": None}


async def test_a_bureau_sees_the_divisions_it_covers(client, admin_headers, db):
    """`within_division`: prefix containment, DOMAIN.md (a city bureau 110100 covers
    1101xx; a county 110105 only itself)."""
    for code in ("110105", "110108", "310101"):
        await create_org(client, admin_headers, "registration_office", division_code=code)
    city = await create_org(client, admin_headers, "civil_affairs_bureau",
                            division_code="110100")
    county = await create_org(client, admin_headers, "civil_affairs_bureau",
                              division_code="110105")
    key = (await staff_headers(client, admin_headers, city["id"], "reviewer"))["X-API-Key"]
    offices = scopes.Resource(Organisation, "organisation", "organisation", rules={
        "reviewer": scopes.within_division(Organisation.division_code)}, personal=False)
    async with db.session() as s:
        who = await organisations.authenticate_api_key(s, key)
        assert who is not None and who.division_code == "110100"
        seen = {o.division_code for o in (await s.execute(
            scopes.select_visible(offices, who).where(
                Organisation.kind == "registration_office"))).scalars()}
        assert seen == {"110105", "110108"}
        county_staff = Principal(kind="staff", subject="k", role="reviewer",
                                 org_id=county["id"], division_code="110105")
        seen = {o.division_code for o in (await s.execute(
            scopes.select_visible(offices, county_staff).where(
                Organisation.kind == "registration_office"))).scalars()}
        assert seen == {"110105"}
        nobody = Principal(kind="staff", subject="k", role="office", org_id=county["id"])
        assert (await s.execute(scopes.select_visible(offices, nobody))).first() is None


async def test_an_account_bound_to_a_party_sees_the_appointment(client, admin_headers,
                                                                settings, db):
    """`own_or_party`: an account bound (real-name) to one of the people sees the
    appointment whoever booked it; an unbound account sees only its own."""
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    people = couple()
    r = await book(client, settings, slot_id(office["id"], "2026-12-08"), people)
    appointment_id = r.json()["id"]
    bride = identity.blind_index(people[1]["id_number"], settings)
    async with db.session() as s:
        bound = Principal(kind="citizen", subject="someone-else", role="citizen",
                          identity_blind=bride)
        view = await appointments.get(s, bound, appointment_id)
        assert view.appointment.id == appointment_id
        unbound = Principal(kind="citizen", subject="someone-else", role="citizen")
        with pytest.raises(NotFound):
            await appointments.get(s, unbound, appointment_id)


def test_every_route_but_the_probes_runs_in_a_transaction():
    routes = [r for router in ROUTERS for r in router.routes]
    assert len(routes) > 40
    assert all(isinstance(r, TransactionalRoute) for r in routes), [
        r.path for r in routes if not isinstance(r, TransactionalRoute)]
    with pytest.raises(TypeError):
        Router(route_class=APIRoute)


async def test_every_action_documents_403_404_and_invalid_state(client):
    doc = (await client.get("/openapi.json")).json()
    actions = {p: item["post"] for p, item in doc["paths"].items()
               if "post" in item and p.rsplit("/", 1)[1] in {
                   "cancel", "check-in", "complete", "no-show", "withdraw", "assess", "accept",
                   "decline", "admit", "reject", "discharge"}}
    assert len(actions) >= 12
    for path, op in actions.items():
        assert {"403", "404", "409"} <= set(op["responses"]), path
        examples = op["responses"]["409"]["content"]["application/problem+json"]["examples"]
        assert "invalid_state" in examples, path
