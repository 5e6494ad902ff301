"""What lending a connection for one statement costs: asyncpg's own pool against
huimin's `LonePool` (core/db.py), in one process, alternately.

32 tasks each send `SELECT pg_backend_pid()` on a connection borrowed for that
statement alone, as 32 concurrent requests do on the hot lane; the figure is this
process's CPU per statement (lease, statement and return), and statements per
second. It reads nothing and writes nothing: it uses the `postgres` database of
each PostgreSQL server asked for (`--db embedded|machine|both`, default both:
the PostgreSQL 18 of core/embedded.py, started in var/bench/embedded/pg and stopped
at the end, and the server named by `--pg`).

    .venv/bin/python bench/lone_pool.py [--db embedded|machine|both] [--rounds 2]
                                        [--tasks 32] [--per-task 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import asyncpg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import add_server_options, pg_server, server_kinds  # noqa: E402 - bench/ on sys.path

from core.db import LonePool  # noqa: E402


async def _measure(kind: str, url: str, tasks: int, per_task: int) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    if kind == "asyncpg.Pool":
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=20)

        async def one() -> None:
            async with pool.acquire(timeout=30) as conn:
                await conn.fetchrow("SELECT pg_backend_pid()")
    else:
        pool = LonePool(url, 20, None)

        async def one() -> None:
            conn = await pool.take()
            try:
                await conn.fetchrow("SELECT pg_backend_pid()")
            finally:
                pool.give(conn)

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    await asyncio.gather(*(worker(50) for _ in range(tasks)))  # connections opened
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(per_task) for _ in range(tasks)))
    n = tasks * per_task
    print(f"{kind:13s} {(time.process_time() - cpu) / n * 1e6:6.0f} us CPU per statement, "
          f"{n / (time.perf_counter() - wall):7.0f} statements/s", flush=True)
    await pool.close()


async def _main(args: argparse.Namespace, url: str) -> None:
    for _ in range(args.rounds):
        for kind in ("asyncpg.Pool", "LonePool"):
            await _measure(kind, url, args.tasks, args.per_task)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_options(parser)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--per-task", type=int, default=300)
    args = parser.parse_args()
    for kind in server_kinds(args.db):
        with pg_server(kind, args.pg) as server:
            print(f"PostgreSQL server {server.describe()}", flush=True)
            uvloop.run(_main(args, server.url("postgres", "asyncpg")))
