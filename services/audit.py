"""The audit trail: `record` adds a row in the caller's transaction, so the
write and its audit row commit or vanish together. There is deliberately no
update or delete here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages, prepared
from core.clock import clock
from core.context import request_id_var
from core.ids import new_id
from core.prepared import Sql
from core.principal import Principal
from schemas.audit import AuditEvent
from schemas.common import Page

# Prepared once per connection (core.prepared): every write audits.
COLUMNS = ("id, at, actor_kind, actor_id, actor_role, org_id, action, object_type, object_id, "
           "outcome, request_id")
_INSERT = Sql(f"INSERT INTO audit_event ({COLUMNS}) "  # noqa: S608 - constant text
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")


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
) -> None:
    db = await prepared.driver(session)
    await db.execute(_INSERT, *row(principal, action, object_type, object_id,
                                   at=db.ts(clock.now()), outcome=outcome, org_id=org_id))


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
    system job that writes many objects in one transaction (a lottery's draw)."""
    if rows:
        db = await prepared.driver(session)
        await db.executemany(_INSERT, rows)
