"""Production: `huimin serve --workers N` (N > 1) without `REDIS_URL` refuses to
start (exit 2, nothing migrated or served): each worker process would count rate
limits alone, so every caller would get its budget once per worker."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A database nobody listens on: whatever gets past the check fails on it at once.
NOWHERE = "postgresql+asyncpg://huimin@127.0.0.1:1/none"


def _serve(workers: int, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUIMIN_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HUIMIN_ENV="production", DATABASE_URL=NOWHERE, HUIMIN_LOG_LEVEL="WARNING",
               HUIMIN_JWT_SECRET="p" * 40,
               HUIMIN_ID_ENCRYPTION_KEY=base64.b64encode(b"k" * 32).decode(),
               HUIMIN_BLIND_INDEX_KEY=base64.b64encode(b"b" * 32).decode(), **extra)
    return subprocess.run([sys.executable, "-m", "api.cli", "serve", "--port", "1",  # noqa: S603
                           "--workers", str(workers)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_production_refuses_several_workers_without_redis():
    done = _serve(2)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "needs REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr  # refused before touching the database


def test_one_worker_or_redis_passes_the_check():
    for done in (_serve(1), _serve(4, REDIS_URL="redis://127.0.0.1:6379/0")):
        # Past the check, it goes on to migrate: the database is nowhere, so it fails there.
        assert done.returncode not in (0, 2), done.stdout + done.stderr
        assert "needs REDIS_URL" not in done.stderr
