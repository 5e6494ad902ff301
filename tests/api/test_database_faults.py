"""Faults say what they are: a database connection lost mid-request, or a write
that cannot get the database in time, answers 503 `database_unavailable` with
`Retry-After`, never 500; `/readyz` fails when the database cannot take a write,
not only when `SELECT 1` fails."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from api.app import create_app
from tests.api.test_marriage_support import citizen as citizen_headers
from tests.api.test_marriage_support import couple
from tests.conftest import IS_PG
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


@pytest.mark.skipif(not IS_PG, reason="a PostgreSQL backend to terminate")
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


@pytest.mark.skipif(not IS_PG, reason="a PostgreSQL backend to terminate")
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


@pytest.mark.skipif(not IS_PG, reason="PostgreSQL")
async def test_a_pool_pointed_at_a_dead_port_is_503(settings):
    dead = make_url(settings.database_url).set(host="127.0.0.1", port=1).render_as_string(
        hide_password=False)
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


def sqlite_lock(db_url: str) -> sqlite3.Connection:
    holder = sqlite3.connect(make_url(db_url).database, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")  # as the server's start-up leaves it
    holder.execute("BEGIN IMMEDIATE")
    return holder


@pytest.mark.skipif(IS_PG, reason="SQLite's write lock")
async def test_writes_that_cannot_get_the_sqlite_lock_in_time_are_503(settings, db_url,
                                                                     admin_headers):
    app = create_app(settings.model_copy(update={"sqlite_busy_timeout_ms": 300}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    holder = sqlite_lock(db_url)  # another process holds the write lock
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            # Two at once: one waits for the lock, the other for the one write
            # connection (the pool); neither gets it in time.
            results = await asyncio.gather(*(
                c.post("/v1/admin/organisations", headers=admin_headers, json={
                    "kind": "registration_office", "name": f"锁住{i}", "division_code": "110105"})
                for i in range(2)))
            for r in results:
                assert_unavailable(r)
            holder.rollback()
            r = await c.post("/v1/admin/organisations", headers=admin_headers, json={
                "kind": "registration_office", "name": "解锁", "division_code": "110105"})
            assert r.status_code == 201
    finally:
        holder.close()
        await app.state.db.dispose()


# --- /readyz takes a real write -----------------------------------------------------


async def test_readyz_writes_its_heartbeat(client, db):
    assert (await client.get("/readyz")).json() == {"status": "ready"}


@pytest.mark.skipif(IS_PG, reason="SQLite's write lock")
async def test_readyz_fails_while_another_connection_holds_the_sqlite_write_lock(settings,
                                                                                 db_url):
    app = create_app(settings.model_copy(update={"ready_write_timeout_ms": 200}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/readyz")).status_code == 200
        holder = sqlite_lock(db_url)
        try:
            assert_unavailable(await c.get("/readyz"))
            # Reads still work: it is the write that is stuck.
            assert (await c.get("/v1/marriage/offices")).status_code == 200
        finally:
            holder.rollback()
            holder.close()
        assert (await c.get("/readyz")).status_code == 200
    await app.state.db.dispose()


@pytest.mark.skipif(not IS_PG, reason="a PostgreSQL lock")
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
