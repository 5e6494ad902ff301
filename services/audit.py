"""The audit trail: `record` adds a row in the caller's transaction, so the
write and its audit row commit or vanish together. There is deliberately no
update or delete here.

Every row is a link of a hash chain (`core.auditchain`). A new row is pending (a
negative number: no write waits on the chain's head) until `link` makes it the
next link, in batches, in the database (the service's role could not forge a link
if it tried): every half second in each server process (`link_loop`), and before
the trail is listed or verified. `verify` walks the chain and names the first
broken link."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import auditchain, pages, prepared
from core.clock import clock
from core.context import client_addr_var, delegation_var, request_id_var
from core.ids import new_id
from core.logging import get_logger
from core.prepared import Sql
from core.principal import Principal
from schemas.audit import CLIENT_ADDR_MAX, AuditChainHead, AuditEvent, AuditEventPublic
from schemas.common import Page
from schemas.organisation import ApiKey

log = get_logger("huimin.audit")

COLUMNS = ("id, at, actor_kind, actor_id, actor_role, org_id, action, object_type, object_id, "
           "outcome, request_id, client_addr, delegation_id")
_NAMES = tuple(c.strip() for c in COLUMNS.split(","))
# Every audit row goes in through `record_writes` (services/records.sql), the
# function the one-statement writes call for theirs. Prepared once per connection.
_RECORD = Sql("SELECT record_writes($1, NULL)")


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(f"not JSON: {type(v).__name__}")


def as_json(rows: Iterable[tuple]) -> str:
    """Audit rows (`row()`) as `record_writes` takes them: a JSON array of objects."""
    return json.dumps([dict(zip(_NAMES, r, strict=True)) for r in rows],
                      default=_json_value, ensure_ascii=False, separators=(",", ":"))


# What an audit row keeps of its object's id: a refused write is audited with the id
# its path named, which may be anything a client sent (an id of 5000 characters made
# the refusal's own audit row a 500, "value too long"); no real id is this long, so
# the prefix kept still names no other object.
OBJECT_ID_MAX = AuditEvent.__table__.c.object_id.type.length


def row(principal: Principal | None, action: str, object_type: str, object_id: str | None,
        *, at: object, outcome: str = "success", org_id: str | None = None) -> tuple:
    """The values of one audit row, in `_INSERT`'s order, for statements that write
    it together with other rows."""
    if object_id is not None:
        object_id = object_id[:OBJECT_ID_MAX]
    return (new_id("aud"), at,
            principal.kind if principal else "system",
            principal.subject if principal else "system",
            principal.role if principal else None,
            org_id if org_id is not None else (principal.org_id if principal else None),
            action, object_type, object_id, outcome[:32], request_id_var.get(),
            _client_addr(), delegation_var.get() if principal and principal.is_citizen else None)


def _client_addr() -> str | None:
    """The request's client address (`core.context`), as long as the column takes."""
    addr = client_addr_var.get()
    return addr[:CLIENT_ADDR_MAX] if addr else None


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
    (a refused write's, after the request's rolled back): a single statement
    committed with it."""
    await insert(session, row(principal, action, object_type, object_id,
                              at=clock.now(), outcome=outcome, org_id=org_id),
                 alone=alone)


async def insert(session: AsyncSession, values: tuple, *, alone: bool = False) -> None:
    """The audit row `values` (a `row()`), as `record` writes it."""
    db = await prepared.driver(session)
    if alone:
        await db.execute_alone(_RECORD, as_json([values]))
    else:
        await db.execute(_RECORD, as_json([values]))


_LINK = Sql("SELECT audit_link($1)")
LINK_BATCH = 5000


async def link(session: AsyncSession) -> int:
    """Link every pending row (in batches, each its own statement); how many. 0 at
    once while another process is linking."""
    db = await prepared.driver(session)
    total = 0
    while True:
        row = await db.fetchrow_alone(_LINK, LINK_BATCH)
        total += row[0]
        if row[0] < LINK_BATCH:
            return total


async def link_loop(db: Any, interval: float = 0.5) -> None:
    """Link pending rows every `interval` seconds until cancelled."""
    while True:
        try:
            async with db.session() as session:
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
    pending: int = 0  # rows written but not linked yet


async def verify(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Walk the chain from its first row in `seq` order, a batch at a time: each
    row must be the next number, name the previous row's hash, and hash to its own
    `hash`; the last must be the head. The first failure is reported: a rewritten
    row fails its own hash, a deleted one leaves a gap in `seq` (and the next row's
    `prev_hash` names a hash no row has), an inserted one fails its hash, breaks the
    numbering, or runs past the head."""
    # One snapshot for the head and every batch, so rows appended meanwhile by a
    # running service are neither half seen nor taken for rows past the head.
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
) -> Page[AuditEventPublic]:
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
    page = await NEWEST_FIRST.page(session, stmt, limit=limit, cursor=cursor)
    holders = await _key_holders(session, {e.actor_id for e in page.items
                                           if e.actor_kind == "staff"})
    return page.map(lambda e: AuditEventPublic(
        **e.model_dump(), actor_name=holders.get(e.actor_id, (None, None))[0],
        actor_caregiver_id=holders.get(e.actor_id, (None, None))[1]))


async def _key_holders(session: AsyncSession,
                       key_ids: set[str]) -> dict[str, tuple[str, str | None]]:
    """Who holds each key: its name and, for a caregiver's key, its caregiver. A key's
    row is never deleted and neither of these ever changes, so a staff row's
    `actor_id` names them for good."""
    if not key_ids:
        return {}
    rows = await session.execute(select(ApiKey.id, ApiKey.name, ApiKey.caregiver_id)
                                 .where(ApiKey.id.in_(key_ids)))
    return {key_id: (name, caregiver_id) for key_id, name, caregiver_id in rows}
