"""Faults say what they are: a database connection lost mid-request, or a write
that cannot get the database in time, answers 503 `database_unavailable` with
`Retry-After`, never 500; `/readyz` fails when the database cannot take a write,
not only when `SELECT 1` fails."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from tests.api.test_marriage_support import (
    book,
    couple,
    office_with_schedule,
    set_china_time,
    slot_id,
)
from tests.api.test_marriage_support import citizen as citizen_headers
from tests.factories import idem


def asyncpg_dsn(db_url: str) -> str:
    return make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")


async def waiting_backend(conn: asyncpg.Connection, tries: int = 200) -> int:
    """The pid of the backend of this database that waits for a lock."""
    for _ in range(tries):
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1")
        if pid:
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("no request ever waited for the lock")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_connection_terminated_mid_request_is_503(client, admin_headers, db_url,
                                                           method):
    assert (await client.get("/v1/me", headers=admin_headers)).status_code == 200
    holder = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")
        if method == "GET":
            request = client.get("/v1/me", headers=admin_headers)
        else:
            request = client.post("/v1/admin/organisations", headers=admin_headers, json={
                "kind": "registration_office", "name": "断线登记处", "division_code": "110105"})
        task = asyncio.create_task(request)
        pid = await waiting_backend(holder)
        assert await holder.fetchval("SELECT pg_terminate_backend($1)", pid)
        r = await asyncio.wait_for(task, 30)
        await tx.rollback()
    finally:
        await holder.close()
    assert_unavailable(r)
    # The pool lets the dead connection go: the next request answers.
    assert (await client.get("/v1/me", headers=admin_headers)).status_code == 200


async def test_connections_terminated_between_requests_are_503_or_replaced(client,
                                                                         admin_headers, db_url,
                                                                         settings):
    citizen = citizen_headers(settings)
    assert (await client.get("/v1/me", headers=admin_headers)).status_code == 200
    assert (await client.get("/v1/me", headers=citizen)).status_code == 200
    killer = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await killer.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    finally:
        await killer.close()
    # A staff key is looked up in the session's pool, a citizen's identity on a
    # connection of the LonePool (core.db): both pools let dead connections go.
    for headers in (admin_headers, citizen):
        r = await client.get("/v1/me", headers=headers)
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            assert_unavailable(r)
        assert (await client.get("/v1/me", headers=headers)).status_code == 200


async def test_a_pool_pointed_at_a_dead_port_is_503(settings):
    dead = make_url(settings.database_url).set(host="127.0.0.1", port=1, query={}
                                               ).render_as_string(hide_password=False)
    app = create_app(settings.model_copy(update={"database_url": dead}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert_unavailable(await c.get("/v1/marriage/offices"))
        assert_unavailable(await c.get("/v1/admin/organisations", headers={
            "X-API-Key": "hm_000000000000_whatever"}))
        assert_unavailable(await c.get("/readyz"))
        # Statements sent on their own (the LonePool): a citizen's identity, a booking.
        citizen = citizen_headers(settings)
        assert_unavailable(await c.get("/v1/me", headers=citizen))
        assert_unavailable(await c.post("/v1/marriage/appointments", json={
            "slot_id": "ms_org_x_20261208_0900", "kind": "marriage", "parties": couple()},
            headers={**citizen, **idem()}))
    await app.state.db.dispose()


# --- /readyz takes a real write -----------------------------------------------------


async def test_readyz_writes_its_heartbeat(client, db):
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_fails_while_another_connection_blocks_the_write(settings, db_url):
    app = create_app(settings.model_copy(update={"ready_write_timeout_ms": 200}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/readyz")).status_code == 200
        holder = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute("LOCK TABLE service_heartbeat IN EXCLUSIVE MODE")
            assert_unavailable(await asyncio.wait_for(c.get("/readyz"), 10))
            assert (await c.get("/v1/marriage/offices")).status_code == 200
            await tx.rollback()
        finally:
            await holder.close()
        assert (await c.get("/readyz")).status_code == 200
    await app.state.db.dispose()


# --- backends killed under concurrent writes ------------------------------------------


async def _kill_backends_until(stop: asyncio.Event, db_url: str, pause: float) -> int:
    """Terminate every backend of the test database but this one, again and again, as
    an operator's `pg_terminate_backend` or a failing server would; how many."""
    killed = 0
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        while not stop.is_set():
            killed += await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'")
            await asyncio.sleep(pause)
    finally:
        await conn.close()
    return killed


async def test_backends_killed_during_concurrent_writes_answer_503_never_500(
        client, admin_headers, settings, db_url, db):
    """24 writes at a time (bookings, the hot lane; organisations, the generic route;
    a citizen's identity read) while the service's backends are terminated: every
    answer is a success, a refusal or 503 with Retry-After, and every acknowledged
    booking and organisation is there afterwards."""
    set_china_time("2026-12-01")
    sessions = [{"weekday": d, "start": "09:00", "end": "12:00", "capacity": 500}
                for d in range(1, 6)]
    office, _ = await office_with_schedule(client, admin_headers, sessions=sessions)
    slot = slot_id(office["id"], "2026-12-08")
    citizen = citizen_headers(settings)
    statuses: list[int] = []
    booked: list[str] = []
    made: list[str] = []

    async def one(i: int) -> None:
        if i % 3 == 0:
            r = await client.post("/v1/admin/organisations", headers=admin_headers, json={
                "kind": "registration_office", "name": f"断线{i}", "division_code": "110105"})
            if r.status_code == 201:
                made.append(r.json()["id"])
        elif i % 3 == 1:
            r = await book(client, settings, slot, couple())
            if r.status_code == 201:
                booked.append(r.json()["id"])
        else:
            r = await client.get("/v1/me", headers=citizen)
        statuses.append(r.status_code)
        if r.status_code >= 500:
            assert_unavailable(r)

    stop = asyncio.Event()
    killer = asyncio.create_task(_kill_backends_until(stop, db_url, 0.002))
    try:
        for round_ in range(6):
            await asyncio.gather(*(one(round_ * 24 + i) for i in range(24)))
    finally:
        stop.set()
        killed = await killer
    assert killed > 0
    assert 500 not in statuses, statuses
    assert 503 in statuses  # the faults did reach requests
    # Every acknowledged write is there.
    async with db.session() as s:
        have = set((await s.execute(text(
            "SELECT id FROM marriage_appointment WHERE id = ANY(:ids)"), {"ids": booked})
        ).scalars())
        orgs = set((await s.execute(text(
            "SELECT id FROM organisation WHERE id = ANY(:ids)"), {"ids": made})).scalars())
    assert have == set(booked) and orgs == set(made)
