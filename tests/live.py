"""A real `huimin serve` on a loopback port, for tests that need a process (a browser,
several workers). It serves the database it is given (the `fresh_db_url` fixture's),
migrated at start, and is always stopped: its process group is ended when the block
exits, whatever happened."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import TEST_JWT_MAX_TTL_MINUTES

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def huimin_serve(workdir: Path, database_url: str, *, workers: int = 1,
                 env: dict[str, str] | None = None, start_timeout: float = 60.0) -> Iterator[str]:
    """Yield the base URL of a running server; stop it (and its workers) afterwards."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    child_env.update({
        "DATABASE_URL": database_url,
        "HUIMIN_ENV": "test",
        "HUIMIN_MAINTENANCE_INTERVAL_SECONDS": "0",
        "HUIMIN_LOG_LEVEL": "WARNING",
        # The tests' citizen tokens live a year either way of a moved clock.
        "HUIMIN_JWT_MAX_TTL_MINUTES": str(TEST_JWT_MAX_TTL_MINUTES),
        **(env or {}),
    })
    child_env.pop("REDIS_URL", None)
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "api.cli", "serve", "--host", HOST, "--port", str(port),
         "--workers", str(workers)],
        cwd=workdir, env=child_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        wait_ready(proc, base, start_timeout, workdir / "serve.log")
        yield base
    finally:
        stop(proc)
        log.close()


def wait_ready(proc: subprocess.Popen, base: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"huimin serve exited {proc.returncode}:\n"
                               f"{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"huimin serve not ready after {timeout}s:\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it and its workers), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
