"""Readiness: can the database take a write now?

`SELECT 1` answers while the disk is full or another connection holds the
heartbeat's lock for minutes. `/readyz` instead writes (and commits) its heartbeat
row within `HUIMIN_READY_WRITE_TIMEOUT_MS`, with `lock_timeout` and
`statement_timeout` set for the transaction.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core.clock import clock
from core.db import Database

_UPSERT = ("INSERT INTO service_heartbeat (name, at) VALUES (:name, :at) "
           "ON CONFLICT (name) DO UPDATE SET at = excluded.at")
PROBE = "readyz"


async def check_writable(db: Database, timeout_ms: int) -> None:
    """Write the heartbeat within `timeout_ms` or raise (any exception: not ready)."""
    async with asyncio.timeout(timeout_ms / 1000 + 1):  # the connection itself included
        async with db.engine.connect() as conn, conn.begin():
            await conn.execute(text(f"SET LOCAL lock_timeout = {int(timeout_ms)}"))
            await conn.execute(text(f"SET LOCAL statement_timeout = {2 * int(timeout_ms)}"))
            await conn.execute(text(_UPSERT), {"name": PROBE, "at": clock.now()})
