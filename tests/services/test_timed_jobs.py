"""Each timed job runs on one node at a time (API.md "Running it", several nodes):
two nodes (two `Database`s, as two processes have) run the same job at the same
moment and exactly one runs it, logged once as `timed_job` with its node; the
other skips that run silently. A node killed with kill -9 while it runs a job
blocks nobody: its lock dies with its connection."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from api.cli import ROOT
from core.db import Database
from core.logging import configure_logging
from services import idempotency, maintenance
from services.notifications import worker as worker_module
from services.notifications.worker import Worker


@pytest.fixture
def logs():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield stream
    configure_logging("WARNING")


def _runs(stream: io.StringIO, job: str, event: str = "timed_job") -> list[dict]:
    events = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [e for e in events if e.get("event") == event and e.get("job") == job]


class Gate:
    """A job body that records each run and holds the first one until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, *_args: object) -> int:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.release.wait()
        return 0


@pytest.fixture
async def two_nodes(settings):
    a, b = Database.from_settings(settings), Database.from_settings(settings)
    yield a, b
    await a.dispose()
    await b.dispose()


async def test_a_maintenance_job_runs_on_one_node_at_a_time(two_nodes, settings, logs,
                                                           monkeypatch):
    a, b = two_nodes
    gate = Gate()
    monkeypatch.setattr(idempotency, "purge_expired", gate)
    first = asyncio.create_task(maintenance.run_once(a, settings))
    await gate.entered.wait()  # node a is inside the job now
    await maintenance.run_once(b, settings)  # node b, the same job at the same moment
    assert gate.calls == 1
    gate.release.set()
    await first
    runs = _runs(logs, "idempotency_keys_purged")
    assert len(runs) == 1, runs
    # Its end is logged, while the lock is still held: the multi-node test reads the
    # start and end lines to check that runs on two nodes never overlap.
    done = _runs(logs, "idempotency_keys_purged", "timed_job_done")
    assert len(done) == 1 and done[0]["node"] == runs[0]["node"], done
    assert done[0]["duration_ms"] >= 0
    assert runs[0]["node"] == f"{os.uname().nodename}:{os.getpid()}"
    # The lock went with the run: the next run, on either node, runs it.
    await maintenance.run_once(b, settings)
    assert gate.calls == 2
    assert len(_runs(logs, "idempotency_keys_purged")) == 2


async def test_a_worker_scheduled_job_runs_on_one_node_at_a_time(two_nodes, settings, logs,
                                                                monkeypatch):
    a, b = two_nodes
    gate = Gate()
    monkeypatch.setitem(worker_module.SCHEDULED, "marriage", gate)
    async with Worker(a, settings) as wa, Worker(b, settings) as wb:
        first = asyncio.create_task(wa.schedule())
        await gate.entered.wait()
        await wb.schedule()
        assert gate.calls == 1
        gate.release.set()
        await first
        assert len(_runs(logs, "scheduled_marriage")) == 1
        # The other domains' jobs were not held: both nodes ran them, one after the other.
        assert len(_runs(logs, "scheduled_beds")) == 2
        await wb.schedule()
        assert gate.calls == 2


_HOLDER = """
import asyncio, sys
from core import locks
from core.db import Database
from core.settings import Settings

async def main():
    db = Database.from_settings(Settings(database_url=sys.argv[1], _env_file=None))
    async with locks.job(db, "idempotency_keys_purged") as mine:
        print("holding" if mine else "refused", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def _run_once(settings) -> None:  # noqa: ANN001
    node = Database.from_settings(settings)
    try:
        await maintenance.run_once(node, settings)
    finally:
        await node.dispose()


def test_a_node_killed_mid_job_blocks_no_one(settings, logs, monkeypatch):
    gate = Gate()
    gate.calls = 1  # no holding: every call returns at once
    monkeypatch.setattr(idempotency, "purge_expired", gate)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, settings.database_url],  # noqa: S603
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        said = ""
        while said not in ("holding", "refused", None):
            said = holder.stdout.readline().strip() or None  # past its own log lines
        assert said == "holding"
        asyncio.run(_run_once(settings))
        assert gate.calls == 1, "ran while another node held the job"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        # The server ends the dead node's session (and its lock) as soon as it sees
        # the connection closed; then the job runs here.
        deadline = time.monotonic() + 30
        while gate.calls == 1 and time.monotonic() < deadline:
            asyncio.run(_run_once(settings))
            if gate.calls == 1:
                time.sleep(0.1)
        assert gate.calls == 2, "a node killed with kill -9 still blocks the job"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
