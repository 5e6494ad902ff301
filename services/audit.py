"""The audit trail: `record` adds a row in the caller's transaction, so the
write and its audit row commit or vanish together. There is deliberately no
update or delete here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core import pages
from core.clock import clock
from core.context import request_id_var
from core.ids import new_id
from core.principal import Principal
from schemas.audit import AuditEvent
from schemas.common import Page

_INSERT = insert(AuditEvent.__table__)


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
    # A Core INSERT built once, on the transaction's connection: no object to
    # track, no ORM flush, one statement.
    conn = await session.connection()
    await conn.execute(_INSERT, dict(
        id=new_id("aud"),
        at=clock.now(),
        actor_kind=principal.kind if principal else "system",
        actor_id=principal.subject if principal else "system",
        actor_role=principal.role if principal else None,
        org_id=org_id if org_id is not None else (principal.org_id if principal else None),
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome[:32],
        request_id=request_id_var.get(),
    ))


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
