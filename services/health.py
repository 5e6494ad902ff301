"""Readiness: can the database take a write now?

`SELECT 1` answers while the disk is full, the file is read-only or another
connection holds the write lock for minutes. `/readyz` instead writes (and
commits) its heartbeat row within `HUIMIN_READY_WRITE_TIMEOUT_MS`: on PostgreSQL
with `lock_timeout` and `statement_timeout` set for the transaction; on SQLite on
a connection of its own whose busy timeout is the threshold (the process's one
write connection is left to requests, and a wait of its own can be abandoned
cleanly: it is never shared).
"""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.clock import clock
from core.db import Database
from core.prepared import SqliteDriver

_UPSERT = ("INSERT INTO service_heartbeat (name, at) VALUES (:name, :at) "
           "ON CONFLICT (name) DO UPDATE SET at = excluded.at")
PROBE = "readyz"


async def check_writable(db: Database, timeout_ms: int) -> None:
    """Write the heartbeat within `timeout_ms` or raise (any exception: not ready)."""
    if db.is_sqlite:
        path = make_url(str(db.write_engine.url)).database
        await asyncio.wait_for(asyncio.to_thread(_sqlite_heartbeat, path, timeout_ms),
                               timeout_ms / 1000 + 1)
        return
    async with asyncio.timeout(timeout_ms / 1000 + 1):  # the connection itself included
        async with db.write_engine.connect() as conn, conn.begin():
            await conn.execute(text(f"SET LOCAL lock_timeout = {int(timeout_ms)}"))
            await conn.execute(text(f"SET LOCAL statement_timeout = {2 * int(timeout_ms)}"))
            await conn.execute(text(_UPSERT), {"name": PROBE, "at": clock.now()})


def _sqlite_heartbeat(path: str | None, timeout_ms: int) -> None:
    if not path or path == ":memory:":
        return  # an in-memory database has no file to fill or lock out
    con = sqlite3.connect(path, timeout=timeout_ms / 1000, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(_UPSERT, {"name": PROBE, "at": SqliteDriver.ts(clock.now())})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
