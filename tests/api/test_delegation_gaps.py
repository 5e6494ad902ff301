"""Delegation (代办) rules the review of issue 26 found without an HTTP test that
would fail without them (review-26 section 2): a guardianship registered by an
approver; the registering bureau's list; a guardianship duplicating a live citizen
delegation, or naming an unknown division; accept, decline and revoke by a stranger
(404) and decline by the principal (403 `not_the_delegate`); and, once revoked or
expired, the principal's centre seats and burial claims gone from the delegate's
lists."""

from __future__ import annotations

from core.clock import clock
from tests.api.test_burial_support import Bureau, bureau, claim_body, file_claim, policy
from tests.api.test_delegation_support import (
    DELEGATIONS,
    Citizen,
    act,
    active,
    citizen,
    delegate,
    in_days,
    past,
    verifier,
)
from tests.api.test_home_care_support import DAY, provider, set_china_time
from tests.factories import born_years_ago, citizen_headers, idem, make_id_number

GUARDIANSHIPS = "/v1/guardianships"
SEATS = "/v1/home-care/centre-bookings"
CLAIMS = "/v1/burial/claims"


def _guardianship(*, principal: Citizen | None = None, guardian: Citizen | None = None,
                  division: str = "110105") -> dict:
    today = clock.today()
    return {"principal": principal.person if principal else {
                "name": "王建国", "id_number": make_id_number(born_years_ago(85, today),
                                                             sex="male")},
            "principal_division_code": division,
            "delegate": guardian.person if guardian else {
                "name": "王丽", "id_number": make_id_number(born_years_ago(50, today),
                                                           sex="female")},
            "scopes": ["beds", "home_care"], "expires_on": in_days(365),
            "evidence": {"kind": "court_order", "number": "(2026)京0105民特456号"}}


async def _register(client, staff: dict, body: dict, expect: int = 201) -> dict:
    r = await client.post(GUARDIANSHIPS, json=body, headers={**staff, **idem()})
    assert r.status_code == expect, r.text
    return r.json()


async def _ids(client, headers: dict, url: str = DELEGATIONS) -> list[str]:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


# --- guardianships --------------------------------------------------------------------


async def test_an_approver_registers_a_guardianship(client, settings, admin_headers):
    b: Bureau = await bureau(client, admin_headers)
    v = await verifier(client, admin_headers)
    guardian = await citizen(client, settings, v)
    g = await _register(client, b.approver, _guardianship(guardian=guardian))
    assert g["status"] == "active"
    assert g["registered_by"] == {"org_id": b.org["id"], "staff_name": "审批-李娜"}
    assert g["evidence"] == {"kind": "court_order", "number": "(2026)京0105民特456号"}
    assert await _ids(client, guardian.headers) == [g["id"]]


async def test_the_registering_bureau_lists_its_guardianships_not_citizens_delegations(
        client, settings, admin_headers):
    b = await bureau(client, admin_headers)
    other = await bureau(client, admin_headers, division="110108")
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    friend = await citizen(client, settings, v)
    citizens = await active(client, me, friend)
    first = await _register(client, b.reviewer, _guardianship())
    second = await _register(client, b.approver, _guardianship())
    elsewhere = await _register(client, other.reviewer, _guardianship(division="110108"))
    for staff in (b.reviewer, b.approver):
        listed = await _ids(client, staff)
        assert listed == [second["id"], first["id"]], listed  # newest first
        assert citizens["id"] not in listed and elsewhere["id"] not in listed
    assert await _ids(client, other.approver) == [elsewhere["id"]]
    # Paged like any list: the next page holds the older one.
    r = await client.get(DELEGATIONS, params={"limit": 1}, headers=b.approver)
    page = r.json()
    assert [x["id"] for x in page["items"]] == [second["id"]] and page["next_cursor"]
    r = await client.get(DELEGATIONS, params={"limit": 1, "cursor": page["next_cursor"]},
                         headers=b.approver)
    assert [x["id"] for x in r.json()["items"]] == [first["id"]]


async def test_a_guardianship_duplicating_a_live_delegation_is_refused(client, settings,
                                                                      admin_headers):
    b = await bureau(client, admin_headers)
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=85, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    d = await delegate(client, father, daughter)  # pending counts too
    body = _guardianship(principal=father, guardian=daughter)
    r = await _register(client, b.reviewer, body, expect=409)
    assert r["code"] == "duplicate_delegation", r
    await act(client, daughter, d["id"], "accept")
    r = await _register(client, b.approver, body, expect=409)
    assert r["code"] == "duplicate_delegation", r
    # Nothing was written: the pair still has its one delegation.
    assert await _ids(client, father.headers) == [d["id"]]
    assert await _ids(client, b.reviewer) == []
    # Revoked, the pair is free for the bureau's guardianship.
    await act(client, father, d["id"], "revoke")
    g = await _register(client, b.reviewer, body)
    assert g["status"] == "active"


async def test_an_unknown_principal_division_is_refused(client, admin_headers):
    # The city bureau of Beijing would cover any 11xxxx code: the code itself is
    # refused before any jurisdiction is judged.
    city = await bureau(client, admin_headers, division="110000")
    for code in ("119999", "110199"):
        r = await _register(client, city.reviewer, _guardianship(division=code), expect=422)
        assert r["code"] == "invalid_division_code", r
    assert await _ids(client, city.reviewer) == []


# --- answering and revoking: strangers and the principal -------------------------------


async def test_a_stranger_can_neither_answer_nor_revoke(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    stranger = await citizen(client, settings, v, name="赵敏")
    pending = await delegate(client, me, other)
    for action in ("accept", "decline", "revoke"):
        r = await act(client, stranger, pending["id"], action, expect=404)
        assert r["code"] == "not_found", (action, r)
    # An unbound account, too.
    unbound = await citizen(client, settings, None)
    r = await act(client, unbound, pending["id"], "revoke", expect=404)
    assert r["code"] == "not_found"
    r = await client.get(f"{DELEGATIONS}/{pending['id']}", headers=me.headers)
    assert r.json()["status"] == "pending"
    live = await act(client, other, pending["id"], "accept")
    assert live["status"] == "active"
    r = await act(client, stranger, pending["id"], "revoke", expect=404)
    assert r["code"] == "not_found"
    r = await client.get(f"{DELEGATIONS}/{pending['id']}", headers=me.headers)
    assert r.json()["status"] == "active" and r.json()["revoked_at"] is None


async def test_the_principal_cannot_decline_its_own_delegation(client, settings,
                                                               admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    d = await delegate(client, me, other)
    r = await act(client, me, d["id"], "decline", expect=403)
    assert r["code"] == "not_the_delegate", r
    r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=other.headers)
    assert r.json()["status"] == "pending" and r.json()["declined_at"] is None
    # The principal withdraws it by revoking; the delegate answers.
    assert (await act(client, other, d["id"], "accept"))["status"] == "active"


# --- after revoke or expiry: lists --------------------------------------------------------


async def _session(client, admin_headers) -> str:
    org, staff = await provider(client, admin_headers)
    r = await client.post(f"/v1/providers/{org['id']}/centre-sessions", json={
        "service_code": "meal_assist", "date": DAY, "start": "11:00", "end": "13:00",
        "capacity": 5, "price_fen": 1500}, headers=staff)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _seat(client, headers: dict, session_id: str, who: Citizen) -> dict:
    r = await client.post(SEATS, headers={**headers, **idem()}, json={
        "session_id": session_id,
        "elder": {"name": who.name, "id_number": who.id_number, "phone": "13800138000"}})
    assert r.status_code == 201, r.text
    return r.json()


async def test_centre_seats_leave_the_delegates_list_once_revoked(client, settings,
                                                                  admin_headers):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    mother = await citizen(client, settings, v, age=78, name="李秀兰")
    daughter = await citizen(client, settings, v)
    morning = await _session(client, admin_headers)
    # The father's seat booked by someone else, the mother's by the daughter through
    # her delegation.
    his = await _seat(client, citizen_headers(settings), morning, father)
    assert his["delegation_id"] is None
    d_father = await active(client, father, daughter, ("home_care",))
    d_mother = await active(client, mother, daughter, ("home_care",))
    hers = await _seat(client, daughter.headers, morning, mother)
    assert hers["delegation_id"] == d_mother["id"]
    assert set(await _ids(client, daughter.headers, SEATS)) == {his["id"], hers["id"]}
    assert (await client.get(f"{SEATS}/{his['id']}", headers=daughter.headers)
            ).status_code == 200
    await act(client, father, d_father["id"], "revoke")
    assert await _ids(client, daughter.headers, SEATS) == [hers["id"]]
    assert (await client.get(f"{SEATS}/{his['id']}", headers=daughter.headers)
            ).status_code == 404
    await act(client, daughter, d_mother["id"], "revoke")
    assert await _ids(client, daughter.headers, SEATS) == []
    assert (await client.get(f"{SEATS}/{hers['id']}", headers=daughter.headers)
            ).status_code == 404
    # The elders still list their own seats.
    assert await _ids(client, father.headers, SEATS) == [his["id"]]
    assert await _ids(client, mother.headers, SEATS) == [hers["id"]]


async def test_centre_seats_leave_the_delegates_list_past_the_date(client, settings,
                                                                   admin_headers):
    set_china_time("2026-12-01")
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    morning = await _session(client, admin_headers)
    d = await active(client, father, daughter, ("home_care",), expires_on="2026-12-03")
    his = await _seat(client, citizen_headers(settings), morning, father)
    assert await _ids(client, daughter.headers, SEATS) == [his["id"]]
    past(d["expires_on"], days=0)  # its last day still counts
    assert await _ids(client, daughter.headers, SEATS) == [his["id"]]
    past(d["expires_on"])
    assert await _ids(client, daughter.headers, SEATS) == []
    assert await _ids(client, father.headers, SEATS) == [his["id"]]


async def test_the_principals_claim_leaves_the_delegates_list_once_revoked_or_expired(
        client, settings, admin_headers):
    await policy(client, admin_headers)
    v = await verifier(client, admin_headers)
    mother = await citizen(client, settings, v, age=75, name="李秀兰")
    son = await citizen(client, settings, v, sex="male", name="王强")
    claim, _ = await file_claim(client, settings,
                                claim_body(claimant_id=mother.id_number, relation="spouse"),
                                citizen=mother.headers)
    d = await active(client, mother, son, ("burial",))
    assert await _ids(client, son.headers, CLAIMS) == [claim["id"]]
    await act(client, son, d["id"], "revoke")
    assert await _ids(client, son.headers, CLAIMS) == []
    assert await _ids(client, mother.headers, CLAIMS) == [claim["id"]]
    # Again through a delegation that runs out.
    d = await active(client, mother, son, ("burial",), expires_on=in_days(2))
    assert await _ids(client, son.headers, CLAIMS) == [claim["id"]]
    past(d["expires_on"])
    assert await _ids(client, son.headers, CLAIMS) == []
    assert await _ids(client, mother.headers, CLAIMS) == [claim["id"]]
