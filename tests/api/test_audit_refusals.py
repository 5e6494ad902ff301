"""Refused writes are audited as the README says: every refusal of a write by a
caller with valid credentials, validation and malformed JSON included; not 401
(no known caller) nor 429."""

from __future__ import annotations

from tests.api.test_marriage_support import (
    book,
    citizen,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.factories import citizen_headers, idem


async def events(client, admin_headers, **filters) -> list[dict]:  # noqa: ANN001
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    r = await client.get(f"/v1/admin/audit-events?limit=100&{query}", headers=admin_headers)
    return r.json()["items"]


async def test_a_validation_refusal_is_audited(client, admin_headers):
    r = await client.post("/v1/admin/organisations", json={"kind": "registration_office"},
                          headers=admin_headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    found = await events(client, admin_headers, object_type="request")
    assert [e["outcome"] for e in found] == ["refused:validation_error"]
    assert found[0]["actor_role"] == "admin" and found[0]["action"] == "create_organisation"


async def test_malformed_json_is_audited_with_its_caller(client, admin_headers, settings):
    citizen = citizen_headers(settings, "wx-broken-json")
    r = await client.post("/v1/marriage/appointments", content=b'{"slot_id": ',
                          headers={**citizen, "Content-Type": "application/json",
                                   "Idempotency-Key": "k-1"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    found = await events(client, admin_headers, actor_id="wx-broken-json")
    assert [e["outcome"] for e in found] == ["refused:malformed_json"]


async def test_refusals_without_a_known_caller_are_not_audited(client, admin_headers):
    for headers in ({}, {"X-API-Key": "hm_000000000000_madeup"},
                    {"Authorization": "Bearer not-a-token"}):
        r = await client.post("/v1/admin/organisations", json={"kind": "x"}, headers=headers)
        assert r.status_code == 401
    assert await events(client, admin_headers, object_type="request") == []


async def test_a_full_session_refusal_is_audited_once_and_a_replay_is_not(
        client, admin_headers, settings):
    """Booking (a hot route) looks its key up only once refused, in the statement
    that audits the refusal: a replay is answered, not audited as a refusal."""
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers, sessions=[
        {"weekday": 2, "start": "09:00", "end": "12:00", "capacity": 1}])
    slot = slot_id(office["id"], "2026-12-08", "09:00")
    first = {**citizen(settings, "wx-first"), **idem()}
    body = {"slot_id": slot, "kind": "marriage", "parties": couple()}
    r = await client.post("/v1/marriage/appointments", json=body, headers=first)
    assert r.status_code == 201, r.text
    for n in range(2):  # the second from the process's memo of the full session
        r = await book(client, settings, slot, headers=citizen(settings, f"wx-late-{n}"))
        assert r.status_code == 409 and r.json()["code"] == "slot_full"
        found = await events(client, admin_headers, actor_id=f"wx-late-{n}")
        assert [(e["outcome"], e["action"]) for e in found] == [
            ("refused:slot_full", "book_appointment")]
    again = await client.post("/v1/marriage/appointments", json=body, headers=first)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    found = await events(client, admin_headers, actor_id="wx-first")
    assert [e["outcome"] for e in found] == ["success"]


async def test_a_key_reused_with_another_body_is_audited_on_the_hot_route_too(
        client, admin_headers, settings):
    """Booking finds a reused key only once its write meets the key's record; the
    refusal is audited as it is where the key is looked up first."""
    set_china_time("2026-12-01")
    office, _ = await office_with_schedule(client, admin_headers)
    me = {**citizen(settings, "wx-reuser"), **idem()}
    r = await client.post("/v1/marriage/appointments", headers=me, json={
        "slot_id": slot_id(office["id"], "2026-12-08"), "kind": "marriage",
        "parties": couple()})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/marriage/appointments", headers=me, json={
        "slot_id": slot_id(office["id"], "2026-12-15"), "kind": "marriage",
        "parties": couple()})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", r.text
    found = await events(client, admin_headers, actor_id="wx-reuser")
    assert sorted(e["outcome"] for e in found) == ["refused:idempotency_key_reused",
                                                    "success"]
