"""Several nodes with real processes (API.md "Running it": Several nodes, Behind a
reverse proxy): two `huimin serve` nodes and two `huimin worker` processes on one
scratch database, a private Redis, nginx in front with deploy/nginx/huimin.conf, one
node killed with SIGKILL under booking load. What is run and checked: cluster.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
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


@pytest.mark.cluster
def test_two_nodes_behind_nginx_with_one_killed_under_load(
        server_url: str, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    missing = [name for name, found in needs if not found]
    if missing:
        # .ci/run installs them and sets CLUSTER_TEST_REQUIRED: there it fails instead.
        message = f"needs {', '.join(missing)} (apt-get install -y nginx redis-server openssl)"
        if os.environ.get("CLUSTER_TEST_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    with hard_timeout(HARD_TIMEOUT_SECONDS):
        figures, failures = cluster.run(server_url, tmp_path)
    # The figures: on stdout (pytest -s, or shown on failure) and in the junit report.
    print("\n" + "\n".join(figures.lines()))
    for n, line in enumerate(figures.lines()):
        record_property(f"cluster_figure_{n:02d}", line)
    assert not failures, "\n".join(failures)
