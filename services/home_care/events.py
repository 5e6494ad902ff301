"""The events of home-care visits: `home_care.booking.booked`, `.cancelled` (with
`reason` and `cancelled_by`), `.completed` (with `verification` and `exceptions`;
also when the worker completes a visit never checked out), and `.reminder` the day
before (at `HUIMIN_REMINDER_HOUR`, written by the worker from the stored start, once).

Visit verification's events are located at the provider's division as well
(`LOCATED`), so the bureau that decides them hears of them through its subscription:
`.missed_check_in` (written once by the worker), `.correction_submitted`,
`.corrected` and `.rejected`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ, utc
from core.settings import Settings
from schemas.home_care import BookingStatus, HomeCareBooking
from services import outbox


def _china(at: dt.datetime | None) -> str | None:
    return utc(at).astimezone(CHINA_TZ).isoformat() if at is not None else None


def _booking(b: Any) -> dict[str, Any]:
    data = {"booking_id": b.id, "provider_id": b.provider_id, "service_code": b.service_code,
            "status": str(b.status), "date": b.visit_date.isoformat(),
            "starts_at": _china(b.starts_at), "ends_at": _china(b.ends_at),
            "price_fen": b.price_fen,
            "elder": {"name": b.elder_name, "id_number_masked": b.elder_id_masked}}
    if str(b.status) == BookingStatus.cancelled:
        data["reason"] = b.cancel_reason
        data["cancelled_by"] = b.cancelled_by
    if str(b.status) == BookingStatus.completed:
        data["verification"] = b.verification
        data["exceptions"] = list(b.exceptions or ())
    return data


BOOKING = outbox.Events(
    "home_care.booking", object_type="home_care_booking", data=_booking,
    subject=lambda b: b.citizen_subject, org=lambda b: b.provider_id)


@dataclass(frozen=True)
class Located:
    """A visit with its provider's division code (the bureau's jurisdiction)."""

    booking: Any
    division_code: str | None

    @property
    def id(self) -> str:
        return self.booking.id


LOCATED = outbox.Events(
    "home_care.booking", object_type="home_care_booking",
    data=lambda v: _booking(v.booking), subject=lambda v: v.booking.citizen_subject,
    org=lambda v: v.booking.provider_id, division=lambda v: v.division_code)


async def emit_cancelled(session: AsyncSession, booking_ids: list[str]) -> None:
    """`cancelled` for visits cancelled in bulk (a caregiver's hours or leave)."""
    if not booking_ids:
        return
    rows = (await session.execute(
        select(HomeCareBooking).where(HomeCareBooking.id.in_(booking_ids))
        .order_by(HomeCareBooking.id).execution_options(populate_existing=True))).scalars()
    for b in rows:
        await BOOKING.emit(session, "cancelled", b)


async def scheduled(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    """Visit reminders the day before, at the settings' hour; each once."""
    local = now.astimezone(CHINA_TZ)
    last_day = local.date() + dt.timedelta(days=1 if local.hour >= settings.reminder_hour else 0)
    due = (await session.execute(
        select(HomeCareBooking)
        .where(HomeCareBooking.status == BookingStatus.booked,
               HomeCareBooking.visit_date <= last_day, HomeCareBooking.starts_at > now,
               outbox.scheduled_once("home_care.booking.reminder", HomeCareBooking.id))
        .order_by(HomeCareBooking.id))).scalars().all()
    written = 0
    for b in due:
        written += await BOOKING.emit(session, "reminder", b, once=True)
    return written
