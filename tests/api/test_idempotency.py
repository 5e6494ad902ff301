"""Idempotency-Key semantics (API.md "Write safety")."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import func, select

from api.deps import Idempotent
from api.route import TransactionalRoute
from core.clock import clock
from schemas.idempotency import IdempotencyRecord
from schemas.organisation import ApiKeyCreate, Organisation, Role
from services import organisations

BODY = {"kind": "registration_office", "name": "朝阳区婚姻登记处", "division_code": "110105"}


async def count_orgs(db) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(Organisation))).scalar_one()


async def test_same_key_same_body_replays_the_first_response(client, admin_headers, db):
    h = {**admin_headers, "Idempotency-Key": "org-create-1"}
    first = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    second = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_orgs(db) == 1


async def test_same_key_other_body_is_422(client, admin_headers, db):
    h = {**admin_headers, "Idempotency-Key": "org-create-2"}
    assert (await client.post("/v1/admin/organisations", json=BODY, headers=h)).status_code == 201
    r = await client.post("/v1/admin/organisations", json={**BODY, "name": "另一个"}, headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert await count_orgs(db) == 1


async def test_keys_are_scoped_to_the_caller(client, admin_headers, db):
    async with db.session() as s:
        other = await organisations.create_api_key(s, None, None,
                                                   ApiKeyCreate(role=Role.admin, name="other"))
        await s.commit()
    key = {"Idempotency-Key": "shared-key"}
    a = await client.post("/v1/admin/organisations", json=BODY, headers={**admin_headers, **key})
    b = await client.post("/v1/admin/organisations", json=BODY,
                          headers={"X-API-Key": other.key, **key})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers


async def test_keys_are_kept_24_hours_then_forgotten(client, admin_headers, db):
    h = {**admin_headers, "Idempotency-Key": "org-create-3"}
    first = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    clock.advance(timedelta(hours=23, minutes=59))
    again = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    assert again.json()["id"] == first.json()["id"]
    clock.advance(timedelta(minutes=2))
    later = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert await count_orgs(db) == 2


async def test_a_refused_request_is_not_remembered(client, admin_headers, db):
    h = {**admin_headers, "Idempotency-Key": "org-create-4"}
    bad = await client.post("/v1/admin/organisations", json={**BODY, "division_code": "999999"},
                            headers=h)
    assert bad.status_code == 422
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(IdempotencyRecord))
                ).scalar_one() == 0
    good = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    assert good.status_code == 201


async def test_concurrent_requests_with_one_key_create_one_resource(client, admin_headers, db):
    h = {**admin_headers, "Idempotency-Key": "org-create-5"}
    results = await asyncio.gather(*[
        client.post("/v1/admin/organisations", json=BODY, headers=h) for _ in range(6)])
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    for r in results:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_in_flight"
    assert await count_orgs(db) == 1


async def test_required_key_missing_or_malformed_is_400(app, client, admin_headers):
    probe = APIRouter(route_class=TransactionalRoute)

    @probe.post("/test-only/idempotent", status_code=201)
    async def create_thing(_: Idempotent) -> dict:
        return {"ok": True}

    app.include_router(probe)
    for headers in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256},
                    {"Idempotency-Key": "bad\tkey"}):
        r = await client.post("/test-only/idempotent", headers={**admin_headers, **headers})
        assert r.status_code == 400, headers
        assert r.json()["code"] == "idempotency_key_required"
    r = await client.post("/test-only/idempotent",
                          headers={**admin_headers, "Idempotency-Key": "k" * 255})
    assert r.status_code == 201


async def test_a_replay_logs_no_error_and_no_body(client, admin_headers, log_stream):
    h = {**admin_headers, "Idempotency-Key": "org-create-log"}
    await client.post("/v1/admin/organisations", json=BODY, headers=h)
    r = await client.post("/v1/admin/organisations", json=BODY, headers=h)
    assert r.headers["idempotent-replayed"] == "true"
    logged = log_stream.getvalue()
    assert "unhandled_exception" not in logged
    assert BODY["name"] not in logged


async def test_a_first_request_committed_under_a_stale_snapshot_gives_409_not_500(db):
    """PostgreSQL reads the record in the statement that takes the advisory lock;
    a first request committing in between makes the final INSERT conflict, which
    must come out as 'in flight' (retry, then replay), never as a server error."""
    import pytest

    from core.clock import clock as clk
    from core.errors import IdempotencyInFlight
    from services import idempotency

    async with db.session() as late:
        claim = await idempotency.begin(late, scope="s", key="k", request_hash="h",
                                        ttl_hours=24)
        async with db.session() as first:
            first.add(IdempotencyRecord(scope="s", key="k", request_hash="h",
                                        response_status=201, response_body="{}",
                                        created_at=clk.now(),
                                        expires_at=clk.now() + timedelta(hours=24)))
            await first.commit()
        with pytest.raises(IdempotencyInFlight):
            await idempotency.complete(late, claim, 201, b"{}")
        await late.rollback()
