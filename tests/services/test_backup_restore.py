"""`huimin backup FILE` / `huimin restore FILE` (API.md "Running it"), with the real
commands on scratch databases of the test server (the embedded one, or the one
TEST_DATABASE_URL names): what the API served from the original it serves from the
restored copy, whose audit chain verifies; a database that is not empty is refused
(exit 2, nothing changed); a restore that fails half-way leaves the database empty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from tests.api.test_marriage_support import citizen
from tests.conftest import _pg_admin
from tests.factories import born_years_ago, make_id_number
from tests.live import huimin_serve

HUIMIN = Path(sys.executable).parent / "huimin"  # .venv/bin/huimin


@pytest.fixture
def scratch(server_url: str) -> Iterator[Callable[[], str]]:
    """Make uniquely named empty databases on the test server; drop them afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"huimin_bak_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(server_url, f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        asyncio.run(_pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUIMIN_", "PG"))}
    env.update({"DATABASE_URL": database_url, "HUIMIN_ENV": "test"})
    return env


def huimin(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HUIMIN), *args], cwd=cwd, env=_env(database_url),  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)


def _at_once(*commands: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """`huimin` commands run side by side, each `[database_url, *args]`."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda c: huimin(c[0], *c[1:], cwd=cwd), commands))


def row_counts(database_url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                tables = (await conn.execute(text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "ORDER BY 1"))).scalars().all()
                return {t: (await conn.execute(text(
                    f'SELECT count(*) FROM "{t}"'))).scalar_one()  # noqa: S608 - catalogue names
                        for t in tables}
        finally:
            await engine.dispose()
    return asyncio.run(count())


def _write_through_the_api(http: httpx.Client, admin: dict, who: dict) -> dict[str, str]:
    """An organisation, a bed, a citizen's application (its elder's identity number
    encrypted at rest) and its assessment: audited actions, read back later."""
    r = http.post("/v1/admin/organisations", headers=admin, json={
        "kind": "care_institution", "name": "备份养老院", "division_code": "510107"})
    assert r.status_code == 201, r.text
    inst = r.json()["id"]
    r = http.post(f"/v1/admin/organisations/{inst}/api-keys", headers=admin,
                  json={"role": "institution", "name": "院长"})
    assert r.status_code == 201, r.text
    staff = {"X-API-Key": r.json()["key"]}
    r = http.post(f"/v1/institutions/{inst}/beds", headers=staff,
                  json={"code": "1-1", "category": "full_care", "monthly_fee_fen": 300000})
    assert r.status_code == 201, r.text
    idn = make_id_number(born_years_ago(80, date.today(), 10), sex="female")
    r = http.post("/v1/bed-applications", headers={**who, "Idempotency-Key": uuid.uuid4().hex},
                  json={"institution_id": inst, "category": "full_care",
                        "elder": {"name": "王秀兰", "id_number": idn, "phone": "13800138000"}})
    assert r.status_code == 201, r.text
    application = r.json()["id"]
    r = http.post(f"/v1/bed-applications/{application}/assess", headers=staff,
                  json={"ability_level": 2, "verified_priority_groups": []})
    assert r.status_code == 200, r.text
    return {"inst": inst, "application": application, "staff": staff["X-API-Key"]}


def _read_through_the_api(http: httpx.Client, admin: dict, who: dict,
                          made: dict[str, str]) -> dict:
    staff = {"X-API-Key": made["staff"]}
    org = http.get(f"/v1/admin/organisations/{made['inst']}", headers=admin)
    mine = http.get(f"/v1/bed-applications/{made['application']}", headers=who)
    theirs = http.get(f"/v1/bed-applications/{made['application']}", headers=staff)
    audit = http.get("/v1/admin/audit-events", headers=admin, params={"limit": 100})
    for r in (org, mine, theirs, audit):
        assert r.status_code == 200, r.text
    assert mine.json()["status"] == "offered"
    assert mine.json()["elder"]["id_number_masked"].count("*") == 8
    return {"org": org.json(), "mine": mine.json(), "theirs": theirs.json(),
            "audit": audit.json()["items"]}


def test_backup_then_restore_serves_the_same_data_and_refuses_a_full_database(
        tmp_path, scratch):
    source, copy = scratch(), scratch()
    who = citizen(Settings(env="test", _env_file=None))
    key = huimin(source, "apikey", "create", "--role", "admin", "--name", "备份管理员",
                 cwd=tmp_path)  # migrates the source first
    assert key.returncode == 0, key.stderr
    admin = {"X-API-Key": key.stdout.strip().splitlines()[-1]}
    with huimin_serve(tmp_path, source) as base, httpx.Client(base_url=base, timeout=30) as http:
        made = _write_through_the_api(http, admin, who)
        before = _read_through_the_api(http, admin, who, made)
    assert {e["action"] for e in before["audit"]} >= {"organisation.create", "bed.create"}, \
        before["audit"]

    dump = tmp_path / "huimin.dump"
    done = huimin(source, "backup", str(dump), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert dump.stat().st_mode & 0o077 == 0  # the owner's alone
    assert not list(tmp_path.glob("*.partial"))

    done = huimin(copy, "restore", str(dump), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert row_counts(copy) == row_counts(source)
    verified, original = _at_once([copy, "audit", "verify"], [source, "audit", "verify"],
                                  cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    # the same chain: as many rows, the same head
    assert verified.stdout.split(":", 1)[1] == original.stdout.split(":", 1)[1], (
        verified.stdout, original.stdout)

    with huimin_serve(tmp_path, copy) as base, httpx.Client(base_url=base, timeout=30) as http:
        after = _read_through_the_api(http, admin, who, made)
    # reads are audited too: the copy holds every event the original had, and the reads since
    old_events = before.pop("audit")
    new_events = {e["id"]: e for e in after.pop("audit")}
    assert after == before
    assert all(new_events.get(e["id"]) == e for e in old_events), (old_events, new_events)

    counts = row_counts(copy)
    again = huimin(copy, "restore", str(dump), cwd=tmp_path)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "not empty" in again.stderr and "alembic_version" in again.stderr
    assert row_counts(copy) == counts


def test_a_failed_restore_leaves_the_database_empty_and_missing_roles_are_made(
        tmp_path, scratch, server_url):
    source, target = scratch(), scratch()
    assert huimin(source, "migrate", cwd=tmp_path).returncode == 0
    role = f"huimin_bak_{uuid.uuid4().hex[:8]}"  # roles are the server's: made and dropped here
    asyncio.run(_pg_admin(server_url, f'CREATE ROLE "{role}"'))
    try:
        asyncio.run(_pg_admin(source, f'GRANT SELECT ON organisation TO "{role}"'))
        dump = tmp_path / "full.dump"
        assert huimin(source, "backup", str(dump), cwd=tmp_path).returncode == 0
        asyncio.run(_pg_admin(source, f'REVOKE ALL ON organisation FROM "{role}"'))
        asyncio.run(_pg_admin(server_url, f'DROP ROLE "{role}"'))
        before = extensions(target)

        # The target holds no table, but a function of the same name as one of the
        # dump's: the restore creates the extensions, then fails there, in one
        # transaction.
        asyncio.run(_pg_admin(target, "CREATE FUNCTION public.audit_link(p_limit integer) "
                                      "RETURNS integer LANGUAGE sql AS 'SELECT 0'"))
        done = huimin(target, "restore", str(dump), cwd=tmp_path)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "rolled back" in done.stderr and "audit_link" in done.stderr, done.stderr
        assert row_counts(target) == {}
        assert extensions(target) == before  # btree_gist and cube were made, then undone
        assert {"btree_gist", "cube"} <= extensions(source) - before

        # A role the dump grants to that the server lacks (a fresh server: the embedded
        # one has no huimin_app either) is made, without LOGIN, and gets its grants.
        asyncio.run(_pg_admin(server_url, f'DROP ROLE "{role}"'))
        asyncio.run(_pg_admin(target, "DROP FUNCTION public.audit_link(integer)"))
        done = huimin(target, "restore", str(dump), cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"created role(s) {role}" in done.stdout, done.stdout
        assert _scalar(target, f"SELECT rolcanlogin FROM pg_roles "  # noqa: S608 - ours
                               f"WHERE rolname = '{role}'") is False
        assert _scalar(target, f"SELECT has_table_privilege('{role}', 'organisation', "
                               "'SELECT')") is True
        assert row_counts(target) == row_counts(source)
    finally:
        for database in (source, target):  # the grants go, then the role can
            with contextlib.suppress(Exception):
                asyncio.run(_pg_admin(database, f'DROP OWNED BY "{role}"'))
        asyncio.run(_pg_admin(server_url, f'DROP ROLE IF EXISTS "{role}"'))


def _scalar(database_url: str, sql: str) -> object:
    async def one() -> object:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql))).scalar_one()
        finally:
            await engine.dispose()
    return asyncio.run(one())


def extensions(database_url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return set((await conn.execute(text("SELECT extname FROM pg_extension"))
                            ).scalars())
        finally:
            await engine.dispose()
    return asyncio.run(names())


def test_a_file_that_is_not_a_dump_is_refused_without_touching_the_database(tmp_path, scratch):
    target = scratch()
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump")
    done = huimin(target, "restore", str(junk), cwd=tmp_path)
    assert done.returncode == 1 and "not a dump" in done.stderr, done.stderr
    cut = tmp_path / "cut.dump"  # a dump cut short
    cut.write_bytes(b"PGDMP" + b"\0" * 100)
    done = huimin(target, "restore", str(cut), cwd=tmp_path)
    assert done.returncode == 1 and "not a dump" in done.stderr, done.stderr
    done = huimin(target, "restore", str(tmp_path / "missing.dump"), cwd=tmp_path)
    assert done.returncode == 1 and "no such dump file" in done.stderr, done.stderr
    assert row_counts(target) == {}
