"""Refused writes are audited as the README says: every refusal of a write by a
caller with valid credentials, validation and malformed JSON included; not 401
(no known caller) nor 429."""

from __future__ import annotations

from tests.factories import citizen_headers


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
