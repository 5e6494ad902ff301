"""The audit trail is tamper-evident: a hash chain that `huimin audit verify` walks.

The tampering here goes straight to the database as its owner could
(`session_replication_role = replica`), bypassing everything the service itself is
allowed to do."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from core import auditchain
from tests.factories import create_org

runner = CliRunner()


async def verify(db_url: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, cli,
                                     ["audit", "verify", "--database-url", db_url])
    return result.exit_code, result.output


async def some_history(client, admin_headers, n: int = 4) -> list[dict]:  # noqa: ANN001
    for i in range(n):
        await create_org(client, admin_headers, "registration_office", name=f"登记处{i}")
    r = await client.get("/v1/admin/audit-events?limit=100", headers=admin_headers)
    return sorted(r.json()["items"], key=lambda e: e["seq"])


async def owner_sql(db_url: str, *statements: str, params: dict | None = None) -> None:
    """Run statements as the database's owner, with every trigger out of the way."""
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for stmt in statements:
            await conn.execute(text(stmt), params or {})
    await engine.dispose()


async def test_every_write_adds_the_next_link_and_verify_says_intact(client, admin_headers,
                                                                     db_url):
    events = await some_history(client, admin_headers)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    prev = auditchain.GENESIS
    for e in events:
        assert e["prev_hash"] == prev
        assert len(e["hash"]) == 64
        prev = e["hash"]
    code, out = await verify(db_url)
    assert code == 0, out
    assert f"intact: {len(events)} rows, head {len(events)} {prev}" in out


async def test_a_rewritten_row_is_caught(client, admin_headers, db_url):
    events = await some_history(client, admin_headers)
    victim = events[2]
    await owner_sql(db_url, "UPDATE audit_event SET outcome = 'refused:forbidden' "
                            "WHERE id = :id", params={"id": victim["id"]})
    code, out = await verify(db_url)
    assert code == 1
    assert f"BROKEN at row {victim['seq']} ({victim['id']})" in out
    assert "rewritten" in out


async def test_a_rewritten_timestamp_is_caught(client, admin_headers, db_url):
    events = await some_history(client, admin_headers)
    victim = events[1]
    await owner_sql(db_url, "UPDATE audit_event SET at = :at WHERE id = :id",
                    params={"id": victim["id"], "at": at("2020-01-01 00:00:00.000000")})
    code, out = await verify(db_url)
    assert code == 1 and f"BROKEN at row {victim['seq']}" in out


async def test_a_deleted_row_is_caught(client, admin_headers, db_url):
    events = await some_history(client, admin_headers)
    victim = events[1]
    await owner_sql(db_url, "DELETE FROM audit_event WHERE id = :id",
                    params={"id": victim["id"]})
    code, out = await verify(db_url)
    assert code == 1
    assert f"BROKEN at row {victim['seq']}" in out and "missing" in out


async def test_the_last_row_deleted_is_caught_by_the_head(client, admin_headers, db_url):
    events = await some_history(client, admin_headers)
    await owner_sql(db_url, "DELETE FROM audit_event WHERE id = :id",
                    params={"id": events[-1]["id"]})
    code, out = await verify(db_url)
    assert code == 1 and "head says row" in out


def _forged(events: list[dict], *, good_hash: bool) -> dict:
    last = events[-1]
    row = {"seq": last["seq"] + 1, "prev_hash": last["hash"], "id": "aud_forged",
           "at": at("2026-11-30 00:00:00.000000"), "actor_kind": "staff", "actor_id": "key_x",
           "actor_role": "admin", "org_id": None, "action": "organisation.create",
           "object_type": "organisation", "object_id": "org_x", "outcome": "success",
           "request_id": None}
    row["hash"] = "f" * 64 if not good_hash else auditchain.row_hash(row)
    return row


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


_INSERT = ("INSERT INTO audit_event (seq, prev_hash, hash, id, at, actor_kind, actor_id, "
           "actor_role, org_id, action, object_type, object_id, outcome, request_id) VALUES "
           "(:seq, :prev_hash, :hash, :id, :at, :actor_kind, :actor_id, "
           ":actor_role, :org_id, :action, :object_type, :object_id, :outcome, :request_id)")


async def test_an_inserted_row_is_caught(client, admin_headers, db_url):
    events = await some_history(client, admin_headers)
    forged = _forged(events, good_hash=False)
    await owner_sql(db_url, _INSERT, params=forged)
    code, out = await verify(db_url)
    assert code == 1
    assert f"BROKEN at row {forged['seq']} (aud_forged)" in out and "rewritten" in out


async def test_an_inserted_row_with_a_correct_hash_is_caught_by_the_head(client, admin_headers,
                                                                         db_url):
    events = await some_history(client, admin_headers)
    forged = _forged(events, good_hash=True)
    await owner_sql(db_url, _INSERT, params=forged)
    code, out = await verify(db_url)
    assert code == 1 and "head says row" in out


async def test_an_empty_trail_is_intact(db_url):
    code, out = await verify(db_url)
    assert code == 0 and "intact: 0 rows, head 0 " + auditchain.GENESIS in out


def rows_of(out: str) -> int:
    return int(out.split("intact: ")[1].split(" rows")[0])


async def test_concurrent_writers_make_one_chain(client, admin_headers, db_url):
    before = rows_of((await verify(db_url))[1])
    results = await asyncio.gather(*(
        client.post("/v1/admin/organisations", json={
            "kind": "registration_office", "name": f"并发登记处{i}", "division_code": "110105"},
            headers=admin_headers) for i in range(16)))
    assert [r.status_code for r in results] == [201] * 16
    code, out = await verify(db_url)
    assert code == 0, out
    assert rows_of(out) == before + 16


# --- the service's own role ---------------------------------------------------------


def _as_app_role(db_url: str) -> str:
    return make_url(db_url).set(username="huimin_app", password=None).render_as_string(
        hide_password=False)


async def test_the_service_role_can_neither_truncate_nor_disable_nor_forge(settings, db_url,
                                                                          admin_headers, client):
    await some_history(client, admin_headers, n=2)
    engine = create_async_engine(_as_app_role(db_url))
    try:
        for stmt in ("TRUNCATE audit_event", "ALTER TABLE audit_event DISABLE TRIGGER USER",
                     "DROP TRIGGER audit_event_chain ON audit_event",
                     "UPDATE audit_chain_head SET seq = 0",
                     "UPDATE audit_event SET outcome = 'x'", "DELETE FROM audit_event",
                     "SET session_replication_role = replica"):
            async with engine.begin() as conn:
                with pytest.raises(DBAPIError) as caught:
                    await conn.execute(text(stmt))
            assert "permission denied" in str(caught.value) or "must be owner" in str(
                caught.value) or "append-only" in str(caught.value), stmt
        # An INSERT naming its own link gets the trigger's instead.
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO audit_event (id, at, actor_kind, actor_id, action, object_type, "
                "outcome, seq, prev_hash, hash) VALUES ('aud_by_app', now(), 'system', "
                "'system', 'x.y', 'x', 'success', 999, :h, :h)"), {"h": "0" * 64})
    finally:
        await engine.dispose()
    code, out = await verify(db_url)
    assert code == 0, out
    assert rows_of(out) == 1 + 2 + 1, out  # the admin key, two organisations, the insert


async def test_the_service_runs_as_its_role(settings, db_url, admin_headers):
    app = create_app(settings.model_copy(update={"database_url": _as_app_role(db_url)}))
    import httpx

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            org = await create_org(c, admin_headers, "registration_office")
            r = await c.get(f"/v1/admin/audit-events?object_id={org['id']}",
                            headers=admin_headers)
            assert r.status_code == 200 and r.json()["items"][0]["seq"] >= 1
            assert (await c.get("/readyz")).status_code == 200
    finally:
        await app.state.db.dispose()
    code, out = await verify(db_url)
    assert code == 0, out


def test_the_canonical_text_is_unambiguous():
    base = dict.fromkeys(auditchain.FIELDS, "a")
    base["at"] = at("2026-12-01 08:00:00.000001")
    moved = {**base, "actor_id": "a\n1:a", "actor_role": None}
    assert auditchain.canonical(base) != auditchain.canonical(moved)
    assert auditchain.row_hash(base) == hashlib.sha256(auditchain.canonical(base)).hexdigest()
    assert b"2026-12-01T08:00:00.000001Z" in auditchain.canonical(base)
