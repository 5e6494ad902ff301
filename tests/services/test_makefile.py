"""`make run` serves where HOST and PORT say, on the embedded PostgreSQL (no server on
the machine needed), can be run again on the same data, and leaves no database
server running when it ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from core import embedded
from tests.live import free_port, stop, wait_ready

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.prefix) / "bin"
MAKE = shutil.which("make") or "/usr/bin/make"
needs_make = pytest.mark.skipif(not Path(MAKE).exists(), reason="needs make")


@needs_make
def test_make_run_passes_host_and_port_to_the_demo_and_the_server():
    done = subprocess.run(  # noqa: S603
        [MAKE, "-n", "-C", str(ROOT), "-o", f"{BIN}/huimin", "run", f"VENV={sys.prefix}",
         "HOST=127.0.0.2", "PORT=8101"], capture_output=True, text=True, check=True)
    assert "huimin serve --host 127.0.0.2 --port 8101" in done.stdout
    assert "huimin demo --base-url http://127.0.0.2:8101" in done.stdout
    # One worker beside the server (notifications), stopped with it.
    assert "huimin worker &" in done.stdout and "trap" in done.stdout


@needs_make
@pytest.mark.skipif(not (BIN / "huimin").exists(),
                    reason="needs the huimin command in this interpreter's venv")
def test_make_run_twice_on_one_database_serves_on_the_port_asked_for(tmp_path):
    host = "127.0.0.2"  # loopback too, and not make's default: HOST is really used
    port = free_port(host)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUIMIN_") and k != "DATABASE_URL"}
    env.update(HUIMIN_DATA_DIR=str(tmp_path / "data"),
               HUIMIN_MAINTENANCE_INTERVAL_SECONDS="0", HUIMIN_LOG_LEVEL="WARNING")
    for attempt in range(2):
        log = tmp_path / f"make-run-{attempt}.log"
        with log.open("wb") as out:
            # -o: use this venv as it is, never reinstall it from here.
            proc = subprocess.Popen(  # noqa: S603
                [MAKE, "-C", str(ROOT), "-o", f"{BIN}/huimin", "run", f"VENV={sys.prefix}",
                 f"HOST={host}", f"PORT={port}"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_ready(proc, f"http://{host}:{port}", 90, log)
                assert httpx.get(f"http://{host}:{port}/docs").status_code == 200
            finally:
                stop(proc)
        printed = log.read_text()
        assert printed.count("X-API-Key: hm_") == 9, printed
        assert f"http://{host}:{port}/v1/me" in printed
        # The embedded PostgreSQL it started is gone with it.
        server = embedded.EmbeddedPostgres(tmp_path / "data")
        assert not server.is_running()
        assert not _postgres_of(tmp_path / "data" / "pg"), printed


def _postgres_of(data_dir: Path) -> list[int]:
    """Pids of postgres processes whose command line names `data_dir`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(
                proc.info["cmdline"] or ()):
            found.append(proc.pid)
    return found
