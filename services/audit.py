"""The audit trail: `record` adds a row in the caller's transaction, so the
write and its audit row commit or vanish together. There is deliberately no
update or delete here.

Every row is a link of a hash chain (`core.auditchain`). On PostgreSQL a new
row is pending (a negative number, migration 0014: no write waits on the chain's
head) until `link` makes it the next link, in batches, in the database (the
service's role could not forge a link if it tried): every half second in each
server process (`link_loop`), and before the trail is listed or verified. On
SQLite `append_sqlite` computes the link inside the writer's transaction, which
`BEGIN IMMEDIATE` already makes the only one, and triggers refuse anything but the
next link. `verify` walks the chain and names the first broken link."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import auditchain, pages, prepared
from core.clock import clock
from core.context import request_id_var
from core.ids import new_id
from core.logging import get_logger
from core.prepared import Sql
from core.principal import Principal
from schemas.audit import AuditChainHead, AuditEvent
from schemas.common import Page

log = get_logger("huimin.audit")

# Prepared once per connection (core.prepared): every write audits.
COLUMNS = ("id, at, actor_kind, actor_id, actor_role, org_id, action, object_type, object_id, "
           "outcome, request_id")
_INSERT = Sql(f"INSERT INTO audit_event ({COLUMNS}) "  # noqa: S608 - constant text
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
_NAMES = tuple(c.strip() for c in COLUMNS.split(","))
_HEAD_SQLITE = "SELECT seq, hash FROM audit_chain_head WHERE id = 1"
_INSERT_SQLITE = (f"INSERT INTO audit_event ({COLUMNS}, seq, prev_hash, hash) "  # noqa: S608
                  f"VALUES ({', '.join('?' * 14)})")


def append_sqlite(db: sqlite3.Connection, values: tuple) -> None:
    """Append `values` (a `row()`, `at` in SQLite's text form) as the chain's next
    link, in the writer's transaction (aiosqlite's thread or the loop's, see
    core.prepared): read the head, hash, insert; the trigger moves the head."""
    head = db.execute(_HEAD_SQLITE).fetchone()
    seq, prev = (head[0] + 1, head[1]) if head else (1, auditchain.GENESIS)
    link = dict(zip(_NAMES, values, strict=True))
    link.update(seq=seq, prev_hash=prev, at=datetime.fromisoformat(link["at"]))
    db.execute(_INSERT_SQLITE, (*values, seq, prev, auditchain.row_hash(link))).close()


def row(principal: Principal | None, action: str, object_type: str, object_id: str | None,
        *, at: object, outcome: str = "success", org_id: str | None = None) -> tuple:
    """The values of one audit row, in `_INSERT`'s order (`at` already in the
    driver's form), for statements that write it together with other rows."""
    return (new_id("aud"), at,
            principal.kind if principal else "system",
            principal.subject if principal else "system",
            principal.role if principal else None,
            org_id if org_id is not None else (principal.org_id if principal else None),
            action, object_type, object_id, outcome[:32], request_id_var.get())


async def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: str | None,
    *,
    outcome: str = "success",
    org_id: str | None = None,
    alone: bool = False,
) -> None:
    """One audit row in the caller's transaction; `alone`: a transaction of its own
    (a refused write's, after the request's rolled back), on PostgreSQL a single
    statement committed with it."""
    db = await prepared.driver(session)
    await insert(session, row(principal, action, object_type, object_id,
                              at=db.ts(clock.now()), outcome=outcome, org_id=org_id),
                 alone=alone)


async def insert(session: AsyncSession, values: tuple, *, alone: bool = False) -> None:
    """The audit row `values` (a `row()`), as `record` writes it."""
    db = await prepared.driver(session)
    if db.is_sqlite:
        await db.run(append_sqlite, values)
    elif alone:
        await db.execute_alone(_INSERT, *values)
    else:
        await db.execute(_INSERT, *values)


_LINK = Sql("SELECT audit_link($1)")
LINK_BATCH = 5000


async def link(session: AsyncSession) -> int:
    """PostgreSQL: link every pending row (in batches, each its own statement);
    how many. 0 at once while another process is linking. SQLite: nothing pends."""
    db = await prepared.driver(session)
    if db.is_sqlite:
        return 0
    total = 0
    while True:
        row = await db.fetchrow_alone(_LINK, LINK_BATCH)
        total += row[0]
        if row[0] < LINK_BATCH:
            return total


async def link_loop(db: Any, interval: float = 0.5) -> None:
    """Link pending rows every `interval` seconds until cancelled (PostgreSQL)."""
    while True:
        try:
            async with db.session(write=True) as session:
                await link(session)
                await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("audit_link_failed", error_type=type(exc).__name__)
        await asyncio.sleep(interval)


@dataclass
class ChainReport:
    """What `verify` found: `rows` links checked; `broken_at` the `seq` where the
    chain first fails (None: intact) and `reason`; the head as the table keeps it."""

    rows: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    event_id: str | None = None
    reason: str | None = None
    pending: int = 0  # rows written but not linked yet (PostgreSQL)


async def verify(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Walk the chain from its first row in `seq` order, a batch at a time: each
    row must be the next number, name the previous row's hash, and hash to its own
    `hash`; the last must be the head. The first failure is reported: a rewritten
    row fails its own hash, a deleted one leaves a gap in `seq` (and the next row's
    `prev_hash` names a hash no row has), an inserted one fails its hash, breaks the
    numbering, or runs past the head."""
    # One snapshot for the head and every batch, so rows appended meanwhile by a
    # running service are neither half seen nor taken for rows past the head (SQLite:
    # a read transaction in WAL mode is one snapshot already).
    if session.bind.dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = (await session.execute(select(AuditChainHead).where(AuditChainHead.id == 1))
            ).scalar_one_or_none()
    pending = (await session.execute(select(func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.seq < 0))).scalar_one()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, auditchain.GENESIS)
    expected, prev, checked, last_id = 1, auditchain.GENESIS, 0, None
    while True:
        found = (await session.execute(
            select(AuditEvent).where(AuditEvent.seq >= expected).order_by(AuditEvent.seq)
            .limit(batch))).scalars().all()
        for event in found:
            report = ChainReport(checked, head_seq, head_hash, event.seq, event.id)
            if event.seq != expected:
                report.broken_at = expected
                report.reason = (f"row {expected} is missing: row {event.seq} ({event.id}) "
                                 f"follows row {expected - 1}")
                return report
            if event.prev_hash != prev:
                report.reason = "prev_hash does not name the previous row's hash"
                return report
            if auditchain.row_hash(event.model_dump()) != event.hash:
                report.reason = "the row's contents do not hash to its hash (rewritten)"
                return report
            prev, expected, checked, last_id = event.hash, expected + 1, checked + 1, event.id
        if len(found) < batch:
            break
        session.expunge_all()
    if (checked, prev) != (head_seq, head_hash):
        return ChainReport(checked, head_seq, head_hash, broken_at=min(checked, head_seq) + 1,
                           event_id=last_id,
                           reason=(f"the chain ends at row {checked} but the head says row "
                                   f"{head_seq} (rows cut off the end, or added past it)"
                                   if checked != head_seq else
                                   "the last row's hash is not the head's"),
                           pending=pending)
    return ChainReport(checked, head_seq, head_hash, pending=pending)


NEWEST_FIRST = pages.Keyset(pages.Key(AuditEvent.id, pages.IdOf("aud"), descending=True))


async def list_events(
    session: AsyncSession,
    *,
    actor_id: str | None = None,
    org_id: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[AuditEvent]:
    await link(session)  # what is shown is linked, but rows written this instant
    stmt = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor_id, actor_id), (AuditEvent.org_id, org_id),
        (AuditEvent.action, action), (AuditEvent.object_type, object_type),
        (AuditEvent.object_id, object_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return await NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)


async def record_many(session: AsyncSession, rows: list[tuple]) -> None:
    """Several audit rows at once (each from `row`, `at` in the driver's form), for a
    system job that writes many objects in one transaction (a lottery's draw).

    Each is a link of the chain: on PostgreSQL the trigger numbers and hashes every
    row of the batch; on SQLite they are appended one after another in the writer's
    transaction, each naming the one before."""
    if rows:
        db = await prepared.driver(session)
        if db.is_sqlite:
            await db.run(_append_many_sqlite, rows)
        else:
            await db.executemany(_INSERT, rows)


def _append_many_sqlite(db: sqlite3.Connection, rows: list[tuple]) -> None:
    for values in rows:
        append_sqlite(db, values)
