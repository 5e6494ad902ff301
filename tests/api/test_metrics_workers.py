"""With several workers `/metrics` is one registry: whichever worker answers the
scrape, the request counter is the sum over all of them."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.live import huimin_serve

COUNTER = re.compile(
    r'^huimin_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$', re.MULTILINE)


def _count(text: str, route: str) -> float:
    total = 0.0
    for m in COUNTER.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        if labels.get("route") == route and labels.get("method") == "GET":
            total += float(m["value"])
    return total


def _wait_for_workers(log: Path, workers: int, timeout: float = 60) -> None:
    """Until every worker has started, or one of them would take all the requests."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Application startup complete") < workers:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_metrics_of_two_workers_count_every_request_whichever_answers(tmp_path, fresh_db_url):
    n = 60
    token = "scrape-" + "t" * 40  # HUIMIN_METRICS_TOKEN: each worker asks for it
    env = {"HUIMIN_LOG_LEVEL": "INFO", "HUIMIN_METRICS_TOKEN": token}
    with huimin_serve(tmp_path, fresh_db_url, workers=2, env=env) as base:
        _wait_for_workers(tmp_path / "serve.log", 2)
        # A connection of its own for each request, so that both workers take some.
        with httpx.Client(base_url=base, headers={"Connection": "close"}, timeout=30) as http, \
                ThreadPoolExecutor(max_workers=8) as pool:
            assert http.get("/metrics").status_code == 401
            http.headers["Authorization"] = f"Bearer {token}"
            statuses = list(pool.map(lambda _: http.get("/readyz").status_code, range(n)))
            assert statuses == [200] * n
            # A worker counts a request just after its last byte went out, so the very
            # first scrape may race the last count: wait (bounded) until one scrape sees
            # all n, then every later scrape, whichever worker answers, must too. With a
            # registry per worker no scrape ever sees n.
            deadline = time.monotonic() + 10
            while _count(http.get("/metrics").text, "/readyz") != n \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            seen = [_count(http.get("/metrics").text, "/readyz") for _ in range(8)]
        pids = set(re.findall(r"Started server process \[(\d+)\]",
                              (tmp_path / "serve.log").read_text()))
        assert len(pids) == 2, pids
    assert seen == [n] * 8
