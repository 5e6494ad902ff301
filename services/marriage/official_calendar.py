"""China's official calendar as the public reads it, and the admin's loading of a
year's State Council notice (API.md "Official calendar").

The notices live in `official_calendar_notice`; `services.marriage.calendar` holds
this process's copy, which every working-day question reads. `refresh` brings the
copy up to date when it is older than `official_calendar_refresh_seconds` (a notice
loaded through another process reaches this one within that time); a notice loaded
through this process is read again by the next request that asks.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import clock
from core.errors import ValidationFailed
from core.principal import Principal
from core.settings import Settings
from core.writes import insert_if_absent
from schemas.official_calendar import (
    CalendarSource,
    OfficialCalendarIn,
    OfficialCalendarNotice,
    OfficialCalendarPublic,
)
from services import audit
from services.marriage import calendar

_read_at: float | None = None  # time.monotonic() of the last read, None: read next time
_max_age = Settings.model_fields["official_calendar_refresh_seconds"].default


def configure(settings: Settings) -> None:
    """How long this process trusts its copy (the app sets it at start)."""
    global _max_age
    _max_age = settings.official_calendar_refresh_seconds
    forget()


def forget() -> None:
    """Read the notices again at the next `refresh`."""
    global _read_at
    _read_at = None


def _to_year(row: OfficialCalendarNotice) -> calendar.YearCalendar:
    return calendar.YearCalendar(
        row.year, frozenset(dt.date.fromisoformat(d) for d in row.holidays),
        frozenset(dt.date.fromisoformat(d) for d in row.working_days),
        CalendarSource.notice.value, row.notice, row.loaded_at)


async def refresh(session: AsyncSession, *, force: bool = False) -> None:
    global _read_at
    now = time.monotonic()
    if not force and _read_at is not None and now - _read_at < _max_age:
        return
    rows = (await session.execute(select(OfficialCalendarNotice))).scalars().all()
    calendar.set_notices(_to_year(r) for r in rows)
    _read_at = now


def _public(cal: calendar.YearCalendar) -> OfficialCalendarPublic:
    return OfficialCalendarPublic(
        year=cal.year, holidays=sorted(cal.holidays), working_days=sorted(cal.working_days),
        source=CalendarSource(cal.source), notice=cal.notice, loaded_at=cal.loaded_at)


async def get(session: AsyncSession, year: int) -> OfficialCalendarPublic:
    await refresh(session, force=True)
    return _public(calendar.year_calendar(year))


def _check_year(year: int, body: OfficialCalendarIn) -> None:
    errors = []
    for field in ("holidays", "working_days"):
        for n, day in enumerate(getattr(body, field)):
            if day.year != year:
                errors.append({"loc": ["body", field, n], "type": "value_error",
                               "msg": (f"{day.isoformat()} 不在 {year} 年内",
                                       f"{day.isoformat()} is not in {year}")})
    for n, day in enumerate(body.working_days):
        if day.isoweekday() < 6:
            errors.append({"loc": ["body", "working_days", n], "type": "value_error",
                           "msg": (f"{day.isoformat()} 不是周六或周日（调休上班日应为周末）",
                                   f"{day.isoformat()} is not a Saturday or Sunday "
                                   "(an adjusted working day is a weekend day)")})
    if errors:
        err = ValidationFailed()
        err.extra["errors"] = errors
        raise err


async def load_notice(session: AsyncSession, principal: Principal, year: int,
                      body: OfficialCalendarIn) -> OfficialCalendarPublic:
    """The admin loads (or replaces) the year's notice; it wins over any library."""
    _check_year(year, body)
    values = {"holidays": [d.isoformat() for d in body.holidays],
              "working_days": [d.isoformat() for d in body.working_days],
              "notice": body.notice, "loaded_at": clock.now()}
    if not await insert_if_absent(session, OfficialCalendarNotice, {"year": year, **values},
                                  conflict=["year"]):
        await session.execute(
            update(OfficialCalendarNotice).where(OfficialCalendarNotice.year == year)
            .values(**values).execution_options(synchronize_session=False))
    await audit.record(session, principal, "official_calendar.load", "official_calendar",
                       str(year))
    # This process reads the notices again at once (this request included); the
    # others within `official_calendar_refresh_seconds`.
    await refresh(session, force=True)
    forget()
    return _public(calendar.year_calendar(year))
