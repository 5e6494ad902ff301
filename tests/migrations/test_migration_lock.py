"""Several nodes starting at once migrate once (API.md "Running it"): four
`alembic upgrade head` processes (what `huimin serve`/`migrate`/`worker`/`demo` run,
and what an operator runs by hand) started together on an empty database all
succeed, and each migration ran in exactly one of them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.cli import ROOT, alembic_config

NODES = 4


async def _versions(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text("SELECT version_num FROM alembic_version")))
                        .scalars())
    finally:
        await engine.dispose()


def test_nodes_starting_together_migrate_once(fresh_db_url, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUIMIN_")}
    env["DATABASE_URL"] = fresh_db_url
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"),
               "upgrade", "head"]
    logs = [tmp_path / f"node{i}.log" for i in range(NODES)]
    procs = [subprocess.Popen(alembic, cwd=ROOT, env=env, stdout=log.open("wb"),  # noqa: S603
                              stderr=subprocess.STDOUT) for log in logs]
    codes = [p.wait(timeout=300) for p in procs]
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0] * NODES, "\n----\n".join(outputs)

    script = ScriptDirectory.from_config(alembic_config(fresh_db_url))
    revisions = [rev.revision for rev in script.walk_revisions()]
    for revision in revisions:
        ran = sum(f"-> {revision}," in out for out in outputs)
        assert ran == 1, f"{revision} ran in {ran} processes:\n" + "\n----\n".join(outputs)
    assert asyncio.run(_versions(fresh_db_url)) == [script.get_current_head()]
