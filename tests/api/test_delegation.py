"""Delegation (代办) and guardianship (API.md "Delegation"): making, answering,
revoking and reading delegations, and a bureau's guardianships."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jsonschema_rs  # schemathesis' validator
from sqlalchemy import func, select

from core.clock import clock
from schemas.delegation import Delegation
from tests.api.test_delegation_support import (
    DELEGATIONS,
    act,
    active,
    audit_rows,
    bind,
    citizen,
    delegate,
    events,
    in_days,
    past,
    verifier,
)
from tests.factories import born_years_ago, create_org, idem, make_id_number, staff_headers

GUARDIANSHIPS = "/v1/guardianships"


def masked(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


async def test_a_delegation_is_pending_until_the_delegate_accepts_it(client, settings,
                                                                    admin_headers, db):
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male", name="王建国")
    daughter = await citizen(client, settings, v)
    d = await delegate(client, father, daughter, ("beds", "home_care"))
    assert d["status"] == "pending" and d["registered_by"] is None
    assert d["principal"] == {"name": "王建国", "id_number_masked": masked(father.id_number)}
    assert d["delegate"] == {"name": "王丽", "id_number_masked": masked(daughter.id_number)}
    assert d["scopes"] == ["beds", "home_care"]
    assert d["expires_on"] == in_days(30)
    assert not await events(db, "delegation.activated", d["id"])

    accepted = await act(client, daughter, d["id"], "accept")
    assert accepted["status"] == "active" and accepted["accepted_at"] is not None
    (event,) = await events(db, "delegation.activated", d["id"])
    assert event.subject == father.subject
    assert father.id_number not in str(event.data)
    # Both sides read it, and list it; nobody else does.
    for who in (father, daughter):
        r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=who.headers)
        assert r.status_code == 200 and r.json()["status"] == "active"
        r = await client.get(DELEGATIONS, headers=who.headers)
        assert [x["id"] for x in r.json()["items"]] == [d["id"]]
    stranger = await citizen(client, settings, v)
    r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=stranger.headers)
    assert r.status_code == 404
    assert (await client.get(DELEGATIONS, headers=stranger.headers)).json()["items"] == []


async def test_an_unbound_account_can_neither_delegate_nor_accept(client, settings,
                                                                 admin_headers):
    v = await verifier(client, admin_headers)
    unbound = await citizen(client, settings, None)
    other = await citizen(client, settings, v)
    r = await client.post(DELEGATIONS, headers={**unbound.headers, **idem()}, json={
        "delegate": other.person, "scopes": ["beds"], "expires_on": in_days(3)})
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified"
    d = await delegate(client, other, unbound)
    r = await client.post(f"{DELEGATIONS}/{d['id']}/accept", headers=unbound.headers)
    assert r.status_code == 403 and r.json()["code"] == "identity_not_verified"


async def test_a_delegate_bound_later_finds_the_delegation_then(client, settings,
                                                                admin_headers):
    v = await verifier(client, admin_headers)
    father = await citizen(client, settings, v, age=80, sex="male")
    son = await citizen(client, settings, None, sex="male", name="王强")
    d = await delegate(client, father, son)
    assert (await client.get(DELEGATIONS, headers=son.headers)).json()["items"] == []
    await bind(client, v, son)
    r = await client.get(DELEGATIONS, headers=son.headers)
    assert [x["id"] for x in r.json()["items"]] == [d["id"]]
    assert (await act(client, son, d["id"], "accept"))["status"] == "active"


async def test_no_delegation_to_oneself(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
        "delegate": {"name": "另一个名字", "id_number": me.id_number.lower()},
        "scopes": ["beds"], "expires_on": in_days(3)})
    assert r.status_code == 422 and r.json()["code"] == "self_delegation", r.text


async def test_expiry_runs_from_tomorrow_to_five_years_ahead(client, settings,
                                                             admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    today = clock.today()
    five_years = today.replace(year=today.year + 5)
    for day, expect in ((today.isoformat(), 422), (in_days(-3), 422),
                        (five_years.isoformat(), 201)):
        r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
            "delegate": other.person, "scopes": ["beds"], "expires_on": day})
        assert r.status_code == expect, (day, r.text)
        if expect == 422:
            assert r.json()["code"] == "invalid_expiry"
    third = await citizen(client, settings, v)
    r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
        "delegate": third.person, "scopes": ["beds"],
        "expires_on": (five_years + timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json()["code"] == "invalid_expiry", r.text


async def test_scopes_are_a_non_empty_set_of_known_services(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    for scopes in ([], ["beds", "beds"], ["marriage"]):
        r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
            "delegate": other.person, "scopes": scopes, "expires_on": in_days(3)})
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (scopes, r.text)


async def test_the_document_states_that_scopes_are_a_set(client):
    """schemathesis: `["home_care", "home_care", "beds"]` was valid by the document
    and refused by the server (422 `validation_error`): the document now says
    `uniqueItems`, for a citizen's delegation and a guardianship alike."""
    doc = (await client.get("/openapi.json")).json()
    for model in ("DelegationCreate", "GuardianshipCreate"):
        scopes = jsonschema_rs.Draft202012Validator({
            **doc["components"]["schemas"][model]["properties"]["scopes"],
            "components": doc["components"]})  # its items are a $ref
        assert scopes.is_valid(["beds", "home_care", "burial"]), model
        assert not scopes.is_valid(["home_care", "home_care", "beds"]), model


async def test_one_pending_or_active_delegation_per_pair(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    d = await delegate(client, me, other)
    r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
        "delegate": other.person, "scopes": ["burial"], "expires_on": in_days(9)})
    assert r.status_code == 409 and r.json()["code"] == "duplicate_delegation"
    await act(client, other, d["id"], "accept")
    r = await client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
        "delegate": other.person, "scopes": ["burial"], "expires_on": in_days(9)})
    assert r.status_code == 409
    # Declined or revoked, it no longer counts; the other direction is another pair.
    await act(client, me, d["id"], "revoke")
    await delegate(client, me, other, ("burial",))
    await delegate(client, other, me)


async def test_concurrent_duplicates_give_one_delegation(client, settings, admin_headers, db):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    results = await asyncio.gather(*(
        client.post(DELEGATIONS, headers={**me.headers, **idem()}, json={
            "delegate": other.person, "scopes": ["beds"], "expires_on": in_days(5 + i)})
        for i in range(6)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"duplicate_delegation"}
    async with db.session() as s:
        n = (await s.execute(select(func.count()).select_from(Delegation).where(
            Delegation.created_by == me.subject))).scalar_one()
    assert n == 1


async def test_an_expired_delegation_reads_expired_and_blocks_no_new_one(client, settings,
                                                                        admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    d = await active(client, me, other, expires_on=in_days(2))
    past(d["expires_on"])
    r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=me.headers)
    assert r.json()["status"] == "expired"
    r = await client.post(f"{DELEGATIONS}/{d['id']}/revoke", headers=me.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    fresh = await delegate(client, me, other)
    assert fresh["status"] == "pending"
    r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=me.headers)
    assert r.json()["status"] == "expired"


async def test_only_the_delegate_answers_and_only_while_pending(client, settings,
                                                               admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    d = await delegate(client, me, other)
    r = await client.post(f"{DELEGATIONS}/{d['id']}/accept", headers=me.headers)
    assert r.status_code == 403 and r.json()["code"] == "not_the_delegate"
    declined = await act(client, other, d["id"], "decline")
    assert declined["status"] == "declined" and declined["declined_at"] is not None
    r = await client.post(f"{DELEGATIONS}/{d['id']}/accept", headers=other.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    # A pending one past its date can no longer be accepted.
    d2 = await delegate(client, me, other, expires_on=in_days(1))
    past(d2["expires_on"])
    r = await client.post(f"{DELEGATIONS}/{d2['id']}/accept", headers=other.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"


async def test_either_side_revokes_and_the_event_says_so(client, settings, admin_headers, db):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    for revoker in (me, other):
        d = await active(client, me, other)
        revoked = await act(client, revoker, d["id"], "revoke")
        assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
        assert len(await events(db, "delegation.revoked", d["id"])) == 1
        (row,) = await audit_rows(db, "delegation.revoke", d["id"])
        assert row.actor_id == revoker.subject


async def test_accept_racing_decline_is_decided_once(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    for _ in range(3):
        d = await delegate(client, me, other)
        accept, decline = await asyncio.gather(
            client.post(f"{DELEGATIONS}/{d['id']}/accept", headers=other.headers),
            client.post(f"{DELEGATIONS}/{d['id']}/decline", headers=other.headers))
        assert sorted([accept.status_code, decline.status_code]) == [200, 409]
        winner = accept if accept.status_code == 200 else decline
        r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=me.headers)
        assert r.json()["status"] == winner.json()["status"]
        if r.json()["status"] == "active":
            await act(client, me, d["id"], "revoke")


async def test_accept_racing_revoke_is_decided_once(client, settings, admin_headers, db):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    for _ in range(3):
        d = await delegate(client, me, other)
        accept, revoke = await asyncio.gather(
            client.post(f"{DELEGATIONS}/{d['id']}/accept", headers=other.headers),
            client.post(f"{DELEGATIONS}/{d['id']}/revoke", headers=me.headers))
        # Each is decided once: a loser is told the state it lost to, and what is
        # stored agrees with the winners (a revoke that read `pending` loses to an
        # accept that moved it first; one that comes after revokes the active one).
        assert 200 in (accept.status_code, revoke.status_code)
        for loser in (x for x in (accept, revoke) if x.status_code != 200):
            assert loser.status_code == 409 and loser.json()["code"] == "invalid_state"
        r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=me.headers)
        assert r.json()["status"] == ("revoked" if revoke.status_code == 200 else "active")
        activated = await events(db, "delegation.activated", d["id"])
        assert len(activated) == (1 if accept.status_code == 200 else 0)
        if r.json()["status"] == "active":
            await act(client, me, d["id"], "revoke")


async def _bureau(client, admin_headers, division: str = "110105"):
    org = await create_org(client, admin_headers, "civil_affairs_bureau",
                           division_code=division, name=f"民政局{division}")
    reviewer = await staff_headers(client, admin_headers, org["id"], "reviewer", "审核－张伟")
    approver = await staff_headers(client, admin_headers, org["id"], "approver", "审批-李娜")
    return org, reviewer, approver


def _guardianship(principal_division: str = "110105", kind: str = "guardianship_certificate",
                  delegate_id: str | None = None) -> dict:
    today = clock.today()
    return {"principal": {"name": "王建国",
                          "id_number": make_id_number(born_years_ago(85, today), sex="male")},
            "principal_division_code": principal_division,
            "delegate": {"name": "王丽", "id_number": delegate_id or make_id_number(
                born_years_ago(50, today), sex="female")},
            "scopes": ["beds", "home_care"], "expires_on": in_days(365),
            "evidence": {"kind": kind, "number": "(2026)京0105民特123号"}}


async def test_a_bureau_registers_a_guardianship_active_at_once(client, settings,
                                                                admin_headers, db):
    org, reviewer, approver = await _bureau(client, admin_headers)
    v = await verifier(client, admin_headers)
    guardian = await citizen(client, settings, v)
    body = _guardianship(delegate_id=guardian.id_number)
    r = await client.post(GUARDIANSHIPS, json=body, headers={**reviewer, **idem()})
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["status"] == "active"
    assert g["registered_by"] == {"org_id": org["id"], "staff_name": "审核-张伟"}
    assert g["evidence"] == {"kind": "guardianship_certificate",
                             "number": "(2026)京0105民特123号"}
    assert g["principal"]["id_number_masked"] == masked(body["principal"]["id_number"])
    assert len(await events(db, "delegation.activated", g["id"])) == 1
    # The guardian finds it, the bureau reads and lists it; another bureau does not.
    r = await client.get(DELEGATIONS, headers=guardian.headers)
    assert [x["id"] for x in r.json()["items"]] == [g["id"]]
    r = await client.get(f"{DELEGATIONS}/{g['id']}", headers=approver)
    assert r.status_code == 200
    assert (await audit_rows(db, "delegation.read", g["id"]))
    _other, other_reviewer, _ = await _bureau(client, admin_headers, "110108")
    r = await client.get(f"{DELEGATIONS}/{g['id']}", headers=other_reviewer)
    assert r.status_code == 404
    r = await client.post(f"{DELEGATIONS}/{g['id']}/revoke", headers=other_reviewer)
    assert r.status_code == 404
    revoked = await act(client, approver, g["id"], "revoke")
    assert revoked["status"] == "revoked"


async def test_a_guardianship_outside_the_bureaus_division_is_refused(client, admin_headers):
    _org, reviewer, _ = await _bureau(client, admin_headers, "110105")
    r = await client.post(GUARDIANSHIPS, json=_guardianship("110108"),
                          headers={**reviewer, **idem()})
    assert r.status_code == 403 and r.json()["code"] == "outside_jurisdiction", r.text
    # A city bureau covers its districts.
    _org, city, _ = await _bureau(client, admin_headers, "110100")
    r = await client.post(GUARDIANSHIPS, json=_guardianship("110108"),
                          headers={**city, **idem()})
    assert r.status_code == 201, r.text


async def test_guardianship_evidence_and_callers_are_checked(client, settings, admin_headers):
    _org, reviewer, _ = await _bureau(client, admin_headers)
    for bad in ({"kind": "letter", "number": "1"}, {"kind": "court_order", "number": ""},
                None):
        body = _guardianship()
        if bad is None:
            del body["evidence"]
        else:
            body["evidence"] = bad
        r = await client.post(GUARDIANSHIPS, json=body, headers={**reviewer, **idem()})
        assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    r = await client.post(GUARDIANSHIPS, json=_guardianship(), headers={**me.headers, **idem()})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    inst = await create_org(client, admin_headers, "care_institution")
    staff = await staff_headers(client, admin_headers, inst["id"], "institution")
    r = await client.post(GUARDIANSHIPS, json=_guardianship(), headers={**staff, **idem()})
    assert r.status_code == 403
    # A bureau sees the guardianships it registered, not citizens' delegations.
    other = await citizen(client, settings, v)
    d = await delegate(client, me, other)
    r = await client.get(f"{DELEGATIONS}/{d['id']}", headers=reviewer)
    assert r.status_code == 404


async def test_creating_a_delegation_is_idempotent(client, settings, admin_headers):
    v = await verifier(client, admin_headers)
    me = await citizen(client, settings, v)
    other = await citizen(client, settings, v)
    key = idem()
    body = {"delegate": other.person, "scopes": ["beds"], "expires_on": in_days(3)}
    first = await client.post(DELEGATIONS, headers={**me.headers, **key}, json=body)
    again = await client.post(DELEGATIONS, headers={**me.headers, **key}, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    # API.md asks the key of appointments, applications, bookings and claims only:
    # here it is optional (a client built from the contract sends none), and a
    # malformed one is still refused.
    r = await client.post(DELEGATIONS, headers={**me.headers, "Idempotency-Key": "x" * 256},
                          json=body)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    third = await citizen(client, settings, v)
    r = await client.post(DELEGATIONS, headers=me.headers,
                          json={**body, "delegate": third.person})
    assert r.status_code == 201, r.text
