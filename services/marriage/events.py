"""The events of marriage registration (API.md "Notifications and webhooks"), and
the scheduled ones the worker writes from stored dates.

`marriage.appointment.booked` / `.cancelled` (with `reason` and `cancelled_by`,
read from the appointment as the cancellation recorded them) / `.reminder` (the
day before, at `HUIMIN_REMINDER_HOUR`); `marriage.divorce_case.cooling_off_ending`
and `.confirmation_deadline_nearing` (`HUIMIN_DIVORCE_NOTICE_DAYS` before).

`marriage.lottery.drawn` (the office's: the date, entries, seats, winners and the
seed, now public) is written by the draw itself (`lottery.drawn`), in its
transaction; it names no person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import CHINA_TZ, utc
from core.settings import Settings
from schemas.marriage import AppointmentStatus, MarriageAppointment, MarriageDivorceCase
from services import outbox


def china(at: dt.datetime | None) -> str | None:
    return utc(at).astimezone(CHINA_TZ).isoformat() if at is not None else None


def _cancelled_by(a: Any) -> str | None:
    """Who cancelled: the appointment's own record of it where it keeps one, else
    what the reason says (a citizen's cancellation, or the office's calendar)."""
    recorded = getattr(a, "cancelled_by", None)
    if recorded:
        return str(recorded)
    if a.cancel_reason is None:
        return None
    return "citizen" if str(a.cancel_reason) == "citizen" else "office"


def _appointment(a: Any) -> dict[str, Any]:
    data = {"appointment_id": a.id, "office_id": a.office_id, "kind": str(a.kind),
            "status": str(a.status), "date": a.session_date.isoformat(),
            "starts_at": china(a.starts_at), "ends_at": china(a.ends_at)}
    if str(a.status) == AppointmentStatus.cancelled:
        data["reason"] = str(a.cancel_reason) if a.cancel_reason is not None else None
        data["cancelled_by"] = _cancelled_by(a)
    return data


APPOINTMENT = outbox.Events(
    "marriage.appointment", object_type="marriage_appointment", data=_appointment,
    subject=lambda a: a.owner_subject, org=lambda a: a.office_id)


def _lottery(x: Any) -> dict[str, Any]:
    return {"lottery_id": x.id, "office_id": x.office_id, "date": x.lottery_date.isoformat(),
            "status": str(x.status), "entries": x.entries, "seats": x.seats,
            "seed_sha256": x.seed_sha256, "seed": x.seed_hex, "drawn_at": china(x.drawn_at)}


LOTTERY = outbox.Events(
    "marriage.lottery", object_type="marriage_lottery", data=_lottery,
    org=lambda x: x.office_id)


def _case(settings: Settings) -> outbox.Events:
    def data(c: MarriageDivorceCase) -> dict[str, Any]:
        cooling = c.received_date + dt.timedelta(days=settings.marriage_cooling_off_days)
        deadline = cooling + dt.timedelta(days=settings.marriage_confirmation_days)
        return {"divorce_case_id": c.id, "office_id": c.office_id,
                "received_date": c.received_date.isoformat(),
                "cooling_off_ends": cooling.isoformat(),
                "confirmation_deadline": deadline.isoformat(),
                "parties": [{"name": p.get("name"), "id_number_masked": p.get("id_number_masked")}
                            for p in c.parties]}
    return outbox.Events("marriage.divorce_case", object_type="marriage_divorce_case",
                         data=data, subject=lambda c: c.owner_subject,
                         org=lambda c: c.office_id)


def reminder_window(settings: Settings, now: dt.datetime) -> dt.date:
    """The last session date whose day-before reminder is due at `now`."""
    local = now.astimezone(CHINA_TZ)
    return local.date() + dt.timedelta(days=1 if local.hour >= settings.reminder_hour else 0)


async def scheduled(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    """Write the marriage events that are due by the stored dates, each once."""
    written = 0
    reminder = outbox.scheduled_once("marriage.appointment.reminder",
                                     MarriageAppointment.id)
    due = (await session.execute(
        select(MarriageAppointment)
        .where(MarriageAppointment.status == AppointmentStatus.booked,
               MarriageAppointment.session_date <= reminder_window(settings, now),
               MarriageAppointment.starts_at > now, reminder)
        .order_by(MarriageAppointment.id))).scalars().all()
    for a in due:
        written += await APPOINTMENT.emit(session, "reminder", a, once=True)

    case_events = _case(settings)
    today = now.astimezone(CHINA_TZ).date()
    notice = dt.timedelta(days=settings.divorce_notice_days)
    cooling = dt.timedelta(days=settings.marriage_cooling_off_days)
    confirm = cooling + dt.timedelta(days=settings.marriage_confirmation_days)
    open_case = (MarriageDivorceCase.withdrawn_at.is_(None),
                 MarriageDivorceCase.registered_at.is_(None))
    for name, span in (("cooling_off_ending", cooling),
                       ("confirmation_deadline_nearing", confirm)):
        # The date (received + span) lies within [today, today + notice].
        rows = (await session.execute(
            select(MarriageDivorceCase)
            .where(*open_case, MarriageDivorceCase.received_date >= today - span,
                   MarriageDivorceCase.received_date <= today - span + notice,
                   outbox.scheduled_once(f"marriage.divorce_case.{name}",
                                         MarriageDivorceCase.id))
            .order_by(MarriageDivorceCase.id))).scalars().all()
        for c in rows:
            written += await case_events.emit(session, name, c, once=True)
    return written
