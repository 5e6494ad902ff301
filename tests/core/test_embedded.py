"""core.embedded and `huimin db`: real embedded PostgreSQL servers, each in its own
HUIMIN_DATA_DIR under tmp_path. Every test stops what it started, also on failure."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from api.db_cli import db_app
from core.embedded import SERVER_USER, EmbeddedPostgres, EmbeddedPostgresError

REPO = Path(__file__).resolve().parents[2]

# A process that holds a lease until a line arrives on its stdin; it prints the
# postmaster's pid once it has its lease.
HOLDER = """
import sys
from core.embedded import EmbeddedPostgres
with EmbeddedPostgres(sys.argv[1]).lease() as pg:
    print(pg.pid(), flush=True)
    sys.stdin.readline()
"""

# Creates a table and inserts rows one by one (each its own transaction), printing
# each id once its commit is acknowledged, until killed.
WRITER = """
import asyncio, sys
import asyncpg
from core.embedded import EmbeddedPostgres
pg = EmbeddedPostgres(sys.argv[1])
async def main():
    conn = await asyncpg.connect(host=str(pg.socket_dir), port=5432, user="postgres",
                                 database="huimin")
    await conn.execute("CREATE TABLE acks (id bigint PRIMARY KEY, body text NOT NULL)")
    n = 0
    while True:
        n += 1
        await conn.execute("INSERT INTO acks VALUES ($1, repeat('x', 200))", n)
        print(n, flush=True)
with pg.lease():
    asyncio.run(main())
"""


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postgres processes (postmaster and backends) working in `data_dir`."""
    real = os.path.realpath(data_dir)
    found = []
    for proc in psutil.process_iter():
        try:
            if (proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE
                    and proc.cwd() == real):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def wait_gone(data_dir: Path, timeout: float = 10) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := postgres_processes(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def cleanup(root: Path) -> None:
    """Stop the server of `root` whatever state it is in; remove its /tmp socket dir."""
    pg = EmbeddedPostgres(root)
    try:
        pg.stop()
    finally:
        kill_all(postgres_processes(pg.data_dir))
        if pg.socket_dir != pg.data_dir and pg.socket_dir.exists():
            for leftover in pg.socket_dir.iterdir():
                leftover.unlink()
            pg.socket_dir.rmdir()


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "var"
    monkeypatch.setenv("HUIMIN_DATA_DIR", str(root))
    yield root
    cleanup(root)


@pytest.fixture
def deep_root(tmp_path: Path) -> Iterator[Path]:
    """A root too deep for a Unix socket in its data directory (the /tmp fallback)."""
    root = tmp_path / ("d" * 60) / "var"
    yield root
    cleanup(root)


Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start helper processes (in the repository); any still running at the end
    are killed."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(args, cwd=REPO, text=True, **kwargs)  # noqa: S603 - our helpers
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def hold(spawn: Spawn, root: Path) -> tuple[subprocess.Popen[str], int]:
    holder = spawn(sys.executable, "-c", HOLDER, str(root),
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = holder.stdout.readline()
    assert line.strip().isdigit(), f"the holder did not get a lease: {line!r}"
    return holder, int(line)


async def query(url: str, *statements: str) -> Any:
    """Run the statements in one transaction; the first column of the last one's
    first row."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                result = await conn.execute(text(sql))
            return result.scalar()
    finally:
        await engine.dispose()


def test_leases_share_one_server_that_stops_with_the_last(root: Path, spawn: Spawn) -> None:
    pg = EmbeddedPostgres(root)
    assert not pg.is_running()
    holder, postmaster = hold(spawn, root)
    assert pg.pid() == postmaster
    assert psutil.Process(postmaster).name() == "postgres"

    with pg.lease():
        assert pg.pid() == postmaster  # shared, not a second server
        assert len(json.loads((root / "pg.users").read_text())) == 2
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        assert pg.pid() == postmaster  # we still hold a lease
        assert asyncio.run(query(pg.url(), "SELECT current_database()")) == "huimin"

    assert not pg.is_running()
    assert wait_gone(pg.data_dir, timeout=0) == []
    assert json.loads((root / "pg.users").read_text()) == []
    pg.release()  # idempotent: no lease left, nothing happens
    assert not pg.is_running()


def test_db_commands(root: Path) -> None:
    cli = CliRunner()
    pg = EmbeddedPostgres(root)
    with pg.lease():
        started = cli.invoke(db_app, ["start"])
        assert started.exit_code == 0, started.output
        assert "running" in started.output and str(pg.data_dir) in started.output
    assert pg.is_running()  # pinned: outlives the last lease

    status = cli.invoke(db_app, ["status"])
    assert status.exit_code == 0, status.output
    assert str(pg.pid()) in status.output

    url = cli.invoke(db_app, ["url"]).output.strip().splitlines()[-1]
    assert url == pg.url() and url.startswith("postgresql+asyncpg://")
    assert asyncio.run(query(url, "SELECT current_user || '@' || current_database()")) == (
        "postgres@huimin")
    # The exclusion constraint needs btree_gist: the reason for this package.
    assert asyncio.run(query(url, "CREATE EXTENSION btree_gist", "SELECT 1")) == 1

    stopped = cli.invoke(db_app, ["stop"])
    assert stopped.exit_code == 0, stopped.output
    assert not pg.is_running()
    assert wait_gone(pg.data_dir) == []
    status = cli.invoke(db_app, ["status"])
    assert status.exit_code == 3, status.output
    assert "not running" in status.output
    again = cli.invoke(db_app, ["stop"])
    assert again.exit_code == 0 and "not running" in again.output
    assert cli.invoke(db_app, ["url"]).output.strip().splitlines()[-1] == url  # stable

    with pg.lease():  # unpinned again: the last lease stops it
        assert pg.is_running()
    assert not pg.is_running()


def test_a_killed_holder_does_not_keep_the_server(deep_root: Path, spawn: Spawn) -> None:
    pg = EmbeddedPostgres(deep_root)
    assert pg.socket_dir != pg.data_dir
    assert str(pg.socket_dir).startswith("/tmp/huimin-pg-")
    holder, postmaster = hold(spawn, deep_root)
    assert pg.is_running() and (pg.socket_dir / ".s.PGSQL.5432").is_socket()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert pg.pid() == postmaster  # nobody released: still up
    assert holder.pid in [u[0] for u in json.loads((deep_root / "pg.users").read_text())]

    with pg.lease():
        assert pg.pid() == postmaster
    assert not pg.is_running()  # the dead holder's pid was pruned
    assert wait_gone(pg.data_dir) == []
    assert not pg.socket_dir.exists()


def test_a_killed_postmaster_leaves_nothing_that_blocks(root: Path, spawn: Spawn) -> None:
    pg = EmbeddedPostgres(root)
    old = pg.start(pinned=False)
    # A busy backend, so there is more than the postmaster to kill.
    busy = spawn(sys.executable, "-c",
                 "import asyncio, asyncpg, sys\n"
                 "async def main():\n"
                 "    c = await asyncpg.connect(host=sys.argv[1], user='postgres',"
                 " database='huimin')\n"
                 "    await c.execute('SELECT pg_sleep(600)')\n"
                 "asyncio.run(main())", str(pg.socket_dir))
    deadline = time.monotonic() + 10
    while len(procs := postgres_processes(pg.data_dir)) < 2 or not any(
            "SELECT" in " ".join(p.cmdline()) for p in procs):
        assert time.monotonic() < deadline, "no backend appeared"
        time.sleep(0.05)
    os.kill(old, signal.SIGKILL)
    kill_all(postgres_processes(pg.data_dir))
    busy.wait(timeout=10)
    assert wait_gone(pg.data_dir) == []

    pidfile = pg.data_dir / "postmaster.pid"
    assert pidfile.exists() and (pg.socket_dir / ".s.PGSQL.5432.lock").exists()
    # Nastier: the pid in the file now belongs to a live process (not postgres) of
    # the server's own user, which PostgreSQL's own check takes for a postmaster.
    as_server = {"user": SERVER_USER} if os.geteuid() == 0 else {}
    sleeper = spawn("sleep", "600", **as_server)
    lines = pidfile.read_text().splitlines()
    pidfile.write_text("\n".join([str(sleeper.pid), *lines[1:]]) + "\n")
    assert not pg.is_running()

    with pg.lease():
        new = pg.pid()
        assert new is not None and new not in (old, sleeper.pid)
        assert asyncio.run(query(pg.url(), "SELECT 1")) == 1
    assert sleeper.poll() is None  # the unrelated process was left alone
    assert not pg.is_running()
    assert wait_gone(pg.data_dir) == []


def test_acknowledged_commits_survive_kill_9_of_everything(root: Path, spawn: Spawn) -> None:
    """Each acknowledged commit is back after SIGKILL of the writer and every server
    process. With synchronous_commit = off this fails (commits still in the WAL
    buffers in shared memory are lost: tried). Killing processes leaves the OS page
    cache intact, so it cannot tell fsync = off apart: that one is checked by SHOW."""
    pg = EmbeddedPostgres(root)
    writer = spawn(sys.executable, "-c", WRITER, str(root), stdout=subprocess.PIPE)
    acked: list[int] = []
    while len(acked) < 300:
        line = writer.stdout.readline()
        assert line, f"the writer stopped early (exit {writer.poll()})"
        acked.append(int(line))
    kill_all(postgres_processes(pg.data_dir))  # the server first, mid-write
    writer.kill()
    writer.wait()
    acked += [int(line) for line in writer.stdout.read().split()]
    assert wait_gone(pg.data_dir) == []
    assert not pg.is_running()

    with pg.lease():
        stored = asyncio.run(query(pg.url(), "SELECT array_agg(id) FROM acks"))
        assert acked == list(range(1, len(acked) + 1))
        assert set(acked) <= set(stored)
        assert asyncio.run(query(pg.url(), "SHOW fsync")) == "on"
        assert asyncio.run(query(pg.url(), "SHOW synchronous_commit")) == "on"
        assert asyncio.run(query(pg.url(), "SHOW full_page_writes")) == "on"
    assert not pg.is_running()


def test_socket_directory_and_urls(tmp_path: Path) -> None:
    short = EmbeddedPostgres(tmp_path / "v")
    assert short.socket_dir == short.data_dir
    assert short.url() == (
        f"postgresql+asyncpg://postgres@/huimin?host={short.data_dir}&port=5432")
    assert short.libpq_url("postgres").startswith("postgresql://postgres@/postgres?host=")
    deep = EmbeddedPostgres(tmp_path / ("d" * 100))
    assert deep.socket_dir == EmbeddedPostgres(tmp_path / ("d" * 100)).socket_dir
    assert len(str(deep.socket_dir / ".s.PGSQL.5432")) < 100
    assert deep.socket_dir != EmbeddedPostgres(tmp_path / ("e" * 100)).socket_dir


def test_a_failed_start_says_why(root: Path) -> None:
    pg = EmbeddedPostgres(root)
    pg.start(pinned=False)
    pg.stop()
    with open(pg.data_dir / "postgresql.auto.conf", "a") as conf:
        conf.write("shared_buffers = 'plenty'\n")
    with pytest.raises(EmbeddedPostgresError) as failed:
        pg.acquire()
    assert "did not start" in str(failed.value)
    assert 'invalid value for parameter "shared_buffers"' in str(failed.value)  # the log's tail
    assert not pg.is_running()
    assert not (root / "pg.users").exists()  # not registered
    pg.release()  # holds no lease: nothing to do
