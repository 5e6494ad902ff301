"""Several nodes with real processes (API.md "Running it": Several nodes, Behind a
reverse proxy): two `huimin serve` nodes and two `huimin worker` processes on one
scratch database, a private Redis, nginx in front with deploy/nginx/huimin.conf, one
node killed with SIGKILL under booking load. What is run and checked: cluster.py."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import cluster

# The whole run, start-up to teardown, must end within this (it takes about a minute).
HARD_TIMEOUT_SECONDS = 240

needs = [(name, shutil.which(name) or (name == "nginx" and Path("/usr/sbin/nginx").exists()))
         for name in ("nginx", "redis-server", "openssl")]


@contextlib.contextmanager
def hard_timeout(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"the multi-node test ran past {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(any(not found for _, found in needs),
                    reason="needs nginx, redis-server and openssl (.ci/run installs them)")
def test_two_nodes_behind_nginx_with_one_killed_under_load(server_url: str,
                                                           tmp_path: Path) -> None:
    with hard_timeout(HARD_TIMEOUT_SECONDS):
        figures, failures = cluster.run(server_url, tmp_path)
    print("\n" + "\n".join(figures.lines()))
    assert not failures, "\n".join(failures)
