"""The events of bed applications: `bed_application.offered`, `.offer_expiring`
(`HUIMIN_OFFER_EXPIRING_HOURS` before the offer lapses) and `.expired`. The last
two are written by the worker from the stored `offer_expires_at`, once each; an
offer settled as expired by the pool writes `expired` too, still only once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ, utc
from core.settings import Settings
from schemas.beds import ApplicationStatus, BedApplication
from services import outbox


def _application(a: Any) -> dict[str, Any]:
    expires = a.offer_expires_at
    return {"application_id": a.id, "institution_id": a.institution_id,
            "category": a.category, "status": str(a.status), "bed_id": a.bed_id,
            "offer_expires_at": utc(expires).astimezone(CHINA_TZ).isoformat()
            if expires is not None else None,
            "elder": {"name": a.elder_name, "id_number_masked": a.elder_id_masked}}


APPLICATION = outbox.Events(
    "bed_application", object_type="bed_application", data=_application,
    subject=lambda a: a.citizen_subject, org=lambda a: a.institution_id)


async def scheduled(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    written = 0
    soon = now + dt.timedelta(hours=settings.offer_expiring_hours)
    offered = BedApplication.status == ApplicationStatus.offered
    for name, window in (
            ("offer_expiring", (BedApplication.offer_expires_at > now,
                                BedApplication.offer_expires_at <= soon)),
            ("expired", (BedApplication.offer_expires_at <= now,))):
        due = (await session.execute(
            select(BedApplication)
            .where(offered, *window,
                   outbox.scheduled_once(f"bed_application.{name}", BedApplication.id))
            .order_by(BedApplication.id))).scalars().all()
        for a in due:
            extra = {"status": ApplicationStatus.expired.value} if name == "expired" else None
            written += await APPLICATION.emit(session, name, a, once=True, extra=extra)
    return written
