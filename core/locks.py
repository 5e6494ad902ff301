"""PostgreSQL advisory locks, named: one 64-bit key per name, the same in every
process and on every machine (a hash of the name, not Python's salted `hash`).

- `MIGRATIONS`: held by the migration transaction (migrations/env.py), so several
  nodes starting at once migrate once: the first upgrades, the others wait and
  then find the database at head.
- `job(db, name)`: a timed job's run on one node at a time. The lock is a
  transaction lock, taken without waiting by a guard transaction of its own held
  for the whole run (the jobs commit in batches, so their own transactions would
  drop it half way): the node that gets it runs the job, the others skip that run.
  It ends with the guard transaction, or with its connection when a node dies
  (kill -9), so a dead node blocks nobody. A run logs `timed_job` when it starts and
  `timed_job_done` (with `duration_ms`) before its lock is let go.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database
from core.logging import get_logger

log = get_logger("huimin.jobs")

MIGRATIONS = "huimin:migrations"


def key_of(name: str) -> int:
    """The advisory-lock key of `name`: a signed 64-bit integer (PostgreSQL's bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


def node() -> str:
    """This process, as logs name it: `hostname:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def try_job(session: AsyncSession, job: str) -> bool:
    """Take timed job `job`'s lock in `session`'s transaction without waiting: True
    (and a `timed_job` event logged) when this node runs it now; False when another
    node is running it (nothing logged at info level)."""
    got = bool(await session.scalar(select(func.pg_try_advisory_xact_lock(key_of(job)))))
    if got:
        log.info("timed_job", job=job, node=node())
    else:
        log.debug("timed_job_skipped", job=job, node=node())
    return got


@asynccontextmanager
async def job(db: Database, name: str) -> AsyncIterator[bool]:
    """`async with job(db, name) as mine:` run timed job `name` when `mine`; its lock
    is held until the block ends."""
    async with db.session() as guard:
        mine = False
        started = time.monotonic()
        try:
            mine = await try_job(guard, name)
            yield mine
        finally:
            if mine:
                # Logged while the lock is still held: a run on another node starts
                # after this line (the multi-node test checks that runs never overlap).
                log.info("timed_job_done", job=name, node=node(),
                         duration_ms=round((time.monotonic() - started) * 1000, 1))
            await guard.rollback()
