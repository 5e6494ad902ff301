"""core.backup's connection and version rules, on the test server."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy.engine import make_url

from core import backup as backups


def test_the_sqlalchemy_url_becomes_libpq_environment_with_the_password_in_pgpassword(
        monkeypatch):
    monkeypatch.setenv("PGHOST", "elsewhere")  # the caller's own PG* never steer the tools
    monkeypatch.setenv("PGOPTIONS", "-c search_path=evil")
    db = backups.target("postgresql+asyncpg://huimin:p%40ss%20word@db.example:6432/prod"
                        "?ssl=require&prepared_statement_cache_size=0")
    assert {k: v for k, v in db.env.items() if k.startswith("PG")} == {
        "PGHOST": "db.example", "PGPORT": "6432", "PGUSER": "huimin", "PGDATABASE": "prod",
        "PGPASSWORD": "p@ss word", "PGSSLMODE": "require"}
    socket = backups.target("postgresql+asyncpg://postgres@/huimin?host=/run/pg&port=5433")
    assert (socket.env["PGHOST"], socket.env["PGPORT"]) == ("/run/pg", "5433")
    assert "PGPASSWORD" not in socket.env
    assert backups.target("postgresql+asyncpg://u@h/d?ssl=true").env["PGSSLMODE"] == "require"


def test_a_backup_passes_the_password_in_the_environment_never_on_a_command_line(
        db_url, tmp_path, monkeypatch):
    url = make_url(db_url)
    password = url.password or "never-on-the-command-line"  # the embedded server trusts
    url = url.set(password=password).render_as_string(hide_password=False)
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(args, **kwargs):  # noqa: ANN001, ANN202
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backups.subprocess, "run", spy)
    report = backups.backup(url, tmp_path / "x.dump")
    assert report.size_bytes > 0 and report.tables > 0
    tools = [args[0].rsplit("/", 1)[-1] for args, _ in calls]
    assert "pg_dump" in tools and "psql" in tools
    for args, env in calls:
        assert not any(password in a for a in args), args
        if "--version" not in args:
            assert env["PGPASSWORD"] == password


def test_a_server_newer_than_pg_dump_is_refused_and_nothing_is_written(
        db_url, tmp_path, monkeypatch):
    server_major = backups.server_version_num(backups.target(db_url)) // 10000
    monkeypatch.setattr(backups, "tool_major",
                        lambda tool="pg_dump", tools=None: server_major - 1)
    with pytest.raises(backups.BackupError, match=f"is PostgreSQL {server_major}, newer than "
                                                  f"this pg_dump .PostgreSQL {server_major - 1}"):
        backups.backup(db_url, tmp_path / "x.dump")
    assert list(tmp_path.iterdir()) == []


def test_the_bundled_tools_are_there_and_can_dump_postgresql_15_and_newer():
    assert backups.tool_major("pg_dump") >= 15
    assert backups.tool_major("pg_restore") == backups.tool_major("pg_dump")


def test_a_restore_into_a_server_older_than_its_pg_restore_knows_is_refused_first(
        db_url, tmp_path, monkeypatch):
    """pg_restore 17+ sends `SET transaction_timeout`, which PostgreSQL 15 and 16 refuse:
    without that server's own tools, the restore says so before touching anything."""
    dump = tmp_path / "x.dump"
    backups.backup(db_url, dump)
    real = backups.with_server_tools
    monkeypatch.setattr(backups, "with_server_tools",
                        lambda t: (real(t)[0].__class__(env=t.env, database=t.database), 160004))
    monkeypatch.setattr(backups, "tool_major", lambda tool="pg_dump", tools=None: 18)
    with pytest.raises(backups.BackupError, match="PostgreSQL 16's client tools"):
        backups.restore(db_url, dump)


def test_the_server_s_own_tools_are_preferred(db_url):
    """On a machine with the server's major version's tools (Debian's layout; CI's
    PostgreSQL 15), they are used; otherwise the embedded package's."""
    chosen, server = backups.with_server_tools(backups.target(db_url))
    own = [d for d in backups.tool_dirs(server // 10000) if (d / "pg_restore").exists()]
    if own:
        assert chosen.tools == own[0]
    else:
        assert chosen.tools == backups.POSTGRES_BIN_PATH
